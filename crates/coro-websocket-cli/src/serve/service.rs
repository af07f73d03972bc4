//! The hyper side of `serve`: HTTP/2 connections (RFC 8441 extended CONNECT), and HTTP/1.1 ones
//! when `--static` serves files, with one service: WebSocket requests are upgraded by
//! `coro_websocket::upgrade` with the same options as `accept` uses, other GET and HEAD
//! requests get files (`--static`) or the refusal `accept` would send. Also the echo itself and
//! the `-v` lines, for both paths.

use std::convert::Infallible;
use std::sync::Arc;

use coro_websocket::handshake::HandshakeError;
use coro_websocket::pubsub::Topics;
use coro_websocket::upgrade::{self, Body, Upgrade, CONNECTION_WINDOW, STREAM_WINDOW};
use coro_websocket::{Rejection, Request, WebSocket};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{files, Site};

/// Who is at the other end, as `-v` names it: a socket address, or a Unix socket's path.
pub type Peer = Arc<str>;

/// The HTTP versions hyper may speak on a connection.
#[derive(Debug, Clone, Copy)]
pub enum Protocols {
    /// HTTP/1.1 only (a Unix socket).
    Http1,
    /// HTTP/2 only: the preface was seen, or ALPN chose `h2`.
    Http2,
    /// Either, as the connection's first bytes say (`--static`).
    Both,
}

/// Serves one connection with hyper until it ends.
pub async fn serve<S>(stream: S, site: Arc<Site>, peer: Peer, protocols: Protocols)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let builder = builder(&site, protocols);
    let service = hyper::service::service_fn(move |req| {
        let (site, peer) = (site.clone(), peer.clone());
        async move { Ok::<_, Infallible>(answer(req, &site, &peer).await) }
    });
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!("HTTP connection ended: {e}");
    }
}

/// hyper's connection settings: extended CONNECT announced (RFC 8441 §3), and the HTTP/2
/// windows `coro_websocket::upgrade` asks for, so that one stalled WebSocket does not stall its
/// connection; HTTP/1.1 heads must arrive within the handshake timeout, as with `accept`.
fn builder(site: &Site, protocols: Protocols) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .enable_connect_protocol()
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(site.options.config.handshake_timeout);
    match protocols {
        Protocols::Http1 => builder.http1_only(),
        Protocols::Http2 => builder.http2_only(),
        Protocols::Both => builder,
    }
}

/// The answer to one request.
async fn answer(
    mut req: http::Request<Incoming>,
    site: &Site,
    peer: &Peer,
) -> http::Response<Body> {
    if upgrade::is_upgrade_request(&req) {
        return match upgrade::upgrade(&mut req, site.options.clone()) {
            Ok((response, upgrade)) => {
                let topics = site.topics.clone();
                tokio::spawn(upgraded(upgrade, site.verbose, topics, peer.clone()));
                response
            }
            Err(rejection) => rejection.into(),
        };
    }
    match &site.static_dir {
        Some(dir) => files::answer(dir, req.method(), req.uri().path()).await,
        None => not_a_websocket(req.version()),
    }
}

/// What a request that is not a WebSocket upgrade gets without `--static`: the 426 `accept`
/// answers a plain GET with, `Sec-WebSocket-Version: 13` included. Over HTTP/2 without
/// `Upgrade`, a connection-specific header HTTP/2 forbids (RFC 9113 §8.2.2).
fn not_a_websocket(version: http::Version) -> http::Response<Body> {
    let mut response: http::Response<Body> =
        Rejection::for_error(&HandshakeError::MissingUpgrade).into();
    if version >= http::Version::HTTP_2 {
        response.headers_mut().remove(http::header::UPGRADE);
    }
    response
}

/// What a WebSocket does: join its topic (`--pubsub`), or echo.
///
/// A macro, not an async fn: a task keeps the size of its largest state for its whole life, and
/// an async fn keeps its arguments for its whole run, so the connection would be held twice
/// (as an argument, and inside the echo's future) and the request beside it, by every idle
/// connection. Here they are the caller's locals, moved out when the echo starts.
macro_rules! session {
    ($topics:expr, $request:expr, $ws:expr) => {
        match $topics {
            Some(topics) => {
                let topic = topic_of(&$request);
                drop($request);
                let (reader, writer) = $ws.split();
                Box::pin(super::pubsub::member(topics, topic, reader, writer)).await
            }
            None => {
                drop($request);
                // Its own task, sized for the echo alone: a task keeps the size of its largest
                // state (here the handshake's, with the request and the `WebSocket` beside the
                // echo that holds it) for its whole life, and tokio rounds a task up to 128 B.
                tokio::spawn(echo($ws));
            }
        }
    };
}

/// Runs the session of an upgraded connection once hyper hands it over.
async fn upgraded(upgrade: Upgrade, verbose: bool, topics: Option<Topics>, peer: Peer) {
    // (As in `accept_and_echo`: out of the `Result` in a `let`.)
    let (request, ws) = match upgrade.into_websocket().await {
        Ok(upgraded) => upgraded,
        Err(e) => return tracing::debug!("upgrade failed: {e}"),
    };
    if verbose {
        log_accepted(&peer, &request);
    }
    session!(topics, request, ws);
}

/// `accept` over the stream itself, then the echo: HTTP/1.1 without hyper.
pub fn accept_and_echo<S>(
    stream: S,
    site: Arc<Site>,
    peer: Peer,
) -> impl std::future::Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // An `async move` block, not an async fn, as `echo`. The handshake's future is boxed, and
    // boxed here, so that the block holds it rather than the stream: it is freed once the
    // handshake is done, while a task keeps the size of its largest state for its whole life.
    let handshake = Box::pin(WebSocket::accept(stream, site.options.clone()));
    async move {
        // (Out of the `Result` in a `let`: a `match` would keep the whole `Result` stored until
        // its end, beside the echo that runs inside it.)
        let (request, ws) = match handshake.await {
            Ok(accepted) => accepted,
            Err(e) => return tracing::debug!("handshake failed: {e}"),
        };
        if site.verbose {
            log_accepted(&peer, &request);
        }
        session!(site.topics.clone(), request, ws);
    }
}

/// The `-v` line: `accepted PEER PATH over HTTP/1.1` (or HTTP/2).
fn log_accepted(peer: &str, request: &Request) {
    let over = if request.version >= http::Version::HTTP_2 {
        "HTTP/2"
    } else {
        "HTTP/1.1"
    };
    eprintln!("accepted {peer} {} over {over}", request.path);
}

/// A `--pubsub` connection's topic: its path, without the query.
fn topic_of(request: &Request) -> String {
    request
        .path
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Echoes every data message back with the same type until the connection ends: the README's
/// loop, which is what the benchmarks measure.
// A plain fn around an `async move` block rather than an async fn: an async fn stores its
// arguments twice (as captured, and as the body's own bindings), 200 B more per connection.
#[allow(clippy::manual_async_fn)]
fn echo(mut ws: WebSocket) -> impl std::future::Future<Output = ()> + Send {
    async move {
        loop {
            let message = match ws.next().await {
                Some(Ok(message)) => message,
                Some(Err(e)) => return tracing::debug!("connection ended: {e}"),
                None => return,
            };
            if let Err(e) = ws.send(message).await {
                return tracing::debug!("write failed: {e}");
            }
        }
    }
}
