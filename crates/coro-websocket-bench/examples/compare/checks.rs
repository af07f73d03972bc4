//! The two checks beside the grid: server memory per connection (`--memory`) and whether the
//! generator is the bottleneck (`--generator-check`). Both run over ws:// only.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use coro_websocket_bench::procfs;

use super::servers::{Peer, Server};
use super::{bench_command, field, median, rate, run_cell, size_label, Cell, Options, Result};
use super::{Sample, CLIENT_CPU};

/// Payload of the one message each connection exchanges in the memory measurement.
const MEMORY_MESSAGE: usize = 16;

/// A per-connection byte count, as KiB and exact bytes.
fn bytes(b: f64) -> String {
    format!("{:.1} KiB ({b:.0} B)", b / 1024.0)
}

/// Raises this process's soft open-files limit to the hard one; children inherit it.
fn raise_fd_limit() {
    let pid = std::process::id().to_string();
    if let Some(hard) = procfs::open_files_hard_limit() {
        let _ = Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
            .status();
    }
}

pub fn memory(bench: &Path, peers: &[Peer], o: &Options) -> Result<()> {
    raise_fd_limit();
    println!(
        "Server memory (VmRSS) per connection at {} connections (ws://), idle and after each \
         exchanged one {MEMORY_MESSAGE} B message:\n",
        o.memory_conns
    );
    println!("| server | idle | after one message | RSS before |");
    println!("|---|---|---|---|");
    for peer in peers {
        let server = Server::start(peer, None)?;
        let out = Command::new("taskset")
            .args(["-c", CLIENT_CPU])
            .arg(bench)
            .args(["bench", "--json", "--url", &server.url])
            .args(["--conns", &o.memory_conns.to_string()])
            .args(["--size", &MEMORY_MESSAGE.to_string()])
            .args(["--hold-pid", &server.pid().to_string()])
            .stdin(Stdio::null())
            .output()?;
        drop(server);
        let json = String::from_utf8_lossy(&out.stdout);
        let (Some(idle), Some(used), Some(before)) = (
            field(&json, "bytes_per_idle_conn"),
            field(&json, "bytes_per_used_conn"),
            field(&json, "rss_before"),
        ) else {
            println!(
                "| {} | failed: {} | | |",
                peer.name,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            continue;
        };
        eprintln!("memory {}: {json}", peer.name);
        println!(
            "| {} | {} | {} | {:.1} MiB |",
            peer.name,
            bytes(idle),
            bytes(used),
            before / 1048576.0
        );
    }
    println!();
    Ok(())
}

/// Runs `cell` on our server with one generator, then with two generator processes sharing the
/// connections, both on the generator's CPU. If the generator were the bottleneck, the server
/// would be below 100% CPU in the first case and the pair would not do better.
pub fn generator_check(bench: &Path, ours: &Peer, o: &Options) -> Result<()> {
    let server = Server::start(ours, None)?;
    println!(
        "Generator check against {} (median of {} runs):\n",
        ours.name, o.reps
    );
    println!("| cell | generators | msg/s | server CPU | generator CPU |");
    println!("|---|---|---|---|---|");
    for cell in [
        Cell {
            size: 16,
            conns: 64,
            inflight: 32,
            tls: false,
        },
        Cell {
            size: 1024,
            conns: 64,
            inflight: 32,
            tls: false,
        },
    ] {
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for _ in 0..o.reps {
            one.push(run_cell(bench, &server, cell, o)?);
            let half = Cell {
                conns: cell.conns / 2,
                ..cell
            };
            let cpu0 = server.cpu_seconds();
            let t0 = Instant::now();
            let children: Vec<Child> = (0..2)
                .map(|_| {
                    bench_command(bench, &server.url, half, o.duration, o.binary)
                        .stdout(Stdio::piped())
                        .spawn()
                })
                .collect::<std::io::Result<_>>()?;
            let mut s = Sample::default();
            for child in children {
                let out = child.wait_with_output()?;
                let json = String::from_utf8_lossy(&out.stdout);
                s.msg_per_s += field(&json, "msg_per_s").unwrap_or(f64::NAN);
                s.client_cpu += field(&json, "client_cpu").unwrap_or(f64::NAN);
            }
            s.server_cpu = (server.cpu_seconds() - cpu0) / t0.elapsed().as_secs_f64();
            two.push(s);
        }
        let label = format!(
            "{} x {} x {}",
            size_label(cell.size),
            cell.conns,
            cell.inflight
        );
        for (n, v) in [("1 process", &one), ("2 processes", &two)] {
            let m = |f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
            println!(
                "| {label} | {n} | {} | {:.0}% | {:.0}% |",
                rate(m(|s| s.msg_per_s)),
                100.0 * m(|s| s.server_cpu),
                100.0 * m(|s| s.client_cpu)
            );
        }
    }
    println!();
    Ok(())
}
