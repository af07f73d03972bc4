//! A tokio-tungstenite echo server for the comparison bench, written as tokio-tungstenite's own
//! `echo-server` example is: `accept_async`, then the read half forwarded into the write half
//! (`forward` flushes only when the read half has nothing buffered). Single-threaded runtime, like
//! `coro-websocket serve`. With `--tls-cert`/`--tls-key` it serves wss:// through tokio-rustls.
//!
//! `cargo run --release -p coro-websocket-bench --example tungstenite_echo -- 127.0.0.1:0
//! [--tls-cert CERT.pem --tls-key KEY.pem]`

#[macro_use]
#[path = "support/echo_args.rs"]
mod echo_args;

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncWrite};

async fn echo<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (write, read) = ws.split();
    let _ = read
        .try_filter(|m| future::ready(m.is_text() || m.is_binary()))
        .forward(write)
        .await;
}

echo_server_main!("127.0.0.1:9002", echo);
