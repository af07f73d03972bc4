//! A sockudo-ws echo server for the comparison bench: the handshake by
//! `WebSocketServer::<Http1>::accept_raw` (generic over the stream, frame bytes read with the
//! request kept), then the echo loop sockudo-ws's README recommends for a Tokio stream: each text
//! or binary message queued back with `feed`, the queued replies flushed by `next()` once the
//! parsed input is used up (rather than its quick start's one `send`, so one flush, per message).
//! Default `Config`: no compression, automatic Pong and Close. Single-threaded runtime, like
//! `coro-websocket serve`. With `--tls-cert`/`--tls-key` it serves wss:// through tokio-rustls.
//!
//! `cargo run --release -p coro-websocket-bench --example sockudo_echo -- 127.0.0.1:0
//! [--tls-cert CERT.pem --tls-key KEY.pem]`

#[macro_use]
#[path = "support/echo_args.rs"]
mod echo_args;

use futures_util::{SinkExt, StreamExt};
use sockudo_ws::server::WebSocketServer;
use sockudo_ws::{Config, Http1, Message, WebSocketStream};
use tokio::io::{AsyncRead, AsyncWrite};

/// The README's echo loop, verbatim.
async fn echo_loop<S>(ws: &mut WebSocketStream<S>) -> sockudo_ws::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = ws.next().await {
        match message? {
            message @ (Message::Text(_) | Message::Binary(_)) => {
                ws.feed(message).await?;
            }
            Message::Close(_) => return Ok(()),
            _ => {} // Ping/Pong are handled by the stream.
        }
    }
    Ok(())
}

async fn echo<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let server = WebSocketServer::<Http1>::new(Config::default());
    let Ok((mut ws, _)) = server.accept_raw(stream).await else {
        return;
    };
    let _ = echo_loop(&mut ws).await;
}

echo_server_main!("127.0.0.1:9004", echo);
