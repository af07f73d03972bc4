//! Our echo server with batch reads, to measure [`WebSocket::read_batch`] beside `serve`'s plain
//! `next()`/`send()` loop: every whole message already received is taken at once, and the
//! replies stay corked until the next read writes them out together. Not a column of `compare`:
//! run it by hand against `bench` (docs/performance.md). Default `ServerOptions`, single-threaded
//! runtime, like `coro-websocket serve`; `--tls-cert`/`--tls-key` serve wss://.
//!
//! `cargo run --release -p coro-websocket-bench --example batch_echo -- 127.0.0.1:0
//! [--tls-cert CERT.pem --tls-key KEY.pem]`

#[macro_use]
#[path = "support/echo_args.rs"]
mod echo_args;

use coro_websocket::{ServerOptions, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};

/// `read_batch`'s documented loop.
async fn echo<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Ok((_request, mut ws)) = WebSocket::accept(stream, ServerOptions::default()).await else {
        return;
    };
    let mut batch = Vec::new();
    while let Ok(n) = ws.read_batch(&mut batch).await {
        if n == 0 {
            return;
        }
        for message in batch.drain(..) {
            if ws.write(message).await.is_err() {
                return;
            }
        }
    }
}

echo_server_main!("127.0.0.1:9005", echo);
