//! The server side of the opening handshake (RFC 6455 §4.2).

use bytes::Bytes;

use super::{
    accept_key, check_partial, collect_headers, complete_head, has_token, map_parse_error,
    HandshakeError, HeadLimits, Headers,
};

/// A client's upgrade request, as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (GET for a valid upgrade).
    pub method: String,
    /// The request target: path and query, e.g. `/chat?room=1`.
    pub path: String,
    /// The HTTP version.
    pub version: http::Version,
    /// The headers, in order, as received.
    pub headers: Headers,
    /// The subprotocol the server selected from the client's offer, if any.
    pub subprotocol: Option<String>,
}

impl Request {
    /// The subprotocols the client offered, in its order of preference.
    ///
    /// ```
    /// use coro_websocket::{Headers, Request};
    /// let req = Request {
    ///     method: "GET".into(), path: "/".into(), version: http::Version::HTTP_11,
    ///     headers: Headers::from([("Sec-WebSocket-Protocol", "a, b"), ("sec-websocket-protocol", "c")]),
    ///     subprotocol: None,
    /// };
    /// assert_eq!(req.offered_subprotocols(), ["a", "b", "c"]);
    /// ```
    pub fn offered_subprotocols(&self) -> Vec<&str> {
        self.headers
            .get_all("sec-websocket-protocol")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    }
}

/// An HTTP answer that refuses an upgrade: what a server sends instead of 101, and what a client
/// gets back in [`HandshakeError::Rejected`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The status code, e.g. 403.
    pub status: u16,
    /// The reason phrase; [`Rejection::new`] uses the status's standard one.
    pub reason: String,
    /// The headers (a server sends them after its own status line).
    pub headers: Headers,
    /// The body (a server sends it as `text/plain` when non-empty and no `Content-Type` is
    /// given; a client keeps up to 64 KiB of it).
    pub body: Bytes,
}

impl Rejection {
    /// A rejection with a status and a plain-text body.
    ///
    /// ```
    /// use coro_websocket::Rejection;
    /// let r = Rejection::new(403, "no token");
    /// assert_eq!((r.status, &r.body[..]), (403, &b"no token"[..]));
    /// ```
    pub fn new(status: u16, body: impl Into<Bytes>) -> Rejection {
        Rejection {
            status,
            reason: standard_reason(status).to_owned(),
            headers: Headers::new(),
            body: body.into(),
        }
    }

    /// The answer RFC 6455 §4.2.2 prescribes for a handshake error: its status and, for 426,
    /// the `Sec-WebSocket-Version: 13` and `Upgrade: websocket` headers (RFC 6455 §4.4).
    pub fn for_error(error: &HandshakeError) -> Rejection {
        let mut r = Rejection::new(error.status(), format!("{error}\n"));
        match error.status() {
            426 => {
                r.headers.push("Upgrade", "websocket");
                r.headers.push("Sec-WebSocket-Version", "13");
            }
            405 if matches!(error, HandshakeError::MethodNotConnect(_)) => {
                r.headers.push("Allow", "CONNECT")
            }
            405 => r.headers.push("Allow", "GET"),
            _ => {}
        }
        r
    }
}

/// Parses a request head at the start of `buf`: `Ok(None)` until it is complete, then the request
/// and its length in bytes.
///
/// # Errors
/// Malformed HTTP, or a head over the limits (which answer 400 or 431).
///
/// ```
/// use coro_websocket::handshake::{parse_request, HeadLimits};
/// let limits = HeadLimits { max_bytes: 8192, max_headers: 32 };
/// let (req, n) = parse_request(b"GET /chat HTTP/1.1\r\nHost: x\r\n\r\n", limits).unwrap().unwrap();
/// assert_eq!((req.path.as_str(), n), ("/chat", 31));
/// ```
pub fn parse_request(
    buf: &[u8],
    limits: HeadLimits,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    let mut raw = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut raw);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let version = complete_head(n, req.version, limits)?;
            Ok(Some((
                Request {
                    method: req.method.unwrap_or("").to_owned(),
                    path: req.path.unwrap_or("").to_owned(),
                    version,
                    headers: collect_headers(req.headers),
                    subprotocol: None,
                },
                n,
            )))
        }
        Ok(httparse::Status::Partial) => check_partial(buf, limits).map(|_| None),
        Err(e) => Err(map_parse_error(e, limits)),
    }
}

/// Checks a client's upgrade request (RFC 6455 §4.2.1) and returns its `Sec-WebSocket-Key`.
///
/// # Errors
/// The first violation found; [`HandshakeError::status`] gives the HTTP status to answer with.
pub fn validate_request(req: &Request) -> Result<String, HandshakeError> {
    // RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    if req.method != "GET" {
        return Err(HandshakeError::MethodNotGet(req.method.clone()));
    }
    if req.version == http::Version::HTTP_10 {
        return Err(HandshakeError::HttpVersion);
    }
    let h = &req.headers;
    // Item 2: a Host header field.
    if !h.contains("host") {
        return Err(HandshakeError::MissingHost);
    }
    // Item 3: Upgrade containing "websocket"; item 4: Connection containing "Upgrade".
    if !h.get_all("upgrade").any(|v| has_token(v, "websocket")) {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !h.get_all("connection").any(|v| has_token(v, "upgrade")) {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    // Item 6: Sec-WebSocket-Version 13 (checked before the key, so an old client learns the
    // version it needs: RFC 6455 §4.4).
    let version = h.get("sec-websocket-version").unwrap_or("").trim();
    if version != "13" || h.get_all("sec-websocket-version").count() != 1 {
        return Err(HandshakeError::UnsupportedVersion(version.to_owned()));
    }
    // Item 5: a Sec-WebSocket-Key that base64-decodes to 16 bytes.
    let mut keys = h.get_all("sec-websocket-key");
    let key = keys.next().map(str::trim).unwrap_or("");
    if keys.next().is_some() || !is_valid_key(key) {
        return Err(HandshakeError::InvalidKey);
    }
    Ok(key.to_owned())
}

fn is_valid_key(key: &str) -> bool {
    use base64::Engine;
    key.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_ok_and(|b| b.len() == 16)
}

/// Picks the first subprotocol the client offered that the server supports (RFC 6455 §4.2.2).
///
/// ```
/// use coro_websocket::{handshake::select_subprotocol, Headers, Request};
/// let req = Request {
///     method: "GET".into(), path: "/".into(), version: http::Version::HTTP_11,
///     headers: Headers::from([("Sec-WebSocket-Protocol", "v2, v1")]), subprotocol: None,
/// };
/// assert_eq!(select_subprotocol(&req, &["v1".into(), "v2".into()]), Some("v2".into()));
/// assert_eq!(select_subprotocol(&req, &["v3".into()]), None);
/// ```
pub fn select_subprotocol(req: &Request, supported: &[String]) -> Option<String> {
    req.offered_subprotocols()
        .into_iter()
        .find(|p| supported.iter().any(|s| s == p))
        .map(str::to_owned)
}

/// Appends the `101 Switching Protocols` answer to `dst` (RFC 6455 §4.2.2, item 5).
pub fn encode_response(
    key: &str,
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    headers: &Headers,
    dst: &mut Vec<u8>,
) {
    dst.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    dst.extend_from_slice(accept_key(key).as_bytes());
    dst.extend_from_slice(b"\r\n");
    let optional = [
        ("Sec-WebSocket-Protocol", subprotocol),
        ("Sec-WebSocket-Extensions", extensions),
    ];
    for (name, value) in optional.iter().filter_map(|(n, v)| v.map(|v| (*n, v))) {
        dst.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    for (name, value) in headers.iter() {
        dst.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    dst.extend_from_slice(b"\r\n");
}

/// Appends an HTTP error answer for a refused upgrade to `dst`. The connection is closed after it.
///
/// ```
/// use coro_websocket::{handshake::encode_rejection, Rejection};
/// let mut out = Vec::new();
/// encode_rejection(&Rejection::new(403, "go away"), &mut out);
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"));
/// assert!(text.ends_with("\r\n\r\ngo away"));
/// ```
pub fn encode_rejection(rejection: &Rejection, dst: &mut Vec<u8>) {
    // The reason comes from the application: one that would break the status line is replaced.
    let reason = match rejection.reason.as_str() {
        r if !r.is_empty() && r.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) => r,
        _ => standard_reason(rejection.status),
    };
    dst.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", rejection.status).as_bytes());
    for (name, value) in rejection.headers.iter() {
        // Header values come from the application; drop any that would break the message.
        if http::HeaderValue::from_str(value).is_ok()
            && http::HeaderName::from_bytes(name.as_bytes()).is_ok()
        {
            dst.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
    }
    if !rejection.body.is_empty() && !rejection.headers.contains("content-type") {
        dst.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
    }
    dst.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            rejection.body.len()
        )
        .as_bytes(),
    );
    dst.extend_from_slice(&rejection.body);
}

/// The standard reason phrase of a status, or "Error" for an unregistered one.
fn standard_reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(lines: &str) -> Request {
        let text = format!("{lines}\r\n");
        let limits = HeadLimits {
            max_bytes: 8192,
            max_headers: 32,
        };
        parse_request(text.as_bytes(), limits).unwrap().unwrap().0
    }

    const GOOD: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    // RFC 6455 §4.2.1: the server's checks of the client's request.
    #[test]
    fn accepts_the_rfc_example() {
        assert_eq!(
            validate_request(&request(GOOD)).unwrap(),
            "dGhlIHNhbXBsZSBub25jZQ=="
        );
    }

    #[test]
    fn each_violation_has_its_status() {
        let cases: [(&str, &str, u16); 7] = [
            ("GET /chat", "POST /chat", 405),
            ("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", 426),
            ("Upgrade: websocket\r\n", "", 426),
            ("Connection: Upgrade", "Connection: keep-alive", 400),
            ("dGhlIHNhbXBsZSBub25jZQ==", "short", 400),
            ("Host: server.example.com\r\n", "", 400),
            ("HTTP/1.1", "HTTP/1.0", 400),
        ];
        for (from, to, status) in cases {
            let err = validate_request(&request(&GOOD.replacen(from, to, 1))).unwrap_err();
            assert_eq!(err.status(), status, "{from} -> {to}: {err}");
        }
    }

    #[test]
    fn version_426_carries_the_supported_version() {
        let r = Rejection::for_error(&HandshakeError::UnsupportedVersion("8".into()));
        assert_eq!(r.headers.get("Sec-WebSocket-Version"), Some("13"));
    }

    #[test]
    fn response_has_the_accept_key() {
        let mut out = Vec::new();
        encode_response(
            "dGhlIHNhbXBsZSBub25jZQ==",
            Some("chat"),
            None,
            &Headers::new(),
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
    }

    #[test]
    fn oversized_heads_answer_431() {
        let limits = HeadLimits {
            max_bytes: 100,
            max_headers: 4,
        };
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(200));
        let err = parse_request(big.as_bytes(), limits).unwrap_err();
        assert_eq!(err.status(), 431);
        let many = "GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n";
        assert_eq!(
            parse_request(many.as_bytes(), limits).unwrap_err().status(),
            431
        );
    }
}
