//! A soak of `coro-websocket serve`: many connections at once, each opening, exchanging
//! messages of random sizes and types (some fragmented), pinging, and closing with a random
//! code, over and over, for a while. It fails (exit 1) on any error other than the expected
//! ones, on a panic in the server, or if the server's memory keeps growing after the first
//! minute (or, in shorter runs, after the first half), and prints the server's resident memory
//! every few seconds: the curve.
//!
//! ```sh
//! cargo build --release -p coro-websocket-cli -p coro-websocket-bench --bins --examples
//! target/release/examples/soak [--seconds 600] [--conns 1000] [--compress]
//! ```
//! CI runs it for 20 seconds, and for 60 with `--compress`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coro_websocket::{CloseCode, DeflateConfig, Message, Opcode, Options};
use coro_websocket_bench::launch::announced;
use coro_websocket_bench::procfs;
use rand::{Rng, SeedableRng};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Default)]
struct Counts {
    sessions: AtomicU64,
    messages: AtomicU64,
    unexpected: AtomicU64,
}

struct Args {
    seconds: u64,
    conns: usize,
    compress: bool,
}

fn parse() -> Result<Args> {
    let mut a = Args {
        seconds: 600,
        conns: 1000,
        compress: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse()?,
            "--conns" => a.conns = value()?.parse()?,
            "--compress" => a.compress = true,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(a)
}

/// One connection's life: connect, a few random exchanges, a random close.
async fn session(
    url: &str,
    compress: bool,
    rng: &mut rand::rngs::StdRng,
    counts: &Counts,
) -> std::result::Result<(), String> {
    let mut options = Options::from_url(url).map_err(|e| e.to_string())?;
    options.compression = compress.then(DeflateConfig::default);
    let (_, mut read, mut write) = coro_websocket::connect(options)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    for _ in 0..rng.random_range(1..20) {
        let size = match rng.random_range(0..10) {
            0 => rng.random_range(0..(256 << 10)),
            1..=3 => rng.random_range(0..(16 << 10)),
            _ => rng.random_range(0..256),
        };
        let text = rng.random_bool(0.5);
        let payload: Vec<u8> = if text {
            (0..size).map(|i| b'a' + (i % 26) as u8).collect()
        } else {
            (0..size).map(|_| rng.random()).collect()
        };
        let opcode = if text { Opcode::Text } else { Opcode::Binary };
        if rng.random_bool(0.2) && size > 1 {
            // Fragmented, with a ping in between.
            let cut = size / 2;
            let mut first = Message::new(opcode, payload[..cut].to_vec());
            first.fin = false;
            write
                .write(first)
                .await
                .map_err(|e| format!("write: {e}"))?;
            write
                .write(Message::ping("soak"))
                .await
                .map_err(|e| format!("ping: {e}"))?;
            let rest = Message::new(Opcode::Continuation, payload[cut..].to_vec());
            write.write(rest).await.map_err(|e| format!("write: {e}"))?;
        } else {
            write
                .write(Message::new(opcode, payload.clone()))
                .await
                .map_err(|e| format!("write: {e}"))?;
        }
        let echo = read
            .read_message()
            .await
            .map_err(|e| format!("read: {e}"))?
            .ok_or("ended early")?;
        if echo.opcode != opcode || echo.payload[..] != payload[..] {
            return Err("the echo differs".into());
        }
        counts.messages.fetch_add(1, Ordering::Relaxed);
    }
    let code = *[1000u16, 1001, 1003, 1008, 1011, 3000, 4999]
        .get(rng.random_range(0..7))
        .unwrap_or(&1000);
    write
        .close(CloseCode(code), "soak")
        .await
        .map_err(|e| format!("close: {e}"))?;
    while let Ok(Some(_)) = read.read_message().await {}
    counts.sessions.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn main() -> Result<()> {
    let a = parse()?;
    let dir = std::env::current_exe()?
        .parent()
        .ok_or("no directory")?
        .to_path_buf();
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    if a.compress {
        args.push("--compress");
    }
    let (mut child, url) = announced(
        Command::new(dir.join("../coro-websocket"))
            .args(&args)
            .stderr(Stdio::piped()),
    )?;
    let pid = child.id();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let counts = Arc::new(Counts::default());
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let curve = runtime.block_on(async {
        let workers: Vec<_> = (0..a.conns)
            .map(|i| {
                let (url, counts) = (url.clone(), counts.clone());
                tokio::spawn(async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
                    while Instant::now() < deadline {
                        if let Err(e) = session(&url, a.compress, &mut rng, &counts).await {
                            eprintln!("unexpected: {e}");
                            counts.unexpected.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        let started = Instant::now();
        let mut curve = Vec::new();
        let step = Duration::from_secs((a.seconds / 20).clamp(1, 30));
        while Instant::now() < deadline {
            tokio::time::sleep(step).await;
            let rss = procfs::rss_bytes(pid).unwrap_or(0);
            println!(
                "{:>5.0} s  server RSS {:>7.1} MiB  sessions {}  messages {}",
                started.elapsed().as_secs_f64(),
                rss as f64 / 1048576.0,
                counts.sessions.load(Ordering::Relaxed),
                counts.messages.load(Ordering::Relaxed)
            );
            curve.push(rss);
        }
        for w in workers {
            let _ = w.await;
        }
        curve
    });
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let mut failed = Vec::new();
    if stderr.contains("panicked") {
        failed.push(format!("the server panicked:\n{stderr}"));
    }
    let unexpected = counts.unexpected.load(Ordering::Relaxed);
    if unexpected > 0 {
        failed.push(format!("{unexpected} unexpected errors"));
    }
    // Flat after warm-up (the first minute, or the first half of a shorter run: with
    // compression, 1,000 connections take 10-30 s to build their zlib contexts and for the
    // allocator to settle): the highest reading of the last half of the run after warm-up within
    // 10% (or 4 MiB) of the highest of its first half. Highs, because readings swing widely as
    // `serve` trims its heap every 10 s and the allocator takes whole regions again; a leak
    // raises the high.
    let step = (a.seconds / 20).clamp(1, 30) as usize;
    let warm = if a.seconds >= 120 {
        60 / step
    } else {
        curve.len() / 2
    };
    let after = curve.get(warm..).unwrap_or(&[]);
    if after.len() >= 2 {
        let (early, late) = after.split_at(after.len() / 2);
        let high = |r: &[u64]| r.iter().copied().max().unwrap_or(0);
        let (early, late) = (high(early), high(late));
        if late > early + (early / 10).max(4 << 20) {
            failed.push(format!(
                "memory grew after warm-up: high {early} -> {late} B"
            ));
        }
    }
    println!(
        "sessions {}, messages {}, unexpected errors {unexpected}",
        counts.sessions.load(Ordering::Relaxed),
        counts.messages.load(Ordering::Relaxed)
    );
    if failed.is_empty() {
        println!("soak passed");
        Ok(())
    } else {
        Err(failed.join("; ").into())
    }
}
