//! Which proxy a client goes through: the [`Proxy`] option, the environment (`*_proxy`,
//! `no_proxy`), and the proxy URL. Pure policy, no I/O: the tunnels themselves (HTTP CONNECT,
//! SOCKS5) are opened by `io::tunnel`.
//!
//! Reading the environment by default is deliberate, as curl, Go and python-websockets do. The
//! loopback exemption (`localhost`, 127.0.0.0/8, `::1` are never proxied) follows Go's
//! `net/http`; curl proxies loopback unless `no_proxy` names it.

use std::net::IpAddr;

/// Which proxy [`connect`](crate::connect) goes through: the `proxy` field of
/// [`Options`](crate::Options).
///
/// ```
/// use coro_websocket::{Options, Proxy};
/// let opts = Options {
///     proxy: Proxy::Url("socks5h://user:secret@127.0.0.1:1080".into()),
///     ..Options::from_url("wss://example.org/").unwrap()
/// };
/// assert!(matches!(Options::default().proxy, Proxy::FromEnv));
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// Take the proxy from the environment, as curl does (see [`env_proxy`]); the default.
    #[default]
    FromEnv,
    /// Connect directly, whatever the environment says.
    None,
    /// Use this proxy for every connection: `http://`, `https://` (TLS to the proxy),
    /// `socks5://` (names resolved here) or `socks5h://` (names resolved by the proxy). A URL
    /// without a scheme is an HTTP proxy. `user:password@` in the URL authenticates to the
    /// proxy (HTTP Basic, or SOCKS5 username/password); percent-escapes are decoded.
    Url(String),
}

/// Where and why a proxy negotiation failed. Like every error of this crate, its message names
/// its cause, which is not repeated as `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy URL cannot be used.
    #[error("invalid proxy URL: {0}")]
    InvalidUrl(String),
    /// The proxy URL's scheme is not `http`, `https`, `socks5` or `socks5h`.
    #[error("unsupported proxy scheme {0:?}: expected http, https, socks5 or socks5h")]
    UnsupportedScheme(String),
    /// The TCP connection to the proxy failed.
    #[error("cannot reach proxy {proxy}: {cause}")]
    Unreachable {
        /// The proxy, as `host:port`.
        proxy: String,
        /// The socket error.
        cause: std::io::Error,
    },
    /// TLS to an `https://` proxy failed.
    #[error("TLS to the proxy failed: {0}")]
    Tls(std::io::Error),
    /// The HTTP proxy answered the CONNECT request with an error status other than 407.
    #[error("proxy refused CONNECT: {status} {reason}")]
    ConnectRefused {
        /// The HTTP status, e.g. 403 or 502.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The proxy refused the credentials, or asked for some and none were given: HTTP 407, or a
    /// SOCKS5 username/password rejection.
    #[error("proxy authentication failed{}", if *.status == 407 { " (407)" } else { "" })]
    AuthFailed {
        /// 407 for an HTTP proxy; for SOCKS5 the status byte of the username/password reply.
        status: u16,
    },
    /// The SOCKS5 proxy refused the CONNECT with this reply code (RFC 1928 §6).
    #[error("SOCKS5 proxy replied {code}: {}", socks_reply_text(*.code))]
    SocksReply {
        /// The reply code: 1 general failure, 2 not allowed by ruleset, 3 network unreachable,
        /// 4 host unreachable, 5 connection refused, 6 TTL expired, 7 command not supported,
        /// 8 address type not supported.
        code: u8,
    },
    /// The proxy's answer could not be understood.
    #[error("malformed answer from the proxy: {0}")]
    Malformed(String),
    /// The connection to the proxy failed during the negotiation.
    #[error("I/O error talking to the proxy: {0}")]
    Io(std::io::Error),
}

impl ProxyError {
    /// Whether trying again later may succeed: the proxy was unreachable, failed on its side
    /// (5xx, SOCKS failures to reach the origin), or the connection broke.
    pub fn is_transient(&self) -> bool {
        match self {
            ProxyError::Unreachable { .. } | ProxyError::Io(_) | ProxyError::Malformed(_) => true,
            ProxyError::ConnectRefused { status, .. } => *status >= 500,
            ProxyError::SocksReply { code } => matches!(code, 1 | 3 | 4 | 5 | 6),
            _ => false,
        }
    }
}

fn socks_reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown error",
    }
}

/// The environment variables consulted for a target, in order: the WebSocket scheme's, then the
/// HTTP scheme's, then `all_proxy`; each lower-case first.
const WSS_VARS: [&str; 6] = [
    "wss_proxy",
    "WSS_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];
const WS_VARS: [&str; 6] = [
    "ws_proxy",
    "WS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

/// The proxy URL the environment names for a connection to `host:port`, if any: what
/// [`Proxy::FromEnv`] uses, with `lookup` reading a variable (`|k| std::env::var(k).ok()`).
///
/// `wss` targets look at `wss_proxy`, `https_proxy` then `all_proxy`; `ws` targets at
/// `ws_proxy`, `http_proxy` then `all_proxy`; each name lower-case, then upper-case; empty values
/// are skipped. `no_proxy` (then `NO_PROXY`) is checked first with [`no_proxy_matches`].
/// Loopback hosts (`localhost`, `127.0.0.0/8`, `::1`) never go through an environment proxy,
/// as in Go's `ProxyFromEnvironment`: a proxy elsewhere cannot reach this machine's loopback.
///
/// ```
/// use coro_websocket::proxy::env_proxy;
/// let env = |k: &str| match k {
///     "https_proxy" => Some("http://proxy.corp:3128".to_owned()),
///     "no_proxy" => Some("localhost,.internal,10.0.0.0/8".to_owned()),
///     _ => None,
/// };
/// assert_eq!(env_proxy(true, "example.org", 443, env).as_deref(), Some("http://proxy.corp:3128"));
/// assert_eq!(env_proxy(false, "example.org", 80, env), None); // no http_proxy
/// assert_eq!(env_proxy(true, "db.internal", 443, env), None);
/// assert_eq!(env_proxy(true, "10.1.2.3", 443, env), None);
/// assert_eq!(env_proxy(true, "localhost", 443, env), None);
/// ```
pub fn env_proxy(
    tls: bool,
    host: &str,
    port: u16,
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if is_loopback(host) {
        return None;
    }
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    if let Some(list) = get("no_proxy").or_else(|| get("NO_PROXY")) {
        if no_proxy_matches(&list, host, port) {
            return None;
        }
    }
    let vars = if tls { &WSS_VARS } else { &WS_VARS };
    vars.iter()
        .find_map(|k| get(k))
        .map(|v| v.trim().to_owned())
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a `no_proxy` list exempts `host:port` from the proxy.
///
/// Entries are separated by commas or spaces. `*` matches every host. A domain matches itself
/// and its subdomains (`example.org`, `.example.org` and `*.example.org` all match
/// `api.example.org`). An IP address matches itself; `ADDR/BITS` matches a CIDR block (IPv4 or
/// IPv6). An entry may end in `:PORT` to match that port only. Case is ignored.
///
/// ```
/// use coro_websocket::proxy::no_proxy_matches;
/// assert!(no_proxy_matches("*", "anything", 80));
/// assert!(no_proxy_matches("example.org", "api.example.org", 443));
/// assert!(!no_proxy_matches("example.org", "badexample.org", 443));
/// assert!(no_proxy_matches("192.168.0.0/16, ::1", "192.168.7.9", 80));
/// assert!(no_proxy_matches("192.168.0.0/16, ::1", "::1", 80));
/// assert!(no_proxy_matches("localhost:8080", "localhost", 8080));
/// assert!(!no_proxy_matches("localhost:8080", "localhost", 9090));
/// ```
pub fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, entry_port) = split_port(entry);
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            if let Some((net, bits)) = name.split_once('/') {
                return match (ip, net.parse::<IpAddr>(), bits.parse::<u8>()) {
                    (Some(ip), Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
                    _ => false,
                };
            }
            if let Ok(entry_ip) = name.parse::<IpAddr>() {
                return ip == Some(entry_ip);
            }
            let domain = name
                .trim_start_matches('*')
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_ascii_lowercase();
            !domain.is_empty()
                && (host == domain
                    || (host.ends_with(&domain)
                        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'))
        })
}

/// Splits `host:port`, `[v6]:port` or a bare host/address/CIDR into the name and the port.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((addr, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (addr, port);
        }
    }
    match entry.split_once(':') {
        Some((name, port)) if !port.contains(':') => match port.parse() {
            Ok(p) => (name, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
    (ip & mask) == (net & mask)
}

/// The proxy protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
    Socks5 { remote_dns: bool },
}

/// A parsed proxy URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) scheme: Scheme,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `(user, password)`, percent-decoded.
    pub(crate) auth: Option<(String, String)>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("Route")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.auth.as_ref().map(|a| &a.0))
            .finish()
    }
}

impl Route {
    /// Parses `scheme://[user[:password]@]host[:port]`; without a scheme, `http` is assumed.
    pub(crate) fn parse(text: &str) -> Result<Route, ProxyError> {
        let text = text.trim();
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let url =
            url::Url::parse(&with_scheme).map_err(|e| ProxyError::InvalidUrl(e.to_string()))?;
        let (scheme, default_port) = match url.scheme() {
            "http" => (Scheme::Http, 80),
            "https" => (Scheme::Https, 443),
            "socks5" => (Scheme::Socks5 { remote_dns: false }, 1080),
            "socks5h" => (Scheme::Socks5 { remote_dns: true }, 1080),
            other => return Err(ProxyError::UnsupportedScheme(other.to_owned())),
        };
        let host = crate::url::host_of(&url).ok_or(ProxyError::InvalidUrl("no host".into()))?;
        let auth = (!url.username().is_empty()).then(|| {
            (
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or("")),
            )
        });
        Ok(Route {
            scheme,
            host,
            port: url.port().unwrap_or(default_port),
            auth,
        })
    }

    /// The proxy's `host:port`.
    pub(crate) fn address(&self) -> String {
        crate::url::authority(&self.host, self.port)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The proxy to use to reach `host:port`, if any.
pub(crate) fn select(
    proxy: &Proxy,
    tls: bool,
    host: &str,
    port: u16,
) -> Result<Option<Route>, ProxyError> {
    match proxy {
        Proxy::None => Ok(None),
        Proxy::Url(url) => Route::parse(url).map(Some),
        Proxy::FromEnv => env_proxy(tls, host, port, |k| std::env::var(k).ok())
            .map(|url| Route::parse(&url))
            .transpose(),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_with_defaults_and_decoded_credentials() {
        let r = Route::parse("socks5h://us%40er:p%3Ass@[::1]").unwrap();
        assert_eq!(r.scheme, Scheme::Socks5 { remote_dns: true });
        assert_eq!((r.host.as_str(), r.port), ("::1", 1080));
        assert_eq!(r.auth, Some(("us@er".into(), "p:ss".into())));
        assert_eq!(r.address(), "[::1]:1080");
        let r = Route::parse("proxy.corp:3128").unwrap();
        assert_eq!((r.scheme, r.port, r.auth), (Scheme::Http, 3128, None));
        assert_eq!(Route::parse("https://p").unwrap().port, 443);
        assert!(matches!(
            Route::parse("ftp://p"),
            Err(ProxyError::UnsupportedScheme(_))
        ));
        assert!(!format!("{:?}", Route::parse("http://u:hunter2@p").unwrap()).contains("hunter2"));
    }

    #[test]
    fn env_lookup_order_and_cases() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let e = env(&[("WSS_PROXY", "a"), ("https_proxy", "b"), ("all_proxy", "c")]);
        assert_eq!(env_proxy(true, "h", 443, e).as_deref(), Some("a"));
        let e = env(&[("HTTP_PROXY", "b"), ("ALL_PROXY", "c")]);
        assert_eq!(env_proxy(false, "h", 80, e).as_deref(), Some("b"));
        let e = env(&[("ws_proxy", ""), ("ALL_PROXY", "c")]);
        assert_eq!(env_proxy(false, "h", 80, e).as_deref(), Some("c"));
        let e = env(&[("all_proxy", "c"), ("NO_PROXY", "h")]);
        assert_eq!(env_proxy(false, "h", 80, e), None);
        let e = env(&[("all_proxy", "c"), ("no_proxy", "x"), ("NO_PROXY", "h")]);
        assert_eq!(env_proxy(false, "h", 80, e).as_deref(), Some("c"));
    }

    #[test]
    fn no_proxy_domains_ips_and_cidrs() {
        assert!(no_proxy_matches(".example.org", "example.org", 1));
        assert!(no_proxy_matches("*.example.org", "a.b.example.org", 1));
        assert!(no_proxy_matches("EXAMPLE.org", "Api.Example.ORG.", 1));
        assert!(!no_proxy_matches("example.org", "example.org.evil", 1));
        assert!(!no_proxy_matches("", "h", 1));
        assert!(no_proxy_matches("127.0.0.1", "127.0.0.1", 1));
        assert!(!no_proxy_matches("127.0.0.1", "127.0.0.2", 1));
        assert!(no_proxy_matches("10.0.0.0/8", "10.255.0.1", 1));
        assert!(!no_proxy_matches("10.0.0.0/8", "11.0.0.1", 1));
        assert!(no_proxy_matches("0.0.0.0/0", "1.2.3.4", 1));
        assert!(no_proxy_matches("fd00::/8", "[fd12::1]", 1));
        assert!(!no_proxy_matches("fd00::/8", "fe12::1", 1));
        assert!(no_proxy_matches("[::1]:9000", "::1", 9000));
        assert!(!no_proxy_matches("10.0.0.0/8", "10.example", 1));
        assert!(no_proxy_matches("a b,c", "c", 1));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
    }
}
