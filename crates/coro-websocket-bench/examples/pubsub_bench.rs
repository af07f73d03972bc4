//! The pub/sub bench: one publisher and N subscribers (1,000 by default) on the topic `/bench`,
//! 16 B and 1 KiB binary messages; deliveries per second and publish-to-delivery latency. It
//! measures our `coro-websocket serve --pubsub` on one node, uWebSockets' own pub/sub in the same
//! run (`--uws PATH`), and our server on several nodes joined by Redis or NATS (`--redis`,
//! `--nats`: subscribers spread round-robin over `--nodes` processes, the publisher on node 0).
//!
//! Every server, and the broker, runs pinned to CPU 0 (`taskset -c 0`); run the bench itself
//! pinned to CPU 1:
//!
//! ```text
//! cargo build --release -p coro-websocket-cli -p coro-websocket-bench --bins --examples
//! taskset -c 1 target/release/examples/pubsub_bench [--uws PATH] [--redis] [--nats]
//!     [--nodes 3] [--subscribers 1000] [--sizes 16,1024] [--duration 5] [--warmup 1]
//!     [--window 8] [--reps 1] [--server PATH] [--no-single]
//! ```
//!
//! `--uws PATH` is a uWebSockets pub/sub server started as `PATH PORT` (listening on 127.0.0.1;
//! each connection subscribes to the topic of its URL path and publishes what it sends there,
//! which uWS delivers to every subscriber but the sender). `--redis` and `--nats` start
//! `redis-server` or `nats-server` on a free loopback port, without persistence, and attach each
//! `serve --pubsub` to it with `--redis URL` / `--nats URL`.
//!
//! The publisher's messages carry the send time (nanoseconds on a clock shared by the process)
//! and a sequence number in their first 16 bytes. It keeps at most `--window` messages
//! outstanding, a message being done once every subscriber has it, so the figures are sustained
//! throughput rather than queueing. Before measuring it sends probes until every subscriber has
//! one (all have joined, on every node), then publishes `--warmup` seconds unmeasured. One
//! markdown row per (server, size) on stdout: deliveries/s, published msg/s, latency p50/p99
//! (at node 0's subscribers, and at the other nodes' across a broker), CPU of the servers
//! together, of the broker and of the bench, in cores. In `pubsub_bench/`: `load.rs` runs the
//! connections, `publisher.rs` paces the publisher, `nodes.rs` starts the processes.

#[path = "pubsub_bench/load.rs"]
mod load;
#[path = "pubsub_bench/nodes.rs"]
mod nodes;
#[path = "pubsub_bench/publisher.rs"]
mod publisher;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use coro_websocket_bench::{procfs, rate, Histogram};

use load::{Outcome, Params};
use nodes::{Broker, Deployment, Setup, SERVER_CPU};

struct Options {
    server: PathBuf,
    uws: Option<PathBuf>,
    single: bool,
    brokers: Vec<Broker>,
    nodes: usize,
    subscribers: usize,
    sizes: Vec<usize>,
    duration: f64,
    warmup: f64,
    window: u64,
    reps: usize,
}

fn parse_options() -> Result<Options> {
    let mut o = Options {
        server: default_server()?,
        uws: None,
        single: true,
        brokers: Vec::new(),
        nodes: 3,
        subscribers: 1000,
        sizes: vec![16, 1024],
        duration: 5.0,
        warmup: 1.0,
        window: 8,
        reps: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--server" => o.server = value()?.into(),
            "--uws" => o.uws = Some(value()?.into()),
            "--no-single" => o.single = false,
            "--redis" => o.brokers.push(Broker::Redis),
            "--nats" => o.brokers.push(Broker::Nats),
            "--nodes" => o.nodes = value()?.parse().context("--nodes")?,
            "--subscribers" => o.subscribers = value()?.parse().context("--subscribers")?,
            "--sizes" => {
                o.sizes = value()?
                    .split(',')
                    .map(|s| s.trim().parse().context("--sizes"))
                    .collect::<Result<_>>()?
            }
            "--duration" => o.duration = value()?.parse().context("--duration")?,
            "--warmup" => o.warmup = value()?.parse().context("--warmup")?,
            "--window" => o.window = value()?.parse().context("--window")?,
            "--reps" => o.reps = value()?.parse().context("--reps")?,
            _ => bail!("unknown option {a} (see the doc comment of examples/pubsub_bench.rs)"),
        }
    }
    if o.subscribers == 0 || o.window == 0 || o.reps == 0 || o.nodes == 0 {
        bail!("--subscribers, --window, --reps and --nodes must be positive");
    }
    if !(o.duration > 0.0 && o.warmup >= 0.0) {
        bail!("--duration must be positive and --warmup not negative");
    }
    if let Some(&s) = o
        .sizes
        .iter()
        .find(|&&s| s < coro_websocket_bench::delivery::HEAD)
    {
        bail!("size {s}: messages carry a 16-byte head, so at least 16 B");
    }
    Ok(o)
}

/// `coro-websocket` beside the directory of this example (`target/release`).
fn default_server() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(|d| d.parent());
    Ok(dir
        .ok_or_else(|| anyhow!("no directory above {}", exe.display()))?
        .join("coro-websocket"))
}

/// The rows of each size, in order.
fn setups(o: &Options) -> Vec<Setup> {
    let ours = |nodes, broker| Setup::Ours {
        program: o.server.clone(),
        nodes,
        broker,
    };
    let mut all = Vec::new();
    if o.single {
        all.push(ours(1, None));
    }
    if let Some(program) = &o.uws {
        all.push(Setup::Uws {
            program: program.clone(),
        });
    }
    all.extend(o.brokers.iter().map(|&b| ours(o.nodes, Some(b))));
    all
}

fn size_label(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// `p50 / p99` in microseconds, or `–` when nothing was recorded.
fn percentiles(h: &Histogram) -> String {
    if h.count() == 0 {
        return "–".into();
    }
    let us = |q| h.quantile(q) as f64 / 1000.0;
    format!("{:.0} / {:.0}", us(0.5), us(0.99))
}

const HEADER: &str = "| server | nodes | subscribers | size | deliveries/s | published msg/s | \
latency p50 / p99 µs, node 0 | latency p50 / p99 µs, other nodes | server CPU | broker CPU | \
bench CPU | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|";

fn row(setup: &Setup, o: &Options, size: usize, out: &Outcome) -> String {
    let broker = if matches!(
        setup,
        Setup::Ours {
            broker: Some(_),
            ..
        }
    ) {
        format!("{:.0}%", out.broker_cpu * 100.0)
    } else {
        "–".into()
    };
    let mut notes = out.notes.join("; ");
    if out.bench_cpu > 0.9 {
        notes.push_str(if notes.is_empty() { "" } else { "; " });
        notes.push_str("bench near one core: a lower bound");
    }
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% | {broker} | {:.0}% | {notes} |",
        setup.label(),
        setup.nodes(),
        o.subscribers,
        size_label(size),
        rate(out.deliveries as f64 / out.elapsed),
        rate(out.published as f64 / out.elapsed),
        percentiles(&out.local),
        percentiles(&out.remote),
        out.server_cpu * 100.0,
        out.bench_cpu * 100.0,
    )
}

/// Opens more files than the default soft limit allows: 1,000 subscribers need as many sockets.
fn raise_fd_limit() {
    if let Some(hard) = procfs::open_files_hard_limit() {
        let _ = std::process::Command::new("prlimit")
            .args(["--pid", &std::process::id().to_string()])
            .arg(format!("--nofile={hard}:{hard}"))
            .status();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let o = parse_options()?;
    raise_fd_limit();
    let params = |size| Params {
        subscribers: o.subscribers,
        size,
        window: o.window,
        warmup: Duration::from_secs_f64(o.warmup),
        duration: Duration::from_secs_f64(o.duration),
    };
    let cpu = procfs::cpu_model().unwrap_or_else(|| "unknown CPU".into());
    println!(
        "Pub/sub: 1 publisher, {} subscribers on one topic, binary messages, at most {} \
         outstanding; {} s measured after {} s of warm-up; servers and broker on CPU \
         {SERVER_CPU}; {cpu}.\n\n{HEADER}",
        o.subscribers, o.window, o.duration, o.warmup
    );
    for _ in 0..o.reps {
        for &size in &o.sizes {
            for setup in setups(&o) {
                eprintln!("{} × {}: running", setup.label(), size_label(size));
                let outcome = match Deployment::start(&setup) {
                    Ok(d) => load::run(&d, params(size)).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(out) => println!("{}", row(&setup, &o, size, &out)),
                    Err(e) => println!(
                        "| {} | {} | {} | {} | failed: {e:#} |",
                        setup.label(),
                        setup.nodes(),
                        o.subscribers,
                        size_label(size)
                    ),
                }
            }
        }
    }
    Ok(())
}
