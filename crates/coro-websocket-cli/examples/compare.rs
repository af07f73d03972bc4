//! The comparison bench: our echo server against tokio-tungstenite's and fastwebsockets', over
//! the same grid, in one run, on the same machine.
//!
//! Each server runs pinned to CPU 0 (`taskset -c 0`), the load generator (`coro-websocket bench`)
//! pinned to CPU 1. Servers are interleaved within each cell (the order rotates with each
//! repetition), every cell is repeated, and the table reports medians and ratios ours/peer.
//!
//! ```text
//! cargo build --release -p coro-websocket-cli --bins --examples
//! target/release/examples/compare [--quick] [--reps 3] [--duration 2] [--binary]
//!                                 [--memory [--memory-conns 10000]] [--generator-check]
//! ```
//!
//! Markdown goes to stdout, progress to stderr. Needs `taskset` and `prlimit` (util-linux).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const SERVER_CPU: &str = "0";
const CLIENT_CPU: &str = "1";
/// Cells whose payload bytes in flight would exceed this are left out.
const MAX_IN_FLIGHT: usize = 64 << 20;

struct Options {
    quick: bool,
    reps: usize,
    duration: f64,
    binary: bool,
    memory: bool,
    memory_conns: usize,
    generator_check: bool,
}

fn parse_options() -> Result<Options> {
    let mut o = Options {
        quick: false,
        reps: 3,
        duration: 2.0,
        binary: false,
        memory: false,
        memory_conns: 10_000,
        generator_check: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => o.quick = true,
            "--reps" => o.reps = value()?.parse()?,
            "--duration" => o.duration = value()?.parse()?,
            "--binary" => o.binary = true,
            "--memory" => o.memory = true,
            "--memory-conns" => o.memory_conns = value()?.parse()?,
            "--generator-check" => o.generator_check = true,
            _ => return Err(format!("unknown option {a}").into()),
        }
    }
    Ok(o)
}

/// One echo server under test.
struct Peer {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
}

/// A running, pinned server.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(peer: &Peer) -> Result<Server> {
        let mut child = Command::new("taskset")
            .args(["-c", SERVER_CPU])
            .arg(&peer.program)
            .args(&peer.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", peer.program.display()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("{}: unexpected first line {line:?}", peer.name))?
            .to_owned();
        Ok(Server { child, url })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User+system CPU seconds so far (USER_HZ is 100).
    fn cpu_seconds(&self) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) else {
            return 0.0;
        };
        let Some(close) = stat.rfind(')') else {
            return 0.0;
        };
        let f: Vec<f64> = stat[close + 2..]
            .split_whitespace()
            .map(|s| s.parse().unwrap_or(0.0))
            .collect();
        (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A number from a flat JSON object, by key.
fn field(json: &str, key: &str) -> Option<f64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

/// What one bench run measured.
#[derive(Clone, Copy, Default)]
struct Sample {
    msg_per_s: f64,
    mib_per_s: f64,
    p50: f64,
    p99: f64,
    server_cpu: f64,
    client_cpu: f64,
}

#[derive(Clone, Copy)]
struct Cell {
    size: usize,
    conns: usize,
    inflight: usize,
}

fn bench_command(bench: &Path, url: &str, cell: Cell, duration: f64, binary: bool) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", CLIENT_CPU])
        .arg(bench)
        .args(["bench", "--json", "--url", url])
        .args(["--conns", &cell.conns.to_string()])
        .args(["--size", &cell.size.to_string()])
        .args(["--inflight", &cell.inflight.to_string()])
        .args(["--duration", &duration.to_string()]);
    if binary {
        cmd.arg("--binary");
    }
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    cmd
}

fn run_cell(bench: &Path, server: &Server, cell: Cell, o: &Options) -> Result<Sample> {
    let cpu0 = server.cpu_seconds();
    let t0 = Instant::now();
    let out = bench_command(bench, &server.url, cell, o.duration, o.binary).output()?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = server.cpu_seconds();
    let json = String::from_utf8_lossy(&out.stdout);
    let get = |k| field(&json, k).ok_or_else(|| format!("bench output lacks {k}: {json:?}"));
    if get("errors")? > 0.0 {
        eprintln!("  (connection errors in this run)");
    }
    Ok(Sample {
        msg_per_s: get("msg_per_s")?,
        mib_per_s: get("mib_per_s")?,
        p50: get("rtt_p50_us")?,
        p99: get("rtt_p99_us")?,
        // Over the whole bench process life (set-up included), so a slight underestimate.
        server_cpu: (cpu1 - cpu0) / wall.max(o.duration),
        client_cpu: get("client_cpu")?,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn cells(quick: bool) -> Vec<Cell> {
    if quick {
        return [
            (16, 64, 32),
            (1024, 64, 32),
            (16, 1, 1),
            (16, 64, 1),
            (65536, 1, 1),
        ]
        .into_iter()
        .chain([(1 << 20, 1, 1)])
        .map(|(size, conns, inflight)| Cell {
            size,
            conns,
            inflight,
        })
        .collect();
    }
    let mut all = Vec::new();
    for size in [16, 1024, 64 << 10, 1 << 20] {
        for conns in [1, 64] {
            for inflight in [1, 32] {
                if size * conns * inflight <= MAX_IN_FLIGHT {
                    all.push(Cell {
                        size,
                        conns,
                        inflight,
                    });
                }
            }
        }
    }
    all
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} CPUs")
}

fn grid(bench: &Path, peers: &[Peer], o: &Options) -> Result<()> {
    let servers: Vec<Server> = peers.iter().map(Server::start).collect::<Result<_>>()?;
    let cells = cells(o.quick);
    let kind = if o.binary { "binary" } else { "text" };
    println!(
        "Throughput, messages per second ({kind}); median of {} runs of {} s; \
         server on CPU {SERVER_CPU}, generator on CPU {CLIENT_CPU}; {}.\n",
        o.reps,
        o.duration,
        machine()
    );
    let names: Vec<&str> = peers.iter().map(|p| p.name).collect();
    let mut header = String::from("| payload | conns | in flight |");
    for n in &names {
        header.push_str(&format!(" {n} |"));
    }
    for n in &names[1..] {
        header.push_str(&format!(" ours / {n} |"));
    }
    header.push_str(" RTT p50/p99 µs (ours; peers) | server CPU (ours) | generator CPU (ours) |");
    println!("{header}");
    let columns = header.matches('|').count() - 1;
    println!("|{}", "---|".repeat(columns));
    let mut wins = vec![0usize; peers.len()];
    for cell in cells {
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); peers.len()];
        for rep in 0..o.reps {
            for k in 0..peers.len() {
                let i = (k + rep) % peers.len();
                let s = run_cell(bench, &servers[i], cell, o)?;
                eprintln!(
                    "{} x{} k{} rep {rep}: {:>10} {:>10.0} msg/s p50 {:.1} us",
                    size_label(cell.size),
                    cell.conns,
                    cell.inflight,
                    peers[i].name,
                    s.msg_per_s,
                    s.p50
                );
                samples[i].push(s);
            }
        }
        let med = |i: usize, f: fn(&Sample) -> f64| median(samples[i].iter().map(f).collect());
        let rates: Vec<f64> = (0..peers.len()).map(|i| med(i, |s| s.msg_per_s)).collect();
        let best = (0..peers.len())
            .max_by(|&a, &b| rates[a].total_cmp(&rates[b]))
            .unwrap_or(0);
        wins[best] += 1;
        let mut row = format!(
            "| {} | {} | {} |",
            size_label(cell.size),
            cell.conns,
            cell.inflight
        );
        for (i, r) in rates.iter().enumerate() {
            let mib = med(i, |s| s.mib_per_s);
            let text = if cell.size >= 64 << 10 {
                format!("{} ({mib:.0} MiB/s)", rate(*r))
            } else {
                rate(*r)
            };
            if i == best {
                row.push_str(&format!(" **{text}** |"));
            } else {
                row.push_str(&format!(" {text} |"));
            }
        }
        for r in &rates[1..] {
            row.push_str(&format!(" {:.2} |", rates[0] / r));
        }
        let rtt: Vec<String> = (0..peers.len())
            .map(|i| format!("{:.0}/{:.0}", med(i, |s| s.p50), med(i, |s| s.p99)))
            .collect();
        row.push_str(&format!(
            " {} | {:.0}% | {:.0}% |",
            rtt.join("; "),
            100.0 * med(0, |s| s.server_cpu),
            100.0 * med(0, |s| s.client_cpu)
        ));
        println!("{row}");
    }
    println!();
    let summary: Vec<String> = names
        .iter()
        .zip(&wins)
        .map(|(n, w)| format!("{n} {w}"))
        .collect();
    println!(
        "Cells won (highest median msg/s): {}.\n",
        summary.join(", ")
    );
    Ok(())
}

/// Raises this process's soft open-files limit to the hard one; children inherit it.
fn raise_fd_limit() {
    let pid = std::process::id().to_string();
    let hard = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(4).map(str::to_owned))
        });
    if let Some(hard) = hard {
        let _ = Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
            .status();
    }
}

fn memory(bench: &Path, peers: &[Peer], o: &Options) -> Result<()> {
    raise_fd_limit();
    println!(
        "Server memory (VmRSS) per connection at {} connections, {} B message:\n",
        o.memory_conns, 16
    );
    println!("| server | idle | after one message | RSS before |");
    println!("|---|---|---|---|");
    for peer in peers {
        let server = Server::start(peer)?;
        let out = Command::new("taskset")
            .args(["-c", CLIENT_CPU])
            .arg(bench)
            .args(["bench", "--json", "--url", &server.url])
            .args(["--conns", &o.memory_conns.to_string()])
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
            "| {} | {:.1} KiB | {:.1} KiB | {:.1} MiB |",
            peer.name,
            idle / 1024.0,
            used / 1024.0,
            before / 1048576.0
        );
    }
    println!();
    Ok(())
}

/// Runs `cell` on our server with one generator, then with two generator processes sharing the
/// connections, both on the generator's CPU. If the generator were the bottleneck, the server
/// would be below 100% CPU in the first case and the pair would not do better.
fn generator_check(bench: &Path, ours: &Peer, o: &Options) -> Result<()> {
    let server = Server::start(ours)?;
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
        },
        Cell {
            size: 1024,
            conns: 64,
            inflight: 32,
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

fn main() -> Result<()> {
    let o = parse_options()?;
    let examples = std::env::current_exe()?
        .parent()
        .ok_or("no executable directory")?
        .to_path_buf();
    let bench = examples.join("../coro-websocket");
    for p in [
        &bench,
        &examples.join("tungstenite_echo"),
        &examples.join("fastws_echo"),
    ] {
        if !p.exists() {
            return Err(format!(
                "{} is missing: run `cargo build --release -p coro-websocket-cli --bins --examples`",
                p.display()
            )
            .into());
        }
    }
    let listen = "127.0.0.1:0".to_owned();
    let peers = [
        Peer {
            name: "coro-websocket",
            program: bench.clone(),
            args: vec!["serve".into(), "--listen".into(), listen.clone()],
        },
        Peer {
            name: "tokio-tungstenite",
            program: examples.join("tungstenite_echo"),
            args: vec![listen.clone()],
        },
        Peer {
            name: "fastwebsockets",
            program: examples.join("fastws_echo"),
            args: vec![listen],
        },
    ];
    let started = Instant::now();
    grid(&bench, &peers, &o)?;
    if o.generator_check {
        generator_check(&bench, &peers[0], &o)?;
    }
    if o.memory {
        memory(&bench, &peers, &o)?;
    }
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
