//! The seed's `parseUrl` and its WS URL structure.

use std::fmt;

/// A parsed WebSocket URL: the seed's "WS URL" structure.
///
/// ```
/// let url = coro_websocket::parse_url("wss://example.org/path/name?x=1").unwrap();
/// assert_eq!(url.host, "example.org");
/// assert_eq!(url.port, 443);
/// assert_eq!(url.pathname, "/path/name?x=1");
/// assert!(url.tls);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WsUrl {
    /// The host name or IP address. An IPv6 literal is given without brackets (`::1`).
    pub host: String,
    /// The port: the URL's, or 80 for `ws` and 443 for `wss`.
    pub port: u16,
    /// Whether the scheme is `wss`.
    pub tls: bool,
    /// The path and query (never empty: at least `/`). Unlike the seed, the query is kept.
    pub pathname: String,
}

impl WsUrl {
    /// The `Host` header value: the host, bracketed if IPv6, with the port if not the default.
    ///
    /// ```
    /// let url = coro_websocket::parse_url("ws://[::1]:9000/").unwrap();
    /// assert_eq!(url.host_header(), "[::1]:9000");
    /// ```
    pub fn host_header(&self) -> String {
        host_header(&self.host, self.port, self.tls)
    }
}

/// The default port of a scheme: 443 with TLS (`wss`, `https`), 80 without.
pub(crate) fn default_port(tls: bool) -> u16 {
    if tls {
        443
    } else {
        80
    }
}

/// A host as it stands in a URL or header: an IPv6 literal in brackets, anything else as is.
pub(crate) fn bracketed(host: &str) -> std::borrow::Cow<'_, str> {
    if host.contains(':') {
        format!("[{host}]").into()
    } else {
        host.into()
    }
}

/// `host:port`, the host bracketed if IPv6 (an authority, as CONNECT and `Host` take it).
pub(crate) fn authority(host: &str, port: u16) -> String {
    format!("{}:{port}", bracketed(host))
}

/// The host a parsed URL names, IPv6 without brackets; `None` if it names none.
pub(crate) fn host_of(url: &url::Url) -> Option<String> {
    match url.host()? {
        url::Host::Domain(d) if !d.is_empty() => Some(d.to_owned()),
        url::Host::Domain(_) => None,
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

/// Formats a `Host` header (RFC 7230 §5.4): IPv6 in brackets, port only when not the default.
pub(crate) fn host_header(host: &str, port: u16, tls: bool) -> String {
    if port == default_port(tls) {
        bracketed(host).into_owned()
    } else {
        authority(host, port)
    }
}

impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "wss" } else { "ws" };
        let authority = authority(&self.host, self.port);
        write!(f, "{scheme}://{authority}{}", self.pathname)
    }
}

/// Why a URL is not a usable WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The text is not a URL at all (or its port is not a number from 0 to 65535).
    #[error("invalid URL: {0}")]
    Invalid(url::ParseError),
    /// The scheme is not `ws` or `wss`.
    #[error("unsupported scheme {0:?}: expected ws or wss")]
    Scheme(String),
    /// The URL names no host.
    #[error("URL has no host")]
    MissingHost,
    /// The URL has a fragment, which RFC 6455 §3 forbids.
    #[error("WebSocket URLs must not have a fragment")]
    Fragment,
}

impl From<url::ParseError> for UrlError {
    fn from(e: url::ParseError) -> Self {
        UrlError::Invalid(e)
    }
}

/// Parses a `ws://` or `wss://` URL: the seed's `parseUrl`.
///
/// # Errors
/// A [`UrlError`] saying what is wrong: not a URL, another scheme, no host, a bad port, or a
/// fragment.
///
/// ```
/// use coro_websocket::{error::UrlError, parse_url};
/// let url = parse_url("ws://ex.example.org/path/name").unwrap();
/// assert_eq!((url.host.as_str(), url.port, url.pathname.as_str(), url.tls),
///            ("ex.example.org", 80, "/path/name", false));
/// assert_eq!(parse_url("ws://h").unwrap().pathname, "/");
/// assert_eq!(parse_url("http://h/"), Err(UrlError::Scheme("http".into())));
/// assert!(parse_url("ws://h:99999/").unwrap_err().to_string().contains("port"));
/// ```
pub fn parse_url(url: &str) -> Result<WsUrl, UrlError> {
    let parsed = url::Url::parse(url)?;
    let tls = match parsed.scheme() {
        "ws" => false,
        "wss" => true,
        other => return Err(UrlError::Scheme(other.to_owned())),
    };
    if parsed.fragment().is_some() {
        return Err(UrlError::Fragment);
    }
    let host = host_of(&parsed).ok_or(UrlError::MissingHost)?;
    let port = parsed.port().unwrap_or(default_port(tls));
    let mut pathname = parsed.path().to_owned();
    if pathname.is_empty() {
        pathname.push('/');
    }
    if let Some(q) = parsed.query() {
        pathname.push('?');
        pathname.push_str(q);
    }
    Ok(WsUrl {
        host,
        port,
        tls,
        pathname,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_query() {
        let u = parse_url("ws://h/p?x=1").unwrap();
        assert_eq!((u.port, u.pathname.as_str()), (80, "/p?x=1"));
        assert_eq!(parse_url("wss://h").unwrap().port, 443);
        assert_eq!(parse_url("WSS://H:8443").unwrap().port, 8443);
    }

    #[test]
    fn ipv6_literal() {
        let u = parse_url("ws://[::1]:9000/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.to_string(), "ws://[::1]:9000/");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(parse_url("ftp://h/"), Err(UrlError::Scheme("ftp".into())));
        assert!(matches!(
            parse_url("ws://"),
            Err(UrlError::Invalid(url::ParseError::EmptyHost) | UrlError::MissingHost)
        ));
        assert!(matches!(
            parse_url("ws://h:port/"),
            Err(UrlError::Invalid(url::ParseError::InvalidPort))
        ));
        assert!(matches!(parse_url("not a url"), Err(UrlError::Invalid(_))));
        assert_eq!(parse_url("ws://h/#frag"), Err(UrlError::Fragment));
    }

    #[test]
    fn host_header_omits_default_ports() {
        assert_eq!(host_header("a", 80, false), "a");
        assert_eq!(host_header("a", 443, false), "a:443");
        assert_eq!(host_header("::1", 443, true), "[::1]");
    }
}
