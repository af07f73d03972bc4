//! Following redirect answers to the upgrade request: which statuses count, where the
//! `Location` points, and what may be carried to the next hop. Pure: no I/O.

use crate::options::Options;
use crate::tls::Tls;
use crate::url::{default_port, parse_url, WsUrl};

/// Why a redirect answer to the upgrade request was not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectError {
    /// More redirects than [`Options::max_redirects`](crate::Options::max_redirects) allows.
    #[error("more than {0} redirects")]
    TooMany(usize),
    /// A redirect led back to a URL already requested.
    #[error("redirect loop: {0} was already requested")]
    Loop(String),
    /// A redirect from `wss` to `ws`, which is refused unless
    /// [`Options::allow_insecure_redirects`](crate::Options::allow_insecure_redirects) is set.
    #[error("refusing to follow a redirect from wss to {0}")]
    Insecure(String),
    /// The `Location` header is missing or is not a ws, wss, http or https URL.
    #[error("invalid redirect location {0:?}")]
    InvalidLocation(String),
}

/// The statuses followed: 301, 302, 303, 307 and 308 (RFC 9110 §15.4). The upgrade is a GET,
/// so 303 needs no change of method.
pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The URL a `Location` points to, relative to `current`; `http` maps to `ws`, `https` to `wss`.
pub(crate) fn resolve(current: &WsUrl, location: &str) -> Result<WsUrl, RedirectError> {
    let invalid = || RedirectError::InvalidLocation(location.to_owned());
    let base = url::Url::parse(&current.to_string()).map_err(|_| invalid())?;
    let mut next = base.join(location.trim()).map_err(|_| invalid())?;
    // A redirect's fragment is not part of the request (RFC 9110 §10.2.2 inherits it; the
    // WebSocket request has none).
    next.set_fragment(None);
    let text = next.as_str();
    let mapped = match next.scheme() {
        "ws" | "wss" => text.to_owned(),
        "http" => format!("ws{}", &text[4..]),
        "https" => format!("wss{}", &text[5..]),
        _ => return Err(invalid()),
    };
    parse_url(&mapped).map_err(|_| invalid())
}

/// The options for the next hop: `next`'s host, port, scheme and path. Custom headers (which
/// may carry credentials) are kept only while the host and port are the original's; a TLS server
/// name override is dropped when the host changes.
pub(crate) fn next_hop(original: &Options, current: &Options, next: &WsUrl) -> Options {
    let mut hop = current.clone();
    let same_origin_host = original
        .host
        .as_deref()
        .is_some_and(|h| h.eq_ignore_ascii_case(&next.host))
        && original.port.unwrap_or(default_port(original.tls.is_on())) == next.port;
    hop.headers = if same_origin_host {
        original.headers.clone()
    } else {
        crate::Headers::new()
    };
    hop.tls = match (&original.tls, next.tls) {
        (_, false) => Tls::Off,
        (Tls::Config(c), true) if same_origin_host => Tls::Config(c.clone()),
        (Tls::Config(c), true) => {
            let mut c = c.clone();
            c.server_name = None;
            Tls::Config(c)
        }
        (_, true) => Tls::On,
    };
    hop.host = Some(next.host.clone());
    hop.port = Some(next.port);
    hop.pathname = next.pathname.clone();
    hop
}

/// The URL a set of TCP options requests.
pub(crate) fn url_of(options: &Options) -> WsUrl {
    let tls = options.tls.is_on();
    WsUrl {
        host: options.host.clone().unwrap_or_else(|| "127.0.0.1".into()),
        port: options.port.unwrap_or(default_port(tls)),
        tls,
        pathname: options.pathname.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> WsUrl {
        parse_url(s).unwrap()
    }

    #[test]
    fn locations_resolve_relative_and_absolute() {
        let here = url("wss://a.example:8443/x/y?q=1");
        assert_eq!(
            resolve(&here, "z").unwrap(),
            url("wss://a.example:8443/x/z")
        );
        assert_eq!(
            resolve(&here, "/z?k").unwrap(),
            url("wss://a.example:8443/z?k")
        );
        assert_eq!(
            resolve(&here, "//b.example/p").unwrap(),
            url("wss://b.example/p")
        );
        assert_eq!(
            resolve(&here, "http://b.example:81/").unwrap(),
            url("ws://b.example:81/")
        );
        assert_eq!(resolve(&here, "https://b/#f").unwrap(), url("wss://b/"));
        assert!(matches!(
            resolve(&here, "ftp://b/"),
            Err(RedirectError::InvalidLocation(_))
        ));
    }

    #[test]
    fn headers_stay_with_the_original_host() {
        let mut original = Options::from_url("ws://a.example/").unwrap();
        original.headers.push("Authorization", "Bearer t");
        let same = next_hop(&original, &original, &url("ws://A.example/other"));
        assert_eq!(same.headers.get("authorization"), Some("Bearer t"));
        let other = next_hop(&original, &original, &url("ws://b.example/"));
        assert!(other.headers.is_empty());
        let port = next_hop(&original, &original, &url("ws://a.example:81/"));
        assert!(port.headers.is_empty());
        let back = next_hop(&original, &other, &url("ws://a.example/"));
        assert_eq!(back.headers.get("authorization"), Some("Bearer t"));
    }
}
