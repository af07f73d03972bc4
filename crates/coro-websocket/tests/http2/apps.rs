//! The servers these tests talk to: an axum application (HTTP/1.1 and HTTP/2 on one port, as
//! `axum::serve` runs it), and a plain hyper server built with hyper-util, with or without
//! extended CONNECT and TLS.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use coro_websocket::axum::WebSocketUpgrade;
use coro_websocket::{upgrade, DeflateConfig, Reader, Rejection, ServerOptions, Writer};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::common::listener;

async fn echo(mut read: Reader, mut write: Writer) {
    while let Ok(Some(msg)) = read.read_message().await {
        if write.write(msg).await.is_err() {
            break;
        }
    }
}

/// Holds the session without ever reading: its peer's writes must stall on flow control.
async fn stall(read: Reader, write: Writer) {
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    drop((read, write));
}

fn deflate() -> ServerOptions {
    ServerOptions {
        compression: Some(DeflateConfig::default()),
        ..Default::default()
    }
}

fn guarded() -> ServerOptions {
    ServerOptions {
        on_request: Some(Arc::new(|_| Err(Rejection::new(403, "no entry")))),
        ..Default::default()
    }
}

/// The axum application: `/echo`, `/echo-deflate`, `/guarded` (refused with 403) and `/stall`.
pub async fn axum_app() -> SocketAddr {
    let app = Router::new()
        .route(
            "/echo",
            any(|ws: WebSocketUpgrade| async { ws.on_upgrade(echo) }),
        )
        .route(
            "/echo-deflate",
            any(|ws: WebSocketUpgrade| async { ws.options(deflate()).on_upgrade(echo) }),
        )
        .route(
            "/guarded",
            any(|ws: WebSocketUpgrade| async { ws.options(guarded()).on_upgrade(echo) }),
        )
        .route(
            "/stall",
            any(|ws: WebSocketUpgrade| async { ws.on_upgrade(stall) }),
        );
    let (l, addr) = listener().await;
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

/// A hyper service that echoes WebSockets with `upgrade` (but never reads on `/stall`) and
/// answers 404 to anything else.
async fn service(
    mut req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    if !upgrade::is_upgrade_request(&req) {
        let mut not_found = http::Response::new(Full::new(Bytes::from_static(b"not here")));
        *not_found.status_mut() = http::StatusCode::NOT_FOUND;
        return Ok(not_found);
    }
    Ok(match upgrade::upgrade(&mut req, ServerOptions::default()) {
        Ok((response, upgrade)) => {
            tokio::spawn(async move {
                if let Ok((req, read, write)) = upgrade.await {
                    match req.path.as_str() {
                        "/stall" => stall(read, write).await,
                        _ => echo(read, write).await,
                    }
                }
            });
            response
        }
        Err(rejection) => rejection.into(),
    })
}

/// A hyper-util server speaking HTTP/1.1 and HTTP/2 (prior knowledge, or ALPN with `tls`), with
/// extended CONNECT announced or not, and the HTTP/2 windows `upgrade` recommends.
pub async fn hyper_server(
    extended_connect: bool,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> SocketAddr {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                return;
            };
            let tls = tls.clone();
            tokio::spawn(async move {
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder
                    .http2()
                    .initial_stream_window_size(upgrade::STREAM_WINDOW)
                    .initial_connection_window_size(upgrade::CONNECTION_WINDOW);
                if extended_connect {
                    builder.http2().enable_connect_protocol();
                }
                let svc = hyper::service::service_fn(service);
                let _ = match tls {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                            .await
                    }
                    None => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(tcp), svc)
                            .await
                    }
                };
            });
        }
    });
    addr
}
