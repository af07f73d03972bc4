//! The comparison bench: our echo server against tokio-tungstenite's, fastwebsockets' and
//! sockudo-ws's (and, with `--uws PATH`, uWebSockets'), over the same grid, in one run, on the
//! same machine.
//!
//! Each server runs pinned to CPU 0 (`taskset -c 0`), the load generator (`coro-websocket bench`)
//! pinned to CPU 1. Servers are interleaved within each cell (the order rotates with each
//! repetition), every cell is repeated, and the table reports medians and ratios ours/peer. The
//! TLS cells run every Rust server with `--tls-cert/--tls-key` on a self-signed certificate
//! generated here with rcgen (`bench --insecure`); uWebSockets runs the ws:// cells only.
//!
//! ```text
//! cargo build --release -p coro-websocket-cli -p coro-websocket-bench --bins --examples
//! target/release/examples/compare [--quick] [--reps 3] [--duration 2] [--binary] [--axum]
//!                                 [--no-tls | --tls-only] [--uws PATH]
//!                                 [--memory [--memory-conns 10000]] [--generator-check]
//!                                 [--no-grid] [--cells SIZExCONNSxINFLIGHT[,..]]
//! ```
//!
//! Markdown goes to stdout, progress to stderr. Needs `taskset` and `prlimit` (util-linux).
//! `servers.rs` starts the servers; `checks.rs` holds `--memory` and `--generator-check`.

mod checks;
mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use coro_websocket_bench::{procfs, rate};
use servers::{tls_flags, Certs, Launch, Peer, Server};

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
    /// Which cells run: over ws:// (`plain`), over wss:// (`tls`).
    plain: bool,
    tls: bool,
    uws: Option<PathBuf>,
    /// Skip the throughput grid (to run only --memory or --generator-check).
    no_grid: bool,
    /// Only these cells (`--cells 16x64x32,65536x1x32`), over ws:// and (unless `--no-tls`)
    /// wss://.
    only: Option<Vec<(usize, usize, usize)>>,
    /// Compare the axum integrations instead: ours (`axum_echo`) against axum's own WebSocket
    /// (`axum_tungstenite_echo`), on the cells of `AXUM_CELLS`.
    axum: bool,
}

/// The cells of `--axum`: 16 B and 1 KiB, 64 connections, 1 and 32 in flight.
const AXUM_CELLS: [(usize, usize, usize); 4] =
    [(16, 64, 1), (16, 64, 32), (1024, 64, 1), (1024, 64, 32)];

fn parse_options() -> Result<Options> {
    let mut o = Options {
        quick: false,
        reps: 3,
        duration: 2.0,
        binary: false,
        memory: false,
        memory_conns: 10_000,
        generator_check: false,
        plain: true,
        tls: true,
        uws: None,
        no_grid: false,
        axum: false,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => o.quick = true,
            "--reps" => o.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--duration" => {
                o.duration = value()?.parse().map_err(|e| format!("--duration: {e}"))?
            }
            "--binary" => o.binary = true,
            "--memory" => o.memory = true,
            "--memory-conns" => {
                o.memory_conns = value()?
                    .parse()
                    .map_err(|e| format!("--memory-conns: {e}"))?
            }
            "--generator-check" => o.generator_check = true,
            "--no-tls" => o.tls = false,
            "--tls-only" => o.plain = false,
            "--uws" => o.uws = Some(value()?.into()),
            "--no-grid" => o.no_grid = true,
            "--axum" => o.axum = true,
            "--cells" => o.only = Some(parse_cells(&value()?)?),
            _ => return Err(format!("unknown option {a}").into()),
        }
    }
    if !(o.plain || o.tls) {
        return Err("--no-tls and --tls-only leave no cell to run".into());
    }
    if o.reps == 0 || o.duration.is_nan() || o.duration <= 0.0 || o.memory_conns == 0 {
        return Err("--reps, --duration and --memory-conns must be positive".into());
    }
    Ok(o)
}

/// `--cells`: comma-separated `SIZExCONNSxINFLIGHT` triples.
fn parse_cells(spec: &str) -> Result<Vec<(usize, usize, usize)>> {
    spec.split(',')
        .map(|cell| {
            let n: Vec<usize> = cell
                .split('x')
                .map(str::parse)
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| format!("--cells {cell}: {e}"))?;
            match n[..] {
                [size, conns, inflight] if size > 0 && conns > 0 && inflight > 0 => {
                    Ok((size, conns, inflight))
                }
                _ => Err(format!("--cells {cell}: want SIZExCONNSxINFLIGHT, all positive").into()),
            }
        })
        .collect()
}

/// The two axum echo servers of `--axum`: the same application, with our extractor or axum's.
fn axum_peers(examples: &Path) -> Result<Vec<Peer>> {
    let ours = examples.join("axum_echo");
    if !ours.exists() {
        return Err(format!(
            "{} is missing: run `cargo build --release -p coro-websocket --features axum --example axum_echo`",
            ours.display()
        )
        .into());
    }
    let announcing = |name, program: PathBuf| Peer {
        name,
        program,
        launch: Launch::Announces {
            args: vec!["127.0.0.1:0".into()],
            tls_args: tls_flags,
        },
    };
    Ok(vec![
        announcing("axum + coro-websocket", ours),
        announcing("axum + tungstenite", examples.join("axum_tungstenite_echo")),
    ])
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
    /// Over wss://.
    tls: bool,
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
    if cell.tls {
        cmd.arg("--insecure");
    }
    cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    cmd
}

/// One run of a cell against a server; a run whose generator failed (it says why on stderr,
/// shown here) is tried again, twice at most, before it counts as failed.
fn run_cell(bench: &Path, server: &Server, cell: Cell, o: &Options) -> Result<Sample> {
    let mut tries = 0;
    loop {
        match run_cell_once(bench, server, cell, o) {
            Ok(sample) => return Ok(sample),
            Err(e) if tries < 2 => {
                tries += 1;
                eprintln!("  (run failed, trying again: {e})");
            }
            Err(e) => return Err(e),
        }
    }
}

fn run_cell_once(bench: &Path, server: &Server, cell: Cell, o: &Options) -> Result<Sample> {
    let cpu0 = server.cpu_seconds();
    let t0 = Instant::now();
    let out = bench_command(bench, &server.url, cell, o.duration, o.binary).output()?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = server.cpu_seconds();
    let json = String::from_utf8_lossy(&out.stdout);
    let why = String::from_utf8_lossy(&out.stderr);
    let get = |k| {
        field(&json, k)
            .ok_or_else(|| format!("bench output lacks {k}: {json:?} ({}; {why})", out.status))
    };
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

/// The TLS cells: pipelined small messages, and one message at a time at 1 KiB and 64 KiB.
/// The payload sizes of the wss:// cells (each with 1 and 64 connections, 1 and 32 in flight).
const TLS_SIZES: [usize; 3] = [16, 1024, 64 << 10];

fn cells(o: &Options) -> Vec<Cell> {
    let cell = |tls| {
        move |(size, conns, inflight)| Cell {
            size,
            conns,
            inflight,
            tls,
        }
    };
    let mut plain = Vec::new();
    if o.axum {
        return AXUM_CELLS.into_iter().map(cell(false)).collect();
    }
    let mut tls = Vec::new();
    if let Some(only) = &o.only {
        plain.clone_from(only);
        tls.clone_from(only);
    } else if o.quick {
        plain = vec![
            (16, 64, 32),
            (1024, 64, 32),
            (16, 1, 1),
            (16, 64, 1),
            (65536, 1, 1),
            (1 << 20, 1, 1),
        ];
        tls = vec![(16, 64, 32), (1024, 1, 1), (64 << 10, 1, 1)];
    } else {
        for size in [16, 1024, 64 << 10, 1 << 20] {
            for conns in [1, 64] {
                for inflight in [1, 32] {
                    if size * conns * inflight <= MAX_IN_FLIGHT {
                        plain.push((size, conns, inflight));
                        if TLS_SIZES.contains(&size) {
                            tls.push((size, conns, inflight));
                        }
                    }
                }
            }
        }
    }
    let mut all = Vec::new();
    if o.plain {
        all.extend(plain.into_iter().map(cell(false)));
    }
    if o.tls {
        all.extend(tls.into_iter().map(cell(true)));
    }
    all
}

fn machine() -> String {
    let cpu = procfs::cpu_model().unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} CPUs")
}

/// The servers of one mode (ws:// or wss://), by peer; `None` where a peer cannot run it.
fn start_all(peers: &[Peer], certs: Option<&Certs>) -> Result<Vec<Option<Server>>> {
    peers
        .iter()
        .map(|p| match certs {
            Some(_) if !p.tls() => Ok(None),
            _ => Server::start(p, certs).map(Some),
        })
        .collect()
}

fn grid(bench: &Path, peers: &[Peer], o: &Options) -> Result<()> {
    let cells = cells(o);
    let certs = if cells.iter().any(|c| c.tls) {
        Some(Certs::generate()?)
    } else {
        None
    };
    let plain = if cells.iter().any(|c| !c.tls) {
        start_all(peers, None)?
    } else {
        Vec::new()
    };
    let tls = match &certs {
        Some(certs) => start_all(peers, Some(certs))?,
        None => Vec::new(),
    };
    let kind = if o.binary { "binary" } else { "text" };
    println!(
        "Throughput, messages per second ({kind}); median of {} runs of {} s; \
         server on CPU {SERVER_CPU}, generator on CPU {CLIENT_CPU}; {}. TLS cells: rustls \
         (ring) in every server, self-signed certificate; \"–\": the server does not run TLS, \
         or every run failed (stderr says why).\n",
        o.reps,
        o.duration,
        machine()
    );
    let names: Vec<&str> = peers.iter().map(|p| p.name).collect();
    let mut header = String::from("| payload | conns | in flight | tls |");
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
        let servers = if cell.tls { &tls } else { &plain };
        let samples = run_row(bench, peers, servers, cell, o)?;
        let (row, best) = format_row(cell, &samples);
        if let Some(best) = best {
            wins[best] += 1;
        }
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

/// Runs one cell `o.reps` times on every server that can run it, interleaved; samples by peer.
fn run_row(
    bench: &Path,
    peers: &[Peer],
    servers: &[Option<Server>],
    cell: Cell,
    o: &Options,
) -> Result<Vec<Vec<Sample>>> {
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); peers.len()];
    for rep in 0..o.reps {
        for k in 0..peers.len() {
            let i = (k + rep) % peers.len();
            let Some(server) = &servers[i] else {
                continue;
            };
            let s = match run_cell(bench, server, cell, o) {
                Ok(s) => s,
                // A failed run (a server that died, say) leaves a gap in its column, not the
                // end of the comparison.
                Err(e) => {
                    eprintln!("  ({} failed this run: {e})", peers[i].name);
                    continue;
                }
            };
            eprintln!(
                "{} x{} k{}{} rep {rep}: {:>10} {:>10.0} msg/s p50 {:.1} us",
                size_label(cell.size),
                cell.conns,
                cell.inflight,
                if cell.tls { " tls" } else { "" },
                peers[i].name,
                s.msg_per_s,
                s.p50
            );
            samples[i].push(s);
        }
    }
    Ok(samples)
}

/// One markdown row of medians, and which peer had the highest rate.
fn format_row(cell: Cell, samples: &[Vec<Sample>]) -> (String, Option<usize>) {
    const NONE: &str = "–";
    let med = |i: usize, f: fn(&Sample) -> f64| median(samples[i].iter().map(f).collect());
    let rates: Vec<Option<f64>> = (0..samples.len())
        .map(|i| (!samples[i].is_empty()).then(|| med(i, |s| s.msg_per_s)))
        .collect();
    let best = (0..samples.len())
        .filter(|&i| rates[i].is_some())
        .max_by(|&a, &b| rates[a].unwrap_or(0.0).total_cmp(&rates[b].unwrap_or(0.0)));
    let mut row = format!(
        "| {} | {} | {} | {} |",
        size_label(cell.size),
        cell.conns,
        cell.inflight,
        if cell.tls { "on" } else { "off" }
    );
    for (i, r) in rates.iter().enumerate() {
        let Some(r) = r else {
            row.push_str(&format!(" {NONE} |"));
            continue;
        };
        let mib = med(i, |s| s.mib_per_s);
        let text = if cell.size >= 64 << 10 {
            format!("{} ({mib:.0} MiB/s)", rate(*r))
        } else {
            rate(*r)
        };
        if Some(i) == best {
            row.push_str(&format!(" **{text}** |"));
        } else {
            row.push_str(&format!(" {text} |"));
        }
    }
    for r in &rates[1..] {
        match (rates[0], r) {
            (Some(ours), Some(r)) => row.push_str(&format!(" {:.2} |", ours / r)),
            _ => row.push_str(&format!(" {NONE} |")),
        }
    }
    let rtt: Vec<String> = (0..samples.len())
        .map(|i| match rates[i] {
            Some(_) => format!("{:.0}/{:.0}", med(i, |s| s.p50), med(i, |s| s.p99)),
            None => NONE.to_owned(),
        })
        .collect();
    row.push_str(&format!(
        " {} | {:.0}% | {:.0}% |",
        rtt.join("; "),
        100.0 * med(0, |s| s.server_cpu),
        100.0 * med(0, |s| s.client_cpu)
    ));
    (row, best)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The Rust peers of the grid, by name and echo server example, in column order after ours.
const RUST_PEERS: [(&str, &str); 3] = [
    ("tokio-tungstenite", "tungstenite_echo"),
    ("fastwebsockets", "fastws_echo"),
    ("sockudo-ws", "sockudo_echo"),
];

/// The servers of the grid: ours first (the ratios are ours / peer), then the Rust peers, then
/// uWebSockets with `--uws`.
fn grid_peers(bench: &Path, examples: &Path, o: &Options) -> Result<Vec<Peer>> {
    let announcing = |name, program: PathBuf, args: Vec<String>| Peer {
        name,
        program,
        launch: Launch::Announces {
            args,
            tls_args: tls_flags,
        },
    };
    let listen = "127.0.0.1:0".to_owned();
    let mut peers = vec![announcing(
        "coro-websocket",
        bench.to_path_buf(),
        vec!["serve".into(), "--listen".into(), listen.clone()],
    )];
    for (name, example) in RUST_PEERS {
        peers.push(announcing(
            name,
            examples.join(example),
            vec![listen.clone()],
        ));
    }
    for p in &peers {
        if !p.program.exists() {
            return Err(format!(
                "{} is missing: run `cargo build --release -p coro-websocket-cli -p coro-websocket-bench --bins --examples`",
                p.program.display()
            )
            .into());
        }
    }
    if let Some(path) = &o.uws {
        if !path.is_file() {
            return Err(format!("--uws {}: no such file", path.display()).into());
        }
        peers.push(Peer {
            name: "uWebSockets",
            program: path.clone(),
            launch: Launch::External,
        });
    }
    Ok(peers)
}

fn run() -> Result<()> {
    let o = parse_options()?;
    let examples = std::env::current_exe()?
        .parent()
        .ok_or("no executable directory")?
        .to_path_buf();
    let bench = examples.join("../coro-websocket");
    let mut peers = grid_peers(&bench, &examples, &o)?;
    if o.axum {
        peers = axum_peers(&examples)?;
    }
    let started = Instant::now();
    if !o.no_grid {
        grid(&bench, &peers, &o)?;
    }
    if o.generator_check {
        checks::generator_check(&bench, &peers[0], &o)?;
    }
    if o.memory {
        checks::memory(&bench, &peers, &o)?;
    }
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
