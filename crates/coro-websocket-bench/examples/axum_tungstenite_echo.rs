//! axum's own WebSocket echo (`axum::extract::ws`, tokio-tungstenite underneath), the peer of
//! `coro-websocket`'s axum example (`cargo run -p coro-websocket --features axum --example
//! axum_echo`) in the comparison bench (`compare --axum`). Written as axum's documentation
//! writes one; single-threaded runtime, like every server the bench measures.
//!
//! `cargo run --release -p coro-websocket-bench --example axum_tungstenite_echo -- 127.0.0.1:0`

use std::io::Write;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::routing::any;
use axum::Router;

async fn echo(ws: WebSocketUpgrade) -> axum::response::Response {
    ws.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            match msg {
                Message::Text(_) | Message::Binary(_) => {
                    if socket.send(msg).await.is_err() {
                        break;
                    }
                }
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into());
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
