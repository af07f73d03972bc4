//! WebSocket upgrades inside a hyper 1.x service, over HTTP/1.1 (`Upgrade: websocket`, RFC 6455
//! §4) and HTTP/2 (extended CONNECT, RFC 8441). Feature `hyper`.
//!
//! The request is checked as [`accept`](crate::accept) checks one, with the same
//! [`ServerOptions`] (subprotocols, the request hook, permessage-deflate, limits, heartbeat),
//! and answered: `101 Switching Protocols` over HTTP/1.1, `200` over HTTP/2, or the same HTTP
//! error `accept` would send. Once hyper hands over the connection (or the HTTP/2 stream), the
//! session runs on it exactly as on a TCP stream.
//!
//! For HTTP/2, the server must announce extended CONNECT:
//! `hyper::server::conn::http2::Builder::enable_connect_protocol()` (`axum::serve` does).
//! HTTP/2 flow control is then the backpressure of each WebSocket: a reader that stops reading
//! stops its peer's stream. Data a stalled reader has not read also holds the *connection's*
//! window, so give the connection a window many times the stream's ([`STREAM_WINDOW`],
//! [`CONNECTION_WINDOW`], as `coro-websocket serve` does); with hyper's defaults (1 MiB each,
//! which `axum::serve` keeps) one stalled WebSocket stalls every other one on its connection.
//!
//! ```no_run
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use coro_websocket::{upgrade, ServerOptions};
//!
//! async fn service(mut req: http::Request<hyper::body::Incoming>) -> Result<http::Response<Full<Bytes>>, Infallible> {
//!     if !upgrade::is_upgrade_request(&req) {
//!         return Ok(http::Response::new(Full::new(Bytes::from("not a WebSocket"))));
//!     }
//!     match upgrade::upgrade(&mut req, ServerOptions::default()) {
//!         Ok((response, upgrade)) => {
//!             tokio::spawn(async move {
//!                 let Ok((_request, mut read, mut write)) = upgrade.await else { return };
//!                 while let Ok(Some(msg)) = read.read_message().await {
//!                     if write.write(msg).await.is_err() { break }
//!                 }
//!             });
//!             Ok(response)
//!         }
//!         Err(rejection) => Ok(rejection.into()),
//!     }
//! }
//! ```

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use super::conn::{start_session, Conn, Start};
use super::server::{admit, Admitted, Over};
use crate::error::Error;
use crate::handshake::{accept_key, has_token, Headers, Rejection, Request, PROTOCOL};
use crate::options::ServerOptions;
use crate::proto::deflate::Deflate;
use crate::proto::Role;
use crate::session::{Reader, WebSocket, Writer};

/// A stream receive window for HTTP/2 servers that carry WebSockets: what one stalled reader
/// holds at most (`http2().initial_stream_window_size(STREAM_WINDOW)`).
pub const STREAM_WINDOW: u32 = 256 << 10;

/// A connection receive window to go with [`STREAM_WINDOW`]: the connection stalls only when 64
/// readers have stalled (`http2().initial_connection_window_size(CONNECTION_WINDOW)`).
pub const CONNECTION_WINDOW: u32 = 64 * STREAM_WINDOW;

/// The body of the answers this module builds.
pub type Body = Full<Bytes>;

/// Whether `req` asks for a WebSocket: an HTTP/1.1 `GET` with `Upgrade: websocket`, or an
/// HTTP/2 `CONNECT` with the `:protocol` pseudo-header `websocket`. It does not check the rest
/// of the request; [`upgrade`] does.
pub fn is_upgrade_request<B>(req: &http::Request<B>) -> bool {
    if req.version() >= http::Version::HTTP_2 {
        return req.method() == http::Method::CONNECT
            && req
                .extensions()
                .get::<hyper::ext::Protocol>()
                .is_some_and(|p| p.as_str().eq_ignore_ascii_case(PROTOCOL));
    }
    req.headers()
        .get_all(http::header::UPGRADE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| has_token(v, "websocket")))
}

/// Checks a WebSocket request and answers it.
///
/// On success, returns the answer for hyper to send (`101` over HTTP/1.1, `200` over HTTP/2)
/// and an [`Upgrade`] that, awaited, gives the request and the session once hyper has handed
/// the connection over. It takes hyper's upgrade handle out of `req`, so call it before the
/// request is consumed.
///
/// # Errors
/// A [`Rejection`] to send instead (it converts into an `http::Response`): the HTTP error for a
/// bad request (400, 405, 426 with `Sec-WebSocket-Version: 13`), or the one the request hook
/// chose.
pub fn upgrade<B>(
    req: &mut http::Request<B>,
    options: ServerOptions,
) -> Result<(http::Response<Body>, Upgrade), Rejection> {
    let protocol = req
        .extensions()
        .get::<hyper::ext::Protocol>()
        .map(|p| p.as_str().to_owned());
    let request = request_of(req.method(), req.uri(), req.version(), req.headers());
    upgrade_with(
        request,
        protocol.as_deref(),
        hyper::upgrade::on(req),
        options,
    )
}

/// [`upgrade`] for a request already taken apart (an extractor's `Parts`): `protocol` is the
/// HTTP/2 `:protocol` pseudo-header, `on_upgrade` hyper's upgrade handle.
pub(crate) fn upgrade_with(
    mut request: Request,
    protocol: Option<&str>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    options: ServerOptions,
) -> Result<(http::Response<Body>, Upgrade), Rejection> {
    let over = if request.version >= http::Version::HTTP_2 {
        Over::Http2 { protocol }
    } else {
        Over::Http1
    };
    let admitted = admit(&mut request, &options, over).map_err(|r| r.into_parts().0)?;
    let response = response_to(&request, &admitted, &options.headers);
    let Admitted { deflate, .. } = admitted;
    let upgrade = Upgrade {
        on_upgrade,
        request,
        deflate: deflate.map(|(agreed, _)| agreed),
        options,
    };
    Ok((response, upgrade))
}

/// A WebSocket upgrade whose answer is on its way: awaiting it gives the request (with the
/// selected subprotocol) and the session's reader and writer, once hyper hands the connection
/// over (after it has sent the answer).
///
/// # Errors
/// The awaited result is [`Error::Io`] if hyper could not hand the connection over (the client
/// went away, or the service's answer was not the one [`upgrade`] built).
pub struct Upgrade {
    on_upgrade: hyper::upgrade::OnUpgrade,
    request: Request,
    deflate: Option<Deflate>,
    options: ServerOptions,
}

impl std::fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrade")
            .field("request", &self.request)
            .field("deflate", &self.deflate)
            .finish_non_exhaustive()
    }
}

impl Upgrade {
    /// The request being upgraded, with the subprotocol the server selected.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Waits for the connection, as awaiting the `Upgrade` does, and returns it as one
    /// [`WebSocket`] instead of a reader and a writer.
    ///
    /// # Errors
    /// As awaiting the `Upgrade`.
    pub async fn into_websocket(self) -> Result<(Request, WebSocket), Error> {
        let upgraded = self
            .on_upgrade
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        let start = Start {
            leftover: BytesMut::new(),
            config: &self.options.config,
            heartbeat: self.options.heartbeat,
            control: None,
            deflate: self.deflate,
        };
        let stream = Conn::Other(Box::new(TokioIo::new(upgraded)));
        Ok((self.request, start_session(stream, Role::Server, start)))
    }
}

impl IntoFuture for Upgrade {
    type Output = Result<(Request, Reader, Writer), Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (request, ws) = self.into_websocket().await?;
            let (reader, writer) = ws.split();
            Ok((request, reader, writer))
        })
    }
}

impl From<Rejection> for http::Response<Body> {
    fn from(rejection: Rejection) -> Self {
        let mut response = http::Response::new(Full::new(rejection.body.clone()));
        *response.status_mut() =
            http::StatusCode::from_u16(rejection.status).unwrap_or(http::StatusCode::BAD_REQUEST);
        let headers = response.headers_mut();
        for (name, value) in rejection.headers.iter() {
            // Header values come from the application: drop any that would break the message.
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        if !rejection.body.is_empty() && !headers.contains_key(http::header::CONTENT_TYPE) {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        response
    }
}

/// The request as the handshake sees it: method, target, version and headers in order.
pub(crate) fn request_of(
    method: &http::Method,
    uri: &http::Uri,
    version: http::Version,
    headers: &http::HeaderMap,
) -> Request {
    let headers: Headers = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    Request {
        method: method.as_str().to_owned(),
        path: uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        version,
        headers,
        subprotocol: None,
    }
}

/// The accepting answer: 101 with the RFC 6455 §4.2.2 headers over HTTP/1.1, 200 over HTTP/2
/// (RFC 8441 §5: no `Sec-WebSocket-Accept`, no `Upgrade`), then the selected subprotocol and
/// extensions and the server's own headers.
fn response_to(request: &Request, admitted: &Admitted, extra: &Headers) -> http::Response<Body> {
    let mut response = http::Response::new(Full::new(Bytes::new()));
    if let Some(key) = &admitted.key {
        *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(
            http::header::UPGRADE,
            http::HeaderValue::from_static("websocket"),
        );
        h.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("upgrade"),
        );
        if let Ok(accept) = http::HeaderValue::from_str(&accept_key(key)) {
            h.insert(http::header::SEC_WEBSOCKET_ACCEPT, accept);
        }
    }
    let optional = [
        (
            http::header::SEC_WEBSOCKET_PROTOCOL,
            request.subprotocol.as_deref(),
        ),
        (
            http::header::SEC_WEBSOCKET_EXTENSIONS,
            admitted.extensions(),
        ),
    ];
    let h = response.headers_mut();
    for (name, value) in optional {
        if let Some(value) = value.and_then(|v| http::HeaderValue::from_str(v).ok()) {
            h.insert(name, value);
        }
    }
    for (name, value) in extra.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            h.append(name, value);
        }
    }
    response
}
