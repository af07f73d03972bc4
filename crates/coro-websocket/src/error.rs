//! The crate's errors: [`Error`], and the error types of each layer it wraps. Peer violations,
//! caller misuse, handshake failures, I/O and timeouts are kept apart so callers can tell who was
//! at fault.

use std::time::Duration;

pub use crate::config::{ConfigError, ConfigProblem};
pub use crate::handshake::{HandshakeError, RequestError};
pub use crate::proto::deflate::{AnswerError, DeflateConfigError};
pub use crate::proto::{ProtocolError, SendError};
pub use crate::proxy::ProxyError;
pub use crate::redirect::RedirectError;
pub use crate::url::UrlError;

use crate::proto::CloseFrame;

/// Everything that can go wrong with a WebSocket connection.
///
/// Each message is complete: it names its cause, so `{}` prints everything and `source()` adds
/// nothing (a chain printer such as anyhow's shows each cause once). Match on the variant, or
/// ask [`Error::is_peer_fault`], [`Error::is_misuse`] and [`Error::is_timeout`], to tell who was
/// at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL given was not a usable WebSocket URL.
    #[error(transparent)]
    Url(UrlError),
    /// A [`Config`](crate::Config) value cannot work.
    #[error(transparent)]
    Config(ConfigError),
    /// A permessage-deflate setting is out of range.
    #[error(transparent)]
    DeflateConfig(DeflateConfigError),
    /// The options name no place to connect to, or ask for what this platform lacks.
    #[error("invalid options: {0}")]
    Options(OptionsError),
    /// A TLS setting could not be used (bad PEM, bad server name).
    #[error("invalid TLS configuration: {0}")]
    TlsConfig(Box<dyn std::error::Error + Send + Sync>),
    /// The caller's request cannot be sent (a bad or reserved header, a bad path).
    #[error("invalid upgrade request: {0}")]
    Request(RequestError),
    /// The TLS layer failed (e.g. the certificate is not trusted).
    #[error("TLS error: {0}")]
    Tls(std::io::Error),
    /// The opening handshake failed; for a refused upgrade this carries the HTTP answer.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(HandshakeError),
    /// The peer violated RFC 6455; the matching close code was sent to it.
    #[error("protocol violation by the peer: {0}")]
    Protocol(ProtocolError),
    /// The caller asked to send a frame that RFC 6455 forbids; nothing was sent.
    #[error("invalid frame to send: {0}")]
    Send(SendError),
    /// The connection is closed: no more frames can be sent. Carries the close frames exchanged.
    #[error("connection closed{}", describe_closed(.0))]
    ConnectionClosed(Box<Closed>),
    /// The peer dropped the connection without a close frame (what RFC 6455 calls 1006).
    #[error("connection closed abnormally: the peer sent no close frame")]
    AbnormalClosure,
    /// An operation did not complete in time.
    #[error("{0} timed out after {1:?}")]
    Timeout(TimeoutKind, Duration),
    /// The heartbeat's ping was not answered in time: the peer is presumed dead.
    #[error("peer not responding: no answer to a keep-alive ping within {0:?}")]
    PeerNotResponding(Duration),
    /// A socket error.
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    /// Connecting through the proxy failed; the [`ProxyError`] says where.
    #[error("proxy: {0}")]
    Proxy(ProxyError),
    /// A redirect answer to the upgrade request could not be followed.
    #[error("redirect: {0}")]
    Redirect(RedirectError),
    /// The pub/sub broker (Redis, NATS) could not be reached or used.
    #[error("broker: {0}")]
    Broker(Box<dyn std::error::Error + Send + Sync>),
    /// The WebSocket over HTTP/2 (RFC 8441) failed: not offered, the connection failed, or the
    /// stream was reset (an abnormal closure, with the HTTP/2 error code).
    #[error("HTTP/2: {0}")]
    Http2(Http2Error),
}

/// What went wrong with a WebSocket over HTTP/2 (RFC 8441).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Http2Error {
    /// TLS did not agree on `h2` (ALPN): the server does not speak HTTP/2 there.
    #[error("the server did not agree to HTTP/2 (ALPN h2)")]
    NotNegotiated,
    /// The server's SETTINGS do not allow extended CONNECT (`SETTINGS_ENABLE_CONNECT_PROTOCOL`
    /// is not 1, RFC 8441 §3): it takes no WebSockets over HTTP/2.
    #[error(
        "the server does not offer WebSockets over HTTP/2 (no SETTINGS_ENABLE_CONNECT_PROTOCOL)"
    )]
    ExtendedConnectNotOffered,
    /// The HTTP/2 connection failed (or the peer does not speak HTTP/2).
    #[error("connection failed: {0}")]
    Connection(String),
    /// The stream was reset (RST_STREAM) or the connection went away (GOAWAY) with this
    /// HTTP/2 error code (RFC 9113 §7), before the WebSocket's closing handshake: an abnormal
    /// closure.
    #[error("stream reset with HTTP/2 error code {0:#x}")]
    Reset(u32),
}

impl Http2Error {
    /// Whether the server simply does not take WebSockets over HTTP/2, so that HTTP/1.1 may
    /// work where this failed.
    pub fn means_not_offered(&self) -> bool {
        matches!(
            self,
            Http2Error::NotNegotiated
                | Http2Error::ExtendedConnectNotOffered
                | Http2Error::Connection(_)
        )
    }
}

/// Options that cannot be acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// Neither `host`, `port` nor `path` was given.
    #[error("no host, port or path given")]
    NoDestination,
    /// A Unix socket `path` on a platform without Unix sockets.
    #[error("Unix sockets are not supported on this platform")]
    UnixUnsupported,
    /// HTTP/2 was asked for, but this build lacks the `http2` feature.
    #[error("HTTP/2 needs the `http2` feature of coro-websocket")]
    Http2Disabled,
}

/// `From` for each variant that wraps one cause.
macro_rules! wraps {
    ($($cause:ty => $variant:ident),* $(,)?) => {$(
        impl From<$cause> for Error {
            fn from(e: $cause) -> Self {
                Error::$variant(e)
            }
        }
    )*};
}

wraps! {
    UrlError => Url,
    ConfigError => Config,
    DeflateConfigError => DeflateConfig,
    OptionsError => Options,
    RequestError => Request,
    HandshakeError => Handshake,
    ProtocolError => Protocol,
    SendError => Send,
    std::io::Error => Io,
    ProxyError => Proxy,
    RedirectError => Redirect,
    Http2Error => Http2,
}

/// The close frames of a finished connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closed {
    /// The close frame this endpoint sent, if any (code 1005 for an empty close body).
    pub sent: Option<CloseFrame>,
    /// The close frame the peer sent, if any (code 1005 for an empty close body).
    pub received: Option<CloseFrame>,
}

fn describe_closed(c: &Closed) -> String {
    let show = |f: &Option<CloseFrame>| match f {
        None => "none".to_owned(),
        Some(f) => f.to_string(),
    };
    format!(" (sent {}, received {})", show(&c.sent), show(&c.received))
}

/// Which operation timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Client: TCP connect, TLS and the HTTP upgrade together.
    Connect,
    /// Server: receiving the client's upgrade request.
    Handshake,
    /// The closing handshake.
    Close,
}

impl std::fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connecting",
            TimeoutKind::Handshake => "the opening handshake",
            TimeoutKind::Close => "the closing handshake",
        })
    }
}

impl Error {
    /// Whether the caller is to blame: an unusable URL, configuration, option, TLS setting,
    /// request header, or a frame RFC 6455 forbids sending. Retrying the same call fails again.
    pub fn is_misuse(&self) -> bool {
        matches!(
            self,
            Error::Url(_)
                | Error::Config(_)
                | Error::DeflateConfig(_)
                | Error::Options(_)
                | Error::TlsConfig(_)
                | Error::Request(_)
                | Error::Send(_)
        )
    }

    /// Whether the peer is to blame: a protocol violation, a failed handshake check, or an
    /// abnormal closure.
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            Error::Protocol(_) | Error::Handshake(_) | Error::AbnormalClosure
        )
    }

    /// Whether this is a timeout of any kind (including [`Error::PeerNotResponding`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(..) | Error::PeerNotResponding(_))
    }

    /// The HTTP status of a refused upgrade, if that is what this is.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Handshake(HandshakeError::Rejected(r)) => Some(r.status),
            _ => None,
        }
    }
}

/// A read error as the session reports it: an HTTP/2 stream reset (RST_STREAM, from hyper's
/// upgraded stream or ours) becomes [`Http2Error::Reset`](crate::error::Http2Error::Reset) with
/// its code, anything else [`Error::Io`].
pub(crate) fn read_error(e: std::io::Error) -> Error {
    #[cfg(any(feature = "http2", feature = "hyper"))]
    if let Some(code) = reset_code(&e) {
        return Http2Error::Reset(code).into();
    }
    Error::Io(e)
}

#[cfg(any(feature = "http2", feature = "hyper"))]
/// The reset code in an I/O error that came from an HTTP/2 stream, if it is one.
fn reset_code(e: &std::io::Error) -> Option<u32> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|e| e as _);
    while let Some(c) = cause {
        if let Some(h2) = c.downcast_ref::<h2::Error>() {
            return h2.reason().map(u32::from);
        }
        cause = c.source();
    }
    None
}
