//! `bench --hold-pid PID`: server memory per connection. Opens `--conns` idle connections, then
//! has each exchange one message, reading the server's resident set size (`VmRSS` in
//! `/proc/PID/status`, Linux only) before, while idle, and after the exchange.

use std::time::Duration;

use anyhow::{bail, Result};
use coro_websocket::WsUrl;
use futures_util::future::try_join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::conn::{frames, EchoParser, Opened};
use crate::procfs::rss_bytes;
use crate::stream::Transport;
use crate::{open_all, OPEN_CHUNK};

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
    let mut held = open_all(url, transport, conns).await?;
    tokio::time::sleep(settle).await;
    let idle = rss_bytes(pid)?;
    let (frame, _) = frames(size, binary, 1, [0x11, 0x22, 0x33, 0x44]);
    for chunk in held.chunks_mut(OPEN_CHUNK) {
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
