//! An echo server in axum with this crate's WebSocket extractor: one handler, registered with
//! `any(..)`, serves WebSockets over HTTP/1.1 and over HTTP/2 (RFC 8441) on the same port.
//!
//! ```sh
//! cargo run --release -p coro-websocket --features axum --example axum_echo -- 127.0.0.1:9001
//! ```
//!
//! It prints `listening on ws://ADDR` once it accepts; `/` echoes every message with its type.

use axum::routing::any;
use axum::Router;
use coro_websocket::axum::WebSocketUpgrade;
use std::io::Write;

async fn echo(ws: WebSocketUpgrade) -> axum::response::Response {
    ws.on_upgrade(|mut read, mut write| async move {
        while let Ok(Some(msg)) = read.read_message().await {
            if write.write(msg).await.is_err() {
                break;
            }
        }
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let app = Router::new()
        .route("/", any(echo))
        .route("/{*path}", any(echo));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on ws://{}", listener.local_addr()?)?;
    out.flush()?;
    drop(out);
    axum::serve(listener, app).await
}
