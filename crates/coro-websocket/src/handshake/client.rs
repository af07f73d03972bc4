//! The client side of the opening handshake (RFC 6455 §4.1).

use super::{
    accept_key, check_partial, collect_headers, complete_head, has_token, map_parse_error,
    HandshakeError, HeadLimits, Headers, Rejection,
};

/// Header names the library writes itself; a caller's copy would contradict them.
const RESERVED: [&str; 5] = [
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
];

/// A request the caller asked for that cannot be sent: the caller's mistake, found before a byte
/// was sent (not the peer's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The request target (path and query) is empty or holds spaces or control characters.
    #[error("invalid request target {0:?}")]
    InvalidTarget(String),
    /// A header name that is not an HTTP token.
    #[error("invalid header name {0:?}")]
    InvalidHeaderName(String),
    /// The value of this header holds CR, LF or another forbidden byte.
    #[error("invalid value for header {0}")]
    InvalidHeaderValue(String),
    /// A header the handshake sets itself (`Upgrade`, `Connection`, `Sec-WebSocket-*`).
    #[error("header {0} is set by the handshake itself")]
    ReservedHeader(String),
    /// The subprotocol list is not a valid header value.
    #[error("invalid subprotocol value")]
    InvalidSubprotocol,
    /// The extension offer is not a valid header value.
    #[error("invalid extensions value")]
    InvalidExtensions,
}

fn put_header(dst: &mut Vec<u8>, name: &str, value: &str) {
    dst.extend_from_slice(name.as_bytes());
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value.as_bytes());
    dst.extend_from_slice(b"\r\n");
}

/// Appends the upgrade request to `dst` (RFC 6455 §4.1, items 1–10).
///
/// `host` is the `Host` header value (with the port when it is not the scheme's default) and is
/// left out when `headers` carries its own `Host`. `subprotocol` may list several, comma-separated.
/// `headers` follow in order.
///
/// # Errors
/// [`RequestError`] when the caller's target or header is invalid (bad name, CR/LF in a value)
/// or is one the handshake owns (`Upgrade`, `Connection`, `Sec-WebSocket-Key`, ...).
///
/// ```
/// use coro_websocket::handshake::encode_request;
/// use coro_websocket::Headers;
/// let mut out = Vec::new();
/// let headers = Headers::from([("Origin", "http://example.com")]);
/// encode_request("/chat?x=1", "server.example.com", "dGhlIHNhbXBsZSBub25jZQ==", Some("chat"), None, &headers, &mut out).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\n"));
/// assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
/// assert!(text.ends_with("Origin: http://example.com\r\n\r\n"));
/// ```
pub fn encode_request(
    target: &str,
    host: &str,
    key: &str,
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    headers: &Headers,
    dst: &mut Vec<u8>,
) -> Result<(), RequestError> {
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(RequestError::InvalidTarget(target.to_owned()));
    }
    for (name, value) in headers.iter() {
        http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| RequestError::InvalidHeaderName(name.to_owned()))?;
        http::HeaderValue::from_str(value)
            .map_err(|_| RequestError::InvalidHeaderValue(name.to_owned()))?;
        if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
            return Err(RequestError::ReservedHeader(name.to_owned()));
        }
    }
    if subprotocol.is_some_and(|v| http::HeaderValue::from_str(v).is_err()) {
        return Err(RequestError::InvalidSubprotocol);
    }
    if extensions.is_some_and(|v| http::HeaderValue::from_str(v).is_err()) {
        return Err(RequestError::InvalidExtensions);
    }
    // RFC 6455 §4.1 items 2, 4, 5, 6, 7, 9.
    dst.extend_from_slice(b"GET ");
    dst.extend_from_slice(target.as_bytes());
    dst.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.contains("host") {
        put_header(dst, "Host", host);
    }
    put_header(dst, "Upgrade", "websocket");
    put_header(dst, "Connection", "Upgrade");
    put_header(dst, "Sec-WebSocket-Key", key);
    put_header(dst, "Sec-WebSocket-Version", "13");
    if let Some(p) = subprotocol {
        put_header(dst, "Sec-WebSocket-Protocol", p);
    }
    if let Some(e) = extensions {
        put_header(dst, "Sec-WebSocket-Extensions", e);
    }
    for (name, value) in headers.iter() {
        put_header(dst, name, value);
    }
    dst.extend_from_slice(b"\r\n");
    Ok(())
}

/// The status line and headers of the server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The HTTP version.
    pub version: http::Version,
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers, in order, as received.
    pub headers: Headers,
}

/// Parses the response head at the start of `buf`.
///
/// Returns `Ok(None)` if the head is not complete yet, else the head and its length in bytes
/// (what follows may already be WebSocket frames, or a refusal's body).
///
/// # Errors
/// Malformed HTTP, or a head over the limits.
///
/// ```
/// use coro_websocket::handshake::{parse_response, HeadLimits};
/// let limits = HeadLimits { max_bytes: 8192, max_headers: 32 };
/// let bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
/// let (head, n) = parse_response(bytes, limits).unwrap().unwrap();
/// assert_eq!((head.code, n), (101, bytes.len() - 2));
/// assert!(parse_response(b"HTTP/1.1 101 Swi", limits).unwrap().is_none());
/// ```
pub fn parse_response(
    buf: &[u8],
    limits: HeadLimits,
) -> Result<Option<(ResponseHead, usize)>, HandshakeError> {
    let mut raw = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut resp = httparse::Response::new(&mut raw);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let version = complete_head(n, resp.version, limits)?;
            Ok(Some((
                ResponseHead {
                    version,
                    code: resp.code.unwrap_or(0),
                    reason: resp.reason.unwrap_or("").to_owned(),
                    headers: collect_headers(resp.headers),
                },
                n,
            )))
        }
        Ok(httparse::Status::Partial) => check_partial(buf, limits).map(|_| None),
        Err(e) => Err(map_parse_error(e, limits)),
    }
}

/// Checks the server's answer (RFC 6455 §4.1, "the client MUST validate the server's response").
///
/// Returns the selected subprotocol and extensions, if any.
///
/// # Errors
/// - a status other than 101: [`HandshakeError::Rejected`] (with an empty body, which the caller
///   may fill in);
/// - missing `Upgrade: websocket` or `Connection: Upgrade`;
/// - a wrong `Sec-WebSocket-Accept`;
/// - a subprotocol or extension that was not offered.
pub fn validate_response(
    head: &ResponseHead,
    key: &str,
    offered_subprotocol: Option<&str>,
    offered_extensions: Option<&str>,
) -> Result<(Option<String>, Option<String>), HandshakeError> {
    if head.code != 101 {
        return Err(HandshakeError::Rejected(Box::new(Rejection {
            status: head.code,
            reason: head.reason.clone(),
            headers: head.headers.clone(),
            body: bytes::Bytes::new(),
        })));
    }
    let h = &head.headers;
    if !h.get_all("upgrade").any(|v| has_token(v, "websocket")) {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !h.get_all("connection").any(|v| has_token(v, "upgrade")) {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    if h.get("sec-websocket-accept").map(str::trim) != Some(accept_key(key).as_str()) {
        return Err(HandshakeError::InvalidAccept);
    }
    check_selection(h, offered_subprotocol, offered_extensions)
}

/// Checks the subprotocol and extensions a server selected against the offer (RFC 6455 §4.1,
/// client steps 5 and 6), over HTTP/1.1 or HTTP/2 alike; returns them.
pub(crate) fn check_selection(
    h: &Headers,
    offered_subprotocol: Option<&str>,
    offered_extensions: Option<&str>,
) -> Result<(Option<String>, Option<String>), HandshakeError> {
    let protocol = match h.get("sec-websocket-protocol").map(str::trim) {
        None => None,
        Some(chosen) => {
            let offered = offered_subprotocol
                .map(|o| o.split(',').any(|p| p.trim() == chosen))
                .unwrap_or(false);
            if !offered || h.get_all("sec-websocket-protocol").count() > 1 {
                return Err(HandshakeError::UnexpectedSubprotocol(chosen.to_owned()));
            }
            Some(chosen.to_owned())
        }
    };
    let extensions: Vec<&str> = h
        .get_all("sec-websocket-extensions")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    let extensions = if extensions.is_empty() {
        None
    } else {
        let joined = extensions.join(", ");
        if offered_extensions.is_none() {
            return Err(HandshakeError::UnexpectedExtension(joined));
        }
        Some(joined)
    };
    Ok((protocol, extensions))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn head(extra: &[(&str, &str)]) -> ResponseHead {
        let mut headers = Headers::from([
            ("Upgrade", "WebSocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Accept", ACCEPT),
        ]);
        for (n, v) in extra {
            headers.push(*n, *v);
        }
        ResponseHead {
            version: http::Version::HTTP_11,
            code: 101,
            reason: "Switching Protocols".into(),
            headers,
        }
    }

    // RFC 6455 §4.1: the client's checks of the server's response.
    #[test]
    fn accepts_a_valid_response_with_token_lists() {
        assert_eq!(
            validate_response(&head(&[]), KEY, None, None),
            Ok((None, None))
        );
    }

    #[test]
    fn refuses_wrong_accept_missing_tokens_and_status() {
        let mut h = head(&[]);
        h.headers.0[2].1 = "nope".into();
        assert_eq!(
            validate_response(&h, KEY, None, None),
            Err(HandshakeError::InvalidAccept)
        );
        let mut h = head(&[]);
        h.headers.0.remove(0);
        assert_eq!(
            validate_response(&h, KEY, None, None),
            Err(HandshakeError::MissingUpgrade)
        );
        let mut h = head(&[]);
        h.headers.0[1].1 = "close".into();
        assert_eq!(
            validate_response(&h, KEY, None, None),
            Err(HandshakeError::MissingConnectionUpgrade)
        );
        let mut h = head(&[]);
        h.code = 403;
        assert!(matches!(
            validate_response(&h, KEY, None, None),
            Err(HandshakeError::Rejected(r)) if r.status == 403
        ));
    }

    #[test]
    fn subprotocol_must_be_offered() {
        let h = head(&[("Sec-WebSocket-Protocol", "chat")]);
        assert_eq!(
            validate_response(&h, KEY, Some("superchat, chat"), None),
            Ok((Some("chat".into()), None))
        );
        assert_eq!(
            validate_response(&h, KEY, None, None),
            Err(HandshakeError::UnexpectedSubprotocol("chat".into()))
        );
        assert!(validate_response(&h, KEY, Some("other"), None).is_err());
    }

    #[test]
    fn unoffered_extension_is_refused() {
        let h = head(&[("Sec-WebSocket-Extensions", "permessage-deflate")]);
        assert_eq!(
            validate_response(&h, KEY, None, None),
            Err(HandshakeError::UnexpectedExtension(
                "permessage-deflate".into()
            ))
        );
    }

    #[test]
    fn request_refuses_reserved_and_invalid_headers() {
        let mut out = Vec::new();
        let bad = Headers::from([("Sec-WebSocket-Key", "x")]);
        assert!(encode_request("/", "h", KEY, None, None, &bad, &mut out).is_err());
        let bad = Headers::from([("X-A", "a\r\nInjected: 1")]);
        assert!(encode_request("/", "h", KEY, None, None, &bad, &mut out).is_err());
        assert!(encode_request("/a b", "h", KEY, None, None, &Headers::new(), &mut out).is_err());
    }

    #[test]
    fn caller_host_replaces_ours() {
        let mut out = Vec::new();
        let h = Headers::from([("Host", "virtual.example")]);
        encode_request("/", "real:81", KEY, None, None, &h, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("real:81"));
        assert!(text.contains("Host: virtual.example\r\n"));
    }

    #[test]
    fn response_limits() {
        let limits = HeadLimits {
            max_bytes: 64,
            max_headers: 2,
        };
        let long = format!("HTTP/1.1 101 OK\r\nX: {}", "a".repeat(100));
        assert_eq!(
            parse_response(long.as_bytes(), limits),
            Err(HandshakeError::HeadTooLarge(64))
        );
        let many = b"HTTP/1.1 101 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            parse_response(many, limits),
            Err(HandshakeError::TooManyHeaders(2))
        );
    }
}
