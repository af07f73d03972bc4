//! `bench --hold-pid PID`: server memory per connection. Opens `--conns` idle connections, then
//! has each exchange one message, reading the server's resident set size (`VmRSS` in
//! `/proc/PID/status`) before, while idle, and after the exchange.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use coro_websocket::WsUrl;
use futures_util::future::try_join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::{frames, open, EchoParser, Opened};
use super::stream::Transport;

/// Connections opened at once: stays under the server's accept backlog.
const CHUNK: usize = 200;

/// The resident set size of process `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse()?;
            return Ok(kib * 1024);
        }
    }
    bail!("no VmRSS in /proc/{pid}/status")
}

/// The three readings and what they mean per connection.
pub struct Memory {
    /// Connections held.
    pub conns: usize,
    /// Server RSS before connecting, in bytes.
    pub before: u64,
    /// Server RSS with every connection open and idle.
    pub idle: u64,
    /// Server RSS after every connection exchanged one message.
    pub after_message: u64,
}

impl Memory {
    /// Bytes per idle connection.
    pub fn per_idle(&self) -> f64 {
        self.idle.saturating_sub(self.before) as f64 / self.conns as f64
    }

    /// Bytes per connection that has exchanged one message.
    pub fn per_used(&self) -> f64 {
        self.after_message.saturating_sub(self.before) as f64 / self.conns as f64
    }
}

/// Sends one message and waits for its echo.
async fn exchange(opened: &mut Opened, frame: &[u8]) -> Result<()> {
    opened.stream.write_all(frame).await?;
    opened.stream.flush().await?;
    let mut parser = EchoParser::default();
    let mut buf = std::mem::take(&mut opened.leftover);
    let mut chunk = [0u8; 4096];
    loop {
        let (done, used) = parser.feed(&buf)?;
        buf.drain(..used);
        if done > 0 {
            return Ok(());
        }
        let n = opened.stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Holds `conns` connections to the server through `transport` and measures process `pid`.
pub async fn measure(
    url: &WsUrl,
    transport: &Transport,
    pid: u32,
    conns: usize,
    size: usize,
    binary: bool,
) -> Result<Memory> {
    let settle = Duration::from_millis(1500);
    let before = rss_bytes(pid)?;
    let mut held: Vec<Opened> = Vec::with_capacity(conns);
    while held.len() < conns {
        let n = CHUNK.min(conns - held.len());
        let base = held.len() as u64;
        let batch = try_join_all((0..n as u64).map(|i| open(url, transport, base + i))).await?;
        held.extend(batch);
    }
    tokio::time::sleep(settle).await;
    let idle = rss_bytes(pid)?;
    let (frame, _) = frames(size, binary, 1, [0x11, 0x22, 0x33, 0x44]);
    for chunk in held.chunks_mut(CHUNK) {
        try_join_all(chunk.iter_mut().map(|c| exchange(c, &frame))).await?;
    }
    tokio::time::sleep(settle).await;
    let after_message = rss_bytes(pid)?;
    drop(held);
    Ok(Memory {
        conns,
        before,
        idle,
        after_message,
    })
}
