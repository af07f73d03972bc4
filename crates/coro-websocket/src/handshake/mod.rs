//! The opening handshake (RFC 6455 §4), Sans-I/O: building and checking HTTP/1.1 upgrade requests
//! and responses. No sockets and no clock; the I/O layer (`crate::io`) feeds bytes in and writes the
//! bytes produced here.

mod client;
mod h2;
mod headers;
mod server;

pub use client::{encode_request, parse_response, validate_response, RequestError, ResponseHead};
pub use h2::{
    extended_connect_headers, validate_connect_response, validate_extended_connect, PROTOCOL,
};
pub use headers::Headers;
pub use server::{
    encode_rejection, encode_response, parse_request, select_subprotocol, validate_request,
    Rejection, Request,
};

use base64::Engine;
use sha1::{Digest, Sha1};

/// RFC 6455 §1.3: the GUID appended to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2, step 5.4).
///
/// ```
/// use coro_websocket::handshake::accept_key;
/// // The example of RFC 6455 §1.3.
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Encodes 16 random bytes as a `Sec-WebSocket-Key` (RFC 6455 §4.1, item 7). The caller supplies
/// the bytes (from a CSPRNG), which keeps this core deterministic under test.
///
/// ```
/// use coro_websocket::handshake::key_from_bytes;
/// assert_eq!(key_from_bytes(*b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
/// ```
pub fn key_from_bytes(bytes: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Limits on the size of a handshake message, checked while it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Largest request/status line plus headers, in bytes.
    pub max_bytes: usize,
    /// Largest number of header fields.
    pub max_headers: usize,
}

/// Why an opening handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The upgrade was refused with an HTTP answer other than `101 Switching Protocols`. On a
    /// client, this is the server's answer (with up to 64 KiB of its body); on a server, the
    /// answer sent for [`ServerOptions::on_request`](crate::ServerOptions::on_request).
    #[error("upgrade refused: {} {}", .0.status, .0.reason)]
    Rejected(Box<Rejection>),
    /// The HTTP message could not be parsed.
    #[error("malformed HTTP message: {0}")]
    Malformed(String),
    /// The head exceeded the byte limit.
    #[error("HTTP head exceeds {0} bytes")]
    HeadTooLarge(usize),
    /// The head had more header fields than allowed.
    #[error("HTTP head has more than {0} header fields")]
    TooManyHeaders(usize),
    /// The connection ended before the head was complete.
    #[error("connection closed during the opening handshake")]
    Incomplete,
    /// A request method other than GET (RFC 6455 §4.1, item 2).
    #[error("method {0} is not GET")]
    MethodNotGet(String),
    /// Over HTTP/2, a request method other than CONNECT (RFC 8441 §4).
    #[error("method {0} is not CONNECT")]
    MethodNotConnect(String),
    /// Over HTTP/2, a `:protocol` pseudo-header missing or other than `websocket` (RFC 8441 §4).
    #[error("the :protocol pseudo-header is {0:?}, not \"websocket\"")]
    InvalidProtocol(Option<String>),
    /// An HTTP version below 1.1 (RFC 6455 §4.1, item 2).
    #[error("HTTP version below 1.1")]
    HttpVersion,
    /// A request without a Host header (RFC 6455 §4.1, item 4).
    #[error("missing Host header")]
    MissingHost,
    /// No `websocket` token in `Upgrade` (RFC 6455 §4.1, item 5; §4.2.2, item 5.2).
    #[error("missing or invalid Upgrade: websocket header")]
    MissingUpgrade,
    /// No `upgrade` token in `Connection` (RFC 6455 §4.1, item 6).
    #[error("missing or invalid Connection: Upgrade header")]
    MissingConnectionUpgrade,
    /// A missing or malformed `Sec-WebSocket-Key` (RFC 6455 §4.1, item 7).
    #[error("missing or invalid Sec-WebSocket-Key")]
    InvalidKey,
    /// A `Sec-WebSocket-Version` other than 13 (RFC 6455 §4.4).
    #[error("unsupported Sec-WebSocket-Version {0:?}; this server speaks 13")]
    UnsupportedVersion(String),
    /// `Sec-WebSocket-Accept` did not match the key (RFC 6455 §4.1, client step 4).
    #[error("Sec-WebSocket-Accept does not match the key sent")]
    InvalidAccept,
    /// The server chose a subprotocol that was not offered (RFC 6455 §4.1, client step 6).
    #[error("server selected subprotocol {0:?}, which was not offered")]
    UnexpectedSubprotocol(String),
    /// The server answered with extensions that were not offered (RFC 6455 §4.1, client step 5).
    #[error("server selected extensions {0:?}, which were not offered")]
    UnexpectedExtension(String),
    /// The server's permessage-deflate answer cannot be accepted (RFC 7692 §5).
    #[error("invalid extension answer: {0}")]
    InvalidExtension(crate::proto::deflate::AnswerError),
}

impl HandshakeError {
    /// For errors found by a server in a client's request: the HTTP status to answer with.
    ///
    /// ```
    /// use coro_websocket::handshake::HandshakeError;
    /// assert_eq!(HandshakeError::UnsupportedVersion("8".into()).status(), 426);
    /// assert_eq!(HandshakeError::InvalidKey.status(), 400);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::MethodNotGet(_) | HandshakeError::MethodNotConnect(_) => 405,
            HandshakeError::UnsupportedVersion(_) | HandshakeError::MissingUpgrade => 426,
            HandshakeError::HeadTooLarge(_) | HandshakeError::TooManyHeaders(_) => 431,
            HandshakeError::Rejected(r) => r.status,
            _ => 400,
        }
    }
}

/// Whether a comma-separated header value contains `token`, case-insensitively (RFC 7230 §7).
pub(crate) fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Parses an httparse header list into [`Headers`], mapping httparse errors.
pub(crate) fn collect_headers(raw: &[httparse::Header<'_>]) -> Headers {
    raw.iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

pub(crate) fn map_parse_error(e: httparse::Error, limits: HeadLimits) -> HandshakeError {
    match e {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders(limits.max_headers),
        other => HandshakeError::Malformed(other.to_string()),
    }
}

/// For a head httparse parsed completely in `len` bytes: checks it against the byte limit and
/// maps httparse's minor version to an HTTP version.
pub(crate) fn complete_head(
    len: usize,
    minor_version: Option<u8>,
    limits: HeadLimits,
) -> Result<http::Version, HandshakeError> {
    if len > limits.max_bytes {
        return Err(HandshakeError::HeadTooLarge(limits.max_bytes));
    }
    Ok(match minor_version {
        Some(0) => http::Version::HTTP_10,
        _ => http::Version::HTTP_11,
    })
}

/// Checks the size of an incomplete head against the limit.
pub(crate) fn check_partial(buf: &[u8], limits: HeadLimits) -> Result<(), HandshakeError> {
    if buf.len() > limits.max_bytes {
        Err(HandshakeError::HeadTooLarge(limits.max_bytes))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lists_are_case_insensitive() {
        assert!(has_token("keep-alive, Upgrade", "upgrade"));
        assert!(has_token("WebSocket", "websocket"));
        assert!(!has_token("upgraded", "upgrade"));
    }
}
