//! An axum 0.8 extractor for WebSocket upgrades, in the shape of axum's own
//! `axum::extract::WebSocketUpgrade`, with this crate's session underneath. Feature `axum`.
//!
//! Register the handler with `any(..)`: an HTTP/1.1 upgrade is a `GET`, an HTTP/2 one a `CONNECT`
//! (RFC 8441), and one handler serves both. `axum::serve` announces extended CONNECT on HTTP/2.
//!
//! ```no_run
//! use axum::{routing::any, Router};
//! use coro_websocket::axum::WebSocketUpgrade;
//!
//! async fn echo(ws: WebSocketUpgrade) -> axum::response::Response {
//!     ws.on_upgrade(|mut read, mut write| async move {
//!         while let Ok(Some(msg)) = read.read_message().await {
//!             if write.write(msg).await.is_err() { break }
//!         }
//!     })
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/ws", any(echo));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::handshake::{HandshakeError, Rejection, Request};
use crate::io::upgrade::{request_of, upgrade_with};
use crate::options::ServerOptions;
use crate::session::{Reader, Writer};

/// A WebSocket upgrade request, extracted: answer it with [`WebSocketUpgrade::on_upgrade`].
///
/// Extraction fails, with the HTTP answer [`accept`](crate::accept) would give, when the
/// request is not an upgrade that hyper can hand over. The full check (RFC 6455 §4.2.1 or RFC
/// 8441 §5, the request hook, subprotocols, permessage-deflate) runs in `on_upgrade`, with the
/// [`ServerOptions`] given to [`WebSocketUpgrade::options`].
pub struct WebSocketUpgrade {
    request: Request,
    protocol: Option<String>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    options: ServerOptions,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("request", &self.request)
            .field("protocol", &self.protocol)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let request = request_of(&parts.method, &parts.uri, parts.version, &parts.headers);
        let protocol = parts
            .extensions
            .get::<hyper::ext::Protocol>()
            .map(|p| p.as_str().to_owned());
        let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
            // Not an upgrade hyper can hand over: for HTTP/1.1 the answer to a missing
            // `Upgrade: websocket` (426), for HTTP/2 a CONNECT that was not one (400/405).
            let error = if parts.version >= http::Version::HTTP_2 {
                HandshakeError::InvalidProtocol(protocol)
            } else {
                HandshakeError::MissingUpgrade
            };
            return Err(into_response(Rejection::for_error(&error)));
        };
        Ok(WebSocketUpgrade {
            request,
            protocol,
            on_upgrade,
            options: ServerOptions::default(),
        })
    }
}

impl WebSocketUpgrade {
    /// Checks the request with these options (subprotocols, the request hook, permessage-deflate,
    /// limits, heartbeat) instead of the defaults.
    pub fn options(mut self, options: ServerOptions) -> WebSocketUpgrade {
        self.options = options;
        self
    }

    /// The request, as the handshake sees it (over HTTP/2 its method is `CONNECT`).
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Checks the request and answers it; once the connection is handed over, runs `callback`
    /// with the session's reader and writer in a task of its own.
    ///
    /// A request that fails the check gets the HTTP error `accept` would send (400, 405, 426,
    /// or the hook's answer), and `callback` never runs.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(Reader, Writer) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_upgrade_with_request(|_, reader, writer| callback(reader, writer))
    }

    /// [`WebSocketUpgrade::on_upgrade`], with the request too (its path, headers, and the
    /// subprotocol selected).
    pub fn on_upgrade_with_request<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(Request, Reader, Writer) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let WebSocketUpgrade {
            request,
            protocol,
            on_upgrade,
            options,
        } = self;
        match upgrade_with(request, protocol.as_deref(), on_upgrade, options) {
            Ok((response, upgrade)) => {
                tokio::spawn(async move {
                    match upgrade.await {
                        Ok((request, reader, writer)) => callback(request, reader, writer).await,
                        Err(e) => tracing::debug!("WebSocket upgrade failed: {e}"),
                    }
                });
                response.map(axum::body::Body::new)
            }
            Err(rejection) => into_response(rejection),
        }
    }
}

fn into_response(rejection: Rejection) -> Response {
    http::Response::<crate::io::upgrade::Body>::from(rejection)
        .map(axum::body::Body::new)
        .into_response()
}
