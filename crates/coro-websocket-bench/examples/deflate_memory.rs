//! Server memory per connection with permessage-deflate, measured on a real `serve --compress`.
//!
//! ```sh
//! cargo build --release -p coro-websocket-cli
//! cargo run --release -p coro-websocket-bench --example deflate_memory -- target/release/coro-websocket 1000
//! ```
//!
//! For each mode it starts a server, opens N connections that each exchange one 1 KiB JSON
//! message (so every compressor and decompressor the mode keeps has been created), and reads the
//! server's VmRSS from /proc/PID/status (Linux only) before and after.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use coro_websocket::{connect, DeflateConfig, Message, Options};
use coro_websocket_bench::procfs;

/// The server's VmRSS in KiB; 0 when unreadable.
fn rss_kib(pid: u32) -> u64 {
    procfs::rss_bytes(pid).map_or(0, |b| b / 1024)
}

fn json_message() -> String {
    let mut s = String::from("[");
    for i in 0..20 {
        s.push_str(&format!(
            r#"{{"id":{i},"name":"user{i}","active":true,"score":{}}},"#,
            i * 37
        ));
    }
    s.push_str("{}]");
    s
}

async fn measure(server_bin: &str, n: usize, mode: &str) {
    let mut child = Command::new(server_bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--compress"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().trim_start_matches("listening on ").to_owned();
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib(pid);
    let compression = match mode {
        "off" => None,
        "default" => Some(DeflateConfig::default()),
        _ => {
            let mut small = DeflateConfig::default();
            small.server_no_context_takeover = true;
            small.client_no_context_takeover = true;
            small.server_max_window_bits = Some(9);
            small.client_max_window_bits = Some(9);
            Some(small)
        }
    };
    let payload = json_message();
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut options = Options::from_url(&url).unwrap();
        options.compression = compression.clone();
        let (res, mut reader, mut writer) = connect(options).await.expect("connect");
        assert_eq!(res.extensions.is_some(), compression.is_some());
        if held.is_empty() {
            eprintln!("{mode}: {:?}", res.extensions);
        }
        writer.write(Message::text(payload.clone())).await.unwrap();
        let echo = reader.read_message().await.unwrap().unwrap();
        assert_eq!(echo.payload.len(), payload.len());
        held.push((reader, writer));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    println!(
        "| {mode} | {n} | {before} KiB | {after} KiB | {:.1} KiB |",
        (after.saturating_sub(before)) as f64 / n as f64
    );
    drop(held);
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let server_bin = args
        .next()
        .unwrap_or_else(|| "target/release/coro-websocket".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    println!("| compression | connections | server RSS before | after | per connection |");
    println!("|---|---|---|---|---|");
    for mode in ["off", "default", "smallest"] {
        measure(&server_bin, n, mode).await;
    }
}
