//! A fastwebsockets echo server for the comparison bench, written as fastwebsockets' own
//! `echo_server` example is: hyper's HTTP/1 upgrade, a `FragmentCollector` (auto close and auto
//! pong on by default), one `write_frame` per message. Single-threaded runtime, like
//! `coro-websocket serve`. With `--tls-cert`/`--tls-key` it serves wss:// through tokio-rustls.
//!
//! `cargo run --release -p coro-websocket-bench --example fastws_echo -- 127.0.0.1:0
//! [--tls-cert CERT.pem --tls-key KEY.pem]`

#[macro_use]
#[path = "support/echo_args.rs"]
mod echo_args;

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite};

async fn echo(upgraded: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(upgraded.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
    Ok(())
}

async fn upgrade(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, upgraded) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        let _ = tokio::task::unconstrained(echo(upgraded)).await;
    });
    Ok(response)
}

/// Serves HTTP/1 with upgrades on one connection, as fastwebsockets' example does.
async fn http<S>(io: S)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let io = hyper_util::rt::TokioIo::new(io);
    let _ = http1::Builder::new()
        .serve_connection(io, service_fn(upgrade))
        .with_upgrades()
        .await;
}

echo_server_main!("127.0.0.1:9003", http);
