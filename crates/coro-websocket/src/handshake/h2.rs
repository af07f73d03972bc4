//! WebSockets over HTTP/2 (RFC 8441, "extended CONNECT"), Sans-I/O: the checks and headers of
//! the opening handshake on one HTTP/2 stream. The HTTP/2 framing itself is the h2 crate's (in
//! the I/O layer); after the handshake the stream carries RFC 6455 frames as a TCP connection
//! would, with the same core.
//!
//! RFC 8441 §4–5: the client sends `CONNECT` with the `:protocol` pseudo-header `websocket` and
//! `Sec-WebSocket-Version: 13`; there is no `Sec-WebSocket-Key`, no `Upgrade` and no
//! `Connection` header (HTTP/2 forbids connection-specific headers). Any 2xx answer accepts,
//! with the subprotocol and extension negotiation of RFC 6455 unchanged.

use super::client::check_selection;
use super::{HandshakeError, Headers, Rejection, Request, RequestError};

/// The `:protocol` value that asks for a WebSocket (RFC 8441 §4).
pub const PROTOCOL: &str = "websocket";

/// Headers HTTP/2 forbids (RFC 9113 §8.2.2) or that the handshake sets itself.
const RESERVED: [&str; 10] = [
    "connection",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "host",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
];

/// Checks an extended CONNECT request as a server receives it (RFC 8441 §5): `CONNECT`,
/// `:protocol` `websocket` (passed as `protocol`, since it is a pseudo-header), and
/// `Sec-WebSocket-Version: 13`.
///
/// # Errors
/// [`HandshakeError::MethodNotConnect`], [`HandshakeError::InvalidProtocol`], or
/// [`HandshakeError::UnsupportedVersion`]; each has its HTTP status
/// ([`HandshakeError::status`]).
///
/// ```
/// use coro_websocket::handshake::validate_extended_connect;
/// use coro_websocket::{Headers, Request};
/// let req = Request {
///     method: "CONNECT".into(), path: "/chat".into(), version: http::Version::HTTP_2,
///     headers: Headers::from([("sec-websocket-version", "13")]), subprotocol: None,
/// };
/// assert!(validate_extended_connect(&req, Some("websocket")).is_ok());
/// assert!(validate_extended_connect(&req, None).is_err());
/// ```
pub fn validate_extended_connect(
    req: &Request,
    protocol: Option<&str>,
) -> Result<(), HandshakeError> {
    if req.method != "CONNECT" {
        return Err(HandshakeError::MethodNotConnect(req.method.clone()));
    }
    if !protocol.is_some_and(|p| p.eq_ignore_ascii_case(PROTOCOL)) {
        return Err(HandshakeError::InvalidProtocol(protocol.map(str::to_owned)));
    }
    // RFC 8441 §5: the RFC 6455 version header is still required.
    let h = &req.headers;
    let version = h.get("sec-websocket-version").unwrap_or("").trim();
    if version != "13" || h.get_all("sec-websocket-version").count() != 1 {
        return Err(HandshakeError::UnsupportedVersion(version.to_owned()));
    }
    Ok(())
}

/// The headers of a client's extended CONNECT request, besides the pseudo-headers (`:method`
/// `CONNECT`, `:protocol` `websocket`, `:scheme`, `:authority`, `:path`), which the caller's
/// HTTP/2 layer sets: `sec-websocket-version: 13`, the subprotocol and extension offers, then
/// the caller's headers in order.
///
/// # Errors
/// [`RequestError`] for a caller's header that is invalid, connection-specific (HTTP/2 forbids
/// them) or set by the handshake (`Host` is the `:authority` pseudo-header here).
///
/// ```
/// use coro_websocket::handshake::extended_connect_headers;
/// use coro_websocket::Headers;
/// let h = extended_connect_headers(Some("chat"), None, &Headers::from([("Origin", "https://a.example")])).unwrap();
/// assert_eq!(h["sec-websocket-version"], "13");
/// assert_eq!(h["sec-websocket-protocol"], "chat");
/// assert_eq!(h["origin"], "https://a.example");
/// ```
pub fn extended_connect_headers(
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    headers: &Headers,
) -> Result<http::HeaderMap, RequestError> {
    let mut map = http::HeaderMap::new();
    map.insert(
        "sec-websocket-version",
        http::HeaderValue::from_static("13"),
    );
    let value = |v: &str, err: RequestError| http::HeaderValue::from_str(v).map_err(|_| err);
    if let Some(p) = subprotocol {
        let v = value(p, RequestError::InvalidSubprotocol)?;
        map.insert("sec-websocket-protocol", v);
    }
    if let Some(e) = extensions {
        let v = value(e, RequestError::InvalidExtensions)?;
        map.insert("sec-websocket-extensions", v);
    }
    for (name, v) in headers.iter() {
        let header = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| RequestError::InvalidHeaderName(name.to_owned()))?;
        if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
            return Err(RequestError::ReservedHeader(name.to_owned()));
        }
        map.append(
            header,
            value(v, RequestError::InvalidHeaderValue(name.to_owned()))?,
        );
    }
    Ok(map)
}

/// Checks the server's answer to an extended CONNECT (RFC 8441 §4: any 2xx accepts) and the
/// subprotocol and extensions it selected; returns them.
///
/// # Errors
/// [`HandshakeError::Rejected`] for a status other than 2xx (with an empty body, which the
/// caller may fill in); a subprotocol or extension that was not offered.
///
/// ```
/// use coro_websocket::handshake::validate_connect_response;
/// use coro_websocket::Headers;
/// let chosen = validate_connect_response(200, &Headers::from([("sec-websocket-protocol", "chat")]), Some("chat"), None);
/// assert_eq!(chosen.unwrap(), (Some("chat".to_owned()), None));
/// assert!(validate_connect_response(404, &Headers::new(), None, None).is_err());
/// ```
pub fn validate_connect_response(
    status: u16,
    headers: &Headers,
    offered_subprotocol: Option<&str>,
    offered_extensions: Option<&str>,
) -> Result<(Option<String>, Option<String>), HandshakeError> {
    if !(200..300).contains(&status) {
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
            .to_owned();
        return Err(HandshakeError::Rejected(Box::new(Rejection {
            status,
            reason,
            headers: headers.clone(),
            body: bytes::Bytes::new(),
        })));
    }
    check_selection(headers, offered_subprotocol, offered_extensions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "CONNECT".into(),
            path: "/".into(),
            version: http::Version::HTTP_2,
            headers: headers.iter().copied().collect(),
            subprotocol: None,
        }
    }

    // RFC 8441 §5: CONNECT, :protocol websocket, version 13; no key needed.
    #[test]
    fn extended_connect_requests_are_checked() {
        let ok = connect(&[("sec-websocket-version", "13")]);
        assert_eq!(validate_extended_connect(&ok, Some("websocket")), Ok(()));
        assert_eq!(validate_extended_connect(&ok, Some("WebSocket")), Ok(()));
        assert_eq!(
            validate_extended_connect(&ok, Some("webtransport")),
            Err(HandshakeError::InvalidProtocol(Some("webtransport".into())))
        );
        let mut get = ok.clone();
        get.method = "GET".into();
        assert_eq!(
            validate_extended_connect(&get, Some("websocket")),
            Err(HandshakeError::MethodNotConnect("GET".into()))
        );
        let old = connect(&[("sec-websocket-version", "8")]);
        assert_eq!(
            validate_extended_connect(&old, Some("websocket")).map_err(|e| e.status()),
            Err(426)
        );
    }

    // RFC 9113 §8.2.2: no connection-specific headers over HTTP/2.
    #[test]
    fn connection_specific_headers_are_refused() {
        for name in ["Connection", "Upgrade", "Transfer-Encoding", "Host"] {
            let headers = Headers::from([(name, "x")]);
            assert_eq!(
                extended_connect_headers(None, None, &headers),
                Err(RequestError::ReservedHeader(name.into()))
            );
        }
    }

    #[test]
    fn any_2xx_accepts_and_others_are_rejections() {
        assert!(validate_connect_response(204, &Headers::new(), None, None).is_ok());
        let Err(HandshakeError::Rejected(r)) =
            validate_connect_response(403, &Headers::new(), None, None)
        else {
            panic!("403 accepted");
        };
        assert_eq!((r.status, r.reason.as_str()), (403, "Forbidden"));
        assert!(matches!(
            validate_connect_response(
                200,
                &Headers::from([("sec-websocket-protocol", "x")]),
                None,
                None
            ),
            Err(HandshakeError::UnexpectedSubprotocol(_))
        ));
    }
}
