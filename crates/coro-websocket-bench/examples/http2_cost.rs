//! What the HTTP/2 path costs the server per message, against HTTP/1.1: the same echo server
//! (`axum_echo` by default, which serves both on one port), the same load shape, and the
//! server's CPU time per echoed message, read from /proc (Linux).
//!
//! The load comes from this crate's library client (the bench generator speaks HTTP/1.1 only):
//! `--conns` WebSockets, `--inflight` messages in flight on each, for `--duration` seconds, over
//! HTTP/1.1 (one TCP connection each), over HTTP/2 with one connection each, and over HTTP/2
//! multiplexed on one connection. The server is pinned to CPU 0; run this generator pinned to
//! CPU 1.
//!
//! ```sh
//! cargo build --release -p coro-websocket --features axum --example axum_echo
//! cargo build --release -p coro-websocket-bench --example http2_cost
//! taskset -c 1 target/release/examples/http2_cost [--conns 64] [--inflight 32] [--size 16] [--duration 3]
//! ```

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coro_websocket::http2::Http2Client;
use coro_websocket::{Http, Message, Options, Reader, Writer};
use coro_websocket_bench::launch::announced;
use coro_websocket_bench::procfs;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Args {
    conns: usize,
    inflight: usize,
    size: usize,
    duration: f64,
    server: std::path::PathBuf,
}

fn parse() -> Result<Args> {
    let examples = std::env::current_exe()?
        .parent()
        .ok_or("no examples directory")?
        .to_path_buf();
    let mut a = Args {
        conns: 64,
        inflight: 32,
        size: 16,
        duration: 3.0,
        server: examples.join("axum_echo"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--conns" => a.conns = value()?.parse()?,
            "--inflight" => a.inflight = value()?.parse()?,
            "--size" => a.size = value()?.parse()?,
            "--duration" => a.duration = value()?.parse()?,
            "--server" => a.server = value()?.into(),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if !a.server.exists() {
        return Err(format!(
            "{} is missing: run `cargo build --release -p coro-websocket --features axum --example axum_echo`",
            a.server.display()
        )
        .into());
    }
    Ok(a)
}

/// Keeps `inflight` messages in flight on one WebSocket until `stop`, counting echoes.
async fn drive(
    mut read: Reader,
    mut write: Writer,
    a: Arc<Args>,
    stop: Instant,
    n: Arc<AtomicU64>,
) {
    let msg = Message::binary(vec![b'x'; a.size]);
    for _ in 0..a.inflight {
        if write.write(msg.clone()).await.is_err() {
            return;
        }
    }
    while Instant::now() < stop {
        match read.read_message().await {
            Ok(Some(_)) => {
                n.fetch_add(1, Ordering::Relaxed);
                if write.write(msg.clone()).await.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// One run: opens the WebSockets the mode asks for, drives them, returns echoes counted.
async fn run(url: &str, mode: &str, a: &Arc<Args>) -> Result<u64> {
    let base = Options::from_url(url)?;
    let mut sessions = Vec::new();
    let shared = if mode == "HTTP/2, one connection" {
        Some(Http2Client::connect(base.clone()).await?)
    } else {
        None
    };
    for _ in 0..a.conns {
        let (_, read, write) = match (&shared, mode) {
            (Some(client), _) => client.open("/").await?,
            (None, "HTTP/1.1") => coro_websocket::connect(base.clone()).await?,
            (None, _) => {
                let options = Options {
                    http: Http::Http2,
                    ..base.clone()
                };
                coro_websocket::connect(options).await?
            }
        };
        sessions.push((read, write));
    }
    let count = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs_f64(a.duration);
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|(r, w)| tokio::spawn(drive(r, w, a.clone(), stop, count.clone())))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    Ok(count.load(Ordering::Relaxed))
}

fn main() -> Result<()> {
    let a = Arc::new(parse()?);
    let (mut child, url) = announced(
        Command::new("taskset")
            .args(["-c", "0"])
            .arg(&a.server)
            .arg("127.0.0.1:0"),
    )?;
    let pid = child.id();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!("| path | msg/s | server CPU µs per message | ratio to HTTP/1.1 |\n|---|---|---|---|");
    let mut base = None;
    for mode in [
        "HTTP/1.1",
        "HTTP/2, one connection each",
        "HTTP/2, one connection",
    ] {
        let cpu_before = procfs::cpu_seconds(pid).ok_or("cannot read the server's CPU time")?;
        let started = Instant::now();
        let echoes = runtime.block_on(run(&url, mode, &a))?;
        let secs = started.elapsed().as_secs_f64();
        let cpu = procfs::cpu_seconds(pid).ok_or("cannot read the server's CPU time")? - cpu_before;
        let per = cpu / echoes.max(1) as f64 * 1e6;
        let ratio = per / *base.get_or_insert(per);
        println!(
            "| {mode} | {:.0} k | {per:.2} | {ratio:.2} |",
            echoes as f64 / secs / 1e3
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}
