//! An echo server in axum with this crate's WebSocket extractor: one handler, registered with
//! `any(..)`, serves WebSockets over HTTP/1.1 and over HTTP/2 (RFC 8441) on the same port.
//!
//! ```sh
//! cargo run --release -p coro-websocket --features axum --example axum_echo -- 127.0.0.1:9001 [--compress]
//! ```
//!
//! It prints `listening on ws://ADDR` once it accepts; every path echoes every message with its
//! type. `--compress` accepts permessage-deflate offers.

use std::io::Write;

use axum::extract::State;
use axum::routing::any;
use axum::Router;
use coro_websocket::axum::WebSocketUpgrade;
use coro_websocket::{DeflateConfig, ServerOptions};

async fn echo(
    State(options): State<ServerOptions>,
    ws: WebSocketUpgrade,
) -> axum::response::Response {
    ws.options(options)
        .on_upgrade(|mut read, mut write| async move {
            while let Ok(Some(msg)) = read.read_message().await {
                if write.write(msg).await.is_err() {
                    break;
                }
            }
        })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let options = ServerOptions {
        compression: args
            .iter()
            .any(|a| a == "--compress")
            .then(DeflateConfig::default),
        ..Default::default()
    };
    let app = Router::new()
        .route("/", any(echo))
        .route("/{*path}", any(echo))
        .with_state(options);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on ws://{}", listener.local_addr()?)?;
    out.flush()?;
    drop(out);
    axum::serve(listener, app).await
}
