//! The crate's error type: peer violations, caller misuse, handshake failures, I/O and timeouts
//! are kept apart so callers can tell who was at fault.

use std::time::Duration;

use crate::config::ConfigError;
use crate::handshake::HandshakeError;
use crate::proto::{CloseFrame, ProtocolError, SendError};
use crate::proxy::ProxyError;
use crate::redirect::RedirectError;
use crate::url::UrlError;

/// Everything that can go wrong with a WebSocket connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL given was not a usable WebSocket URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A [`Config`](crate::Config) value cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A permessage-deflate setting is out of range.
    #[error(transparent)]
    DeflateConfig(#[from] crate::proto::deflate::DeflateConfigError),
    /// The options name no place to connect to, or contradict each other.
    #[error("invalid options: {0}")]
    Options(&'static str),
    /// A TLS setting could not be used (bad PEM, bad server name).
    #[error("invalid TLS configuration: {0}")]
    TlsConfig(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The TLS layer failed (e.g. the certificate is not trusted).
    #[error("TLS error: {0}")]
    Tls(#[source] std::io::Error),
    /// The opening handshake failed; for a refused upgrade this carries the status and body.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The peer violated RFC 6455; the matching close code was sent to it.
    #[error("protocol violation by the peer: {0}")]
    Protocol(#[from] ProtocolError),
    /// The caller asked to send a frame that RFC 6455 forbids; nothing was sent.
    #[error("invalid frame to send: {0}")]
    Send(#[source] SendError),
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
    Io(#[from] std::io::Error),
    /// Connecting through the proxy failed; the [`ProxyError`] says where.
    #[error("proxy: {0}")]
    Proxy(#[from] ProxyError),
    /// A redirect answer to the upgrade request could not be followed.
    #[error("redirect: {0}")]
    Redirect(#[from] RedirectError),
}

/// The close frames of a finished connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closed {
    /// The close frame this endpoint sent, if any (`None` inside for an empty close body).
    pub sent: Option<Option<CloseFrame>>,
    /// The close frame the peer sent, if any.
    pub received: Option<Option<CloseFrame>>,
}

fn describe_closed(c: &Closed) -> String {
    let show = |f: &Option<Option<CloseFrame>>| match f {
        None => "none".to_owned(),
        Some(None) => "no status".to_owned(),
        Some(Some(f)) => f.to_string(),
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

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}

impl Error {
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
            Error::Handshake(HandshakeError::Refused(r)) => Some(r.status),
            _ => None,
        }
    }
}
