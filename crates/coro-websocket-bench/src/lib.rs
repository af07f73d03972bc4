//! The load generator behind `coro-websocket bench`, as a library: the CLI parses [`BenchArgs`]
//! with its other subcommands and hands them to [`run`]. Benchmark tooling only, kept out of the
//! product: the CLI depends on this crate, and the comparison bench against peer libraries
//! (`examples/compare`, with the peer echo servers `examples/tungstenite_echo`,
//! `examples/fastws_echo` and `examples/sockudo_echo`, and `examples/deflate_memory`) lives here
//! with those libraries as dev-dependencies, so building or testing the CLI never compiles them.
//!
//! `compare` runs the CLI binary (`target/release/coro-websocket`) beside the examples, so build
//! both before running it:
//!
//! ```text
//! cargo build --release -p coro-websocket-cli -p coro-websocket-bench --bins --examples
//! target/release/examples/compare --quick
//! ```
//!
//! The generator must cost the server's CPU nothing it would not cost a real client, and cost
//! its own CPU less than any server it measures (issue 4). So it works on raw streams
//! (`TcpStream`, or tokio-rustls over one for wss://: see `stream.rs`), not on the library's
//! `Reader`/`Writer`: the upgrade is done by hand with the Sans-I/O handshake functions, frames
//! are encoded and masked once, and echoes are counted from their headers (see `conn.rs`).
//! `--hold-pid` measures a server's memory per connection instead (see `memory.rs`). What it
//! reads from `/proc` (Linux only) is all in [`procfs`].
//!
//! The pub/sub bench (`examples/pubsub_bench`) opens its connections with the same hand-made
//! handshake ([`open`] over a [`Transport`]), reads deliveries with [`delivery::DeliveryParser`]
//! and records latencies in a [`Histogram`].

mod conn;
pub mod delivery;
mod histogram;
pub mod launch;
mod memory;
pub mod procfs;
mod stream;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use coro_websocket::{parse_url, WsUrl};
use futures_util::future::try_join_all;

pub use conn::{open, Opened};
use conn::{ConnStats, Counters, Load};
pub use histogram::Histogram;
pub use stream::{tls_settings, BenchStream, Transport};

/// Flags of `bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// The echo server's URL, ws:// or wss://.
    #[arg(long)]
    url: String,
    /// Trust this PEM CA certificate (wss://; default: the Mozilla roots).
    #[arg(long, value_name = "CERT.pem")]
    ca: Option<PathBuf>,
    /// Accept any server certificate (wss://). Insecure: for testing only.
    #[arg(long, conflicts_with = "ca")]
    insecure: bool,
    /// Connections to open.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Payload size of each message, in bytes.
    #[arg(long, default_value_t = 16, value_name = "BYTES")]
    size: usize,
    /// Messages kept in flight on each connection.
    #[arg(long, default_value_t = 1, value_name = "K")]
    inflight: usize,
    /// How long to send, in seconds (fractions allowed).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    duration: f64,
    /// Send binary messages instead of text.
    #[arg(long)]
    binary: bool,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Run on a multi-threaded runtime with this many workers (default: one thread).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Instead of load, hold --conns connections and report the server's memory per connection
    /// while idle and after each exchanged one --size B message, read from /proc/PID/status of
    /// the server process PID.
    #[arg(long, value_name = "PID")]
    hold_pid: Option<u32>,
}

/// Connections opened (or messages exchanged, by `--hold-pid`) concurrently: stays under the
/// server's accept backlog.
const OPEN_CHUNK: usize = 200;

/// Runs `bench`: a load run, or with `--hold-pid` a memory measurement; the summary goes to
/// stdout, live progress to stderr. Failure when a connection failed during the load run.
pub async fn run(args: BenchArgs) -> Result<ExitCode> {
    match args.threads {
        Some(threads) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()?;
            tokio::task::spawn_blocking(move || runtime.block_on(bench(args))).await?
        }
        None => bench(args).await,
    }
}

async fn bench(args: BenchArgs) -> Result<ExitCode> {
    if args.conns == 0 || args.inflight == 0 || args.duration.is_nan() || args.duration <= 0.0 {
        bail!("--conns, --inflight and --duration must be positive");
    }
    let url = parse_url(&args.url).with_context(|| format!("invalid URL {}", args.url))?;
    let addr = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await?
        .next()
        .with_context(|| format!("cannot resolve {}", url.host))?;
    let transport = Transport::new(&url, addr, args.ca.as_deref(), args.insecure)?;
    if let Some(pid) = args.hold_pid {
        let m = memory::measure(&url, &transport, pid, args.conns, args.size, args.binary).await?;
        print_memory(&args, &m)?;
        return Ok(ExitCode::SUCCESS);
    }
    let opened = open_all(&url, &transport, args.conns).await?;
    let report = load(&args, opened).await?;
    print_report(&args, &report)?;
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Opens `conns` connections, [`OPEN_CHUNK`] at a time.
async fn open_all(url: &WsUrl, transport: &Transport, conns: usize) -> Result<Vec<Opened>> {
    let mut all = Vec::with_capacity(conns);
    while all.len() < conns {
        let base = all.len() as u64;
        let n = OPEN_CHUNK.min(conns - all.len()) as u64;
        all.extend(try_join_all((base..base + n).map(|i| conn::open(url, transport, i))).await?);
    }
    Ok(all)
}

/// What a load run measured.
struct Report {
    messages: u64,
    elapsed: f64,
    rtt: Histogram,
    cpu: Option<f64>,
    errors: Vec<String>,
}

/// This process's CPU time so far, in seconds.
fn own_cpu_seconds() -> Option<f64> {
    procfs::cpu_seconds(std::process::id())
}

async fn load(args: &BenchArgs, opened: Vec<Opened>) -> Result<Report> {
    let mask = [0x5a, 0x1c, 0xe3, 0x97];
    let (batch, frame_len) = conn::frames(args.size, args.binary, args.inflight, mask);
    let batch: Arc<[u8]> = batch.into();
    let counters = Arc::new(Counters::default());
    let duration = Duration::from_secs_f64(args.duration);
    let cpu_start = own_cpu_seconds();
    let start = tokio::time::Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(opened.len());
    for opened in opened {
        let (batch, counters) = (batch.clone(), counters.clone());
        let size = args.size as u64;
        tasks.push(tokio::spawn(async move {
            let mut stats = ConnStats::default();
            let load = Load {
                batch: &batch,
                frame_len,
                size,
            };
            let run = conn::drive(opened, load, &counters, &mut stats);
            let error = match tokio::time::timeout_at(deadline, run).await {
                Ok(Err(e)) => Some(format!("{e:#}")),
                _ => None,
            };
            (stats, error)
        }));
    }
    let progress = tokio::spawn(progress(counters.clone(), args.size, deadline));
    let mut report = Report {
        messages: 0,
        elapsed: 0.0,
        rtt: Histogram::default(),
        cpu: None,
        errors: Vec::new(),
    };
    for task in tasks {
        let (stats, error) = task.await?;
        report.messages += stats.messages;
        report.rtt.merge(&stats.rtt);
        report.errors.extend(error);
    }
    report.elapsed = start.elapsed().as_secs_f64().min(args.duration).max(1e-9);
    report.cpu = cpu_start
        .zip(own_cpu_seconds())
        .map(|(a, b)| (b - a) / report.elapsed);
    progress.abort();
    Ok(report)
}

/// Prints messages and MiB per second on stderr once a second until the deadline.
async fn progress(counters: Arc<Counters>, size: usize, deadline: tokio::time::Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let (mut last_m, mut last_b, mut second) = (0, 0, 0);
    while tokio::time::Instant::now() + Duration::from_millis(500) < deadline {
        tick.tick().await;
        second += 1;
        let m = counters.messages.load(Ordering::Relaxed);
        let b = counters.bytes.load(Ordering::Relaxed);
        eprintln!(
            "[{second:>3} s] {:>12} msg/s {:>10.1} MiB/s ({size} B messages)",
            m - last_m,
            (b - last_b) as f64 / MIB,
        );
        (last_m, last_b) = (m, b);
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// A rate as the bench tables print it: `1.59 M`, `277.5 k`, `950`.
pub fn rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn micros(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn print_report(args: &BenchArgs, r: &Report) -> Result<()> {
    let msg_per_s = r.messages as f64 / r.elapsed;
    let mib_per_s = msg_per_s * args.size as f64 / MIB;
    let (p50, p99, p999) = (
        micros(r.rtt.quantile(0.5)),
        micros(r.rtt.quantile(0.99)),
        micros(r.rtt.quantile(0.999)),
    );
    let max = micros(r.rtt.max());
    let kind = if args.binary { "binary" } else { "text" };
    let cpu = r.cpu.unwrap_or(-1.0);
    for e in r.errors.iter().take(3) {
        eprintln!("connection error: {e}");
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{{\"url\":\"{}\",\"conns\":{},\"size\":{},\"inflight\":{},\"duration_s\":{:.3},\
             \"kind\":\"{kind}\",\"messages\":{},\"msg_per_s\":{msg_per_s:.1},\
             \"mib_per_s\":{mib_per_s:.3},\"rtt_p50_us\":{p50:.1},\"rtt_p99_us\":{p99:.1},\
             \"rtt_p999_us\":{p999:.1},\"rtt_max_us\":{max:.1},\"client_cpu\":{cpu:.3},\
             \"errors\":{}}}",
            args.url.replace('"', ""),
            args.conns,
            args.size,
            args.inflight,
            r.elapsed,
            r.messages,
            r.errors.len()
        )?;
    } else {
        writeln!(
            out,
            "bench {}: {} conns x {} in flight, {} B {kind} messages, {:.2} s",
            args.url, args.conns, args.inflight, args.size, r.elapsed
        )?;
        writeln!(
            out,
            "throughput: {msg_per_s:.0} msg/s, {mib_per_s:.2} MiB/s ({} messages echoed)",
            r.messages
        )?;
        writeln!(
            out,
            "round trip: p50 {p50:.1} us, p99 {p99:.1} us, p999 {p999:.1} us, max {max:.1} us"
        )?;
        if cpu >= 0.0 {
            writeln!(out, "generator CPU: {:.0}% of one core", cpu * 100.0)?;
        }
        if !r.errors.is_empty() {
            writeln!(out, "connection errors: {}", r.errors.len())?;
        }
    }
    out.flush()?;
    Ok(())
}

fn print_memory(args: &BenchArgs, m: &memory::Memory) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{{\"conns\":{},\"rss_before\":{},\"rss_idle\":{},\"rss_after_message\":{},\
             \"bytes_per_idle_conn\":{:.0},\"bytes_per_used_conn\":{:.0}}}",
            m.conns,
            m.before,
            m.idle,
            m.after_message,
            m.per_idle(),
            m.per_used()
        )?;
    } else {
        writeln!(
            out,
            "server RSS: {:.1} MiB before, {:.1} MiB with {} idle connections, {:.1} MiB after one \
             {} B message each",
            m.before as f64 / MIB,
            m.idle as f64 / MIB,
            m.conns,
            m.after_message as f64 / MIB,
            args.size
        )?;
        writeln!(
            out,
            "per connection: {:.0} B idle, {:.0} B after one message",
            m.per_idle(),
            m.per_used()
        )?;
    }
    out.flush()?;
    Ok(())
}
