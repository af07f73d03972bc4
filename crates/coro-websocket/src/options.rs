//! The seed's `Options` table, and its counterparts for `wrap_io` and the server.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::error::Error;
use crate::handshake::{Headers, Rejection, Request};
use crate::proto::deflate::DeflateConfig;
use crate::proto::Role;
use crate::proxy::Proxy;
use crate::session::MemoryBudget;
use crate::tls::Tls;
use crate::url::parse_url;

/// Options for [`connect`](crate::connect): the seed's `Options` table.
///
/// Leave fields out with `..Default::default()`, as the seed leaves table fields out.
///
/// ```
/// use coro_websocket::{Options, Tls};
/// let opts = Options {
///     host: Some("echo.example.org".into()),
///     port: Some(443),
///     tls: Tls::On,
///     ..Default::default()
/// };
/// assert_eq!(opts.pathname, "/");
/// ```
#[derive(Clone)]
pub struct Options {
    /// A Unix socket path, used when `host` and `port` are both absent.
    pub path: Option<PathBuf>,
    /// The host to connect to. Defaults to `127.0.0.1` when only `port` is given.
    pub host: Option<String>,
    /// The port. Defaults to 443 with TLS and 80 without.
    pub port: Option<u16>,
    /// Whether and how to use TLS (wss).
    pub tls: Tls,
    /// The request target: path and query. Default `/`.
    pub pathname: String,
    /// The subprotocol(s) to offer, comma-separated (`Sec-WebSocket-Protocol`).
    pub subprotocol: Option<String>,
    /// Extra request headers, sent in order after the handshake's own.
    pub headers: Headers,
    /// Time allowed for TCP connect, TLS and the HTTP upgrade together. Default 10 s, as in
    /// the seed's source; `None` waits forever.
    pub timeout: Option<Duration>,
    /// A keep-alive frame sent at an interval; see [`Heartbeat`].
    pub heartbeat: Option<Heartbeat>,
    /// Offer permessage-deflate (RFC 7692) with these settings; `None` (the default) offers
    /// nothing. [`Response::extensions`](crate::Response::extensions) tells what was agreed.
    pub compression: Option<DeflateConfig>,
    /// Limits and timeouts.
    pub config: Config,
    /// The proxy to go through. Default [`Proxy::FromEnv`]: `wss_proxy`/`ws_proxy`,
    /// `https_proxy`/`http_proxy`, `all_proxy` and `no_proxy`, as curl reads them. Unix-socket
    /// connections never use a proxy.
    pub proxy: Proxy,
    /// TLS settings for an `https://` proxy (TLS to the proxy itself, not to the origin).
    /// Default [`Tls::On`]: the Mozilla roots; [`Tls::Off`] means the same.
    pub proxy_tls: Tls,
    /// How many redirects (301, 302, 303, 307, 308) to follow before failing with
    /// [`RedirectError::TooMany`](crate::error::RedirectError::TooMany). Default 10, as Python
    /// websockets; 0 follows none (the 3xx answer is then a refused upgrade).
    pub max_redirects: usize,
    /// Follow a redirect from `wss` to `ws`. Default `false`: that would send the request in
    /// the clear after the caller asked for TLS.
    pub allow_insecure_redirects: bool,
    /// Which HTTP carries the opening handshake: HTTP/1.1 (the default), HTTP/2 (RFC 8441,
    /// feature `http2`), or HTTP/2 when the server offers it.
    pub http: Http,
}

/// Which HTTP version [`connect`](crate::connect) uses for the opening handshake.
///
/// Over HTTP/2 (RFC 8441) the WebSocket is one stream of an HTTP/2 connection: ALPN `h2` over
/// TLS, prior knowledge (h2c) over plain TCP. Redirects are followed over HTTP/1.1 only. To
/// open several WebSockets over one connection, use
/// [`http2::Http2Client`](crate::http2::Http2Client).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Http {
    /// The `Upgrade: websocket` request of RFC 6455 §4.
    #[default]
    Http1,
    /// Extended CONNECT over HTTP/2 (RFC 8441); fails with
    /// [`Http2Error`](crate::error::Http2Error) if the server does not offer it.
    Http2,
    /// HTTP/2 if the server offers it (ALPN `h2` and `SETTINGS_ENABLE_CONNECT_PROTOCOL`; over
    /// plain TCP, an HTTP/2 preface it answers), else HTTP/1.1.
    Http2WhenOffered,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            path: None,
            host: None,
            port: None,
            tls: Tls::Off,
            pathname: "/".to_owned(),
            subprotocol: None,
            headers: Headers::new(),
            timeout: Some(Duration::from_secs(10)),
            heartbeat: None,
            compression: None,
            config: Config::default(),
            proxy: Proxy::FromEnv,
            proxy_tls: Tls::On,
            max_redirects: 10,
            allow_insecure_redirects: false,
            http: Http::Http1,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("path", &self.path)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("pathname", &self.pathname)
            .field("subprotocol", &self.subprotocol)
            .field("headers", &self.headers)
            .field("timeout", &self.timeout)
            .field("heartbeat", &self.heartbeat)
            .field("compression", &self.compression)
            .field("proxy", &ProxyDebug(&self.proxy))
            .field("proxy_tls", &self.proxy_tls)
            .field("max_redirects", &self.max_redirects)
            .field("allow_insecure_redirects", &self.allow_insecure_redirects)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// Shows a proxy URL without its password.
struct ProxyDebug<'a>(&'a Proxy);

impl fmt::Debug for ProxyDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Proxy::Url(u) => match url::Url::parse(u) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    let _ = parsed.set_password(Some("***"));
                    write!(f, "Url({:?})", parsed.as_str())
                }
                _ => write!(f, "Url({u:?})"),
            },
            other => other.fmt(f),
        }
    }
}

impl Options {
    /// Options for a `ws://` or `wss://` URL: host, port, TLS and pathname are taken from it.
    ///
    /// # Errors
    /// [`Error::Url`] if the URL is not a valid WebSocket URL.
    ///
    /// ```
    /// let opts = coro_websocket::Options::from_url("wss://example.org:8443/chat?x=1").unwrap();
    /// assert_eq!(opts.port, Some(8443));
    /// assert_eq!(opts.pathname, "/chat?x=1");
    /// assert!(opts.tls.is_on());
    /// ```
    pub fn from_url(url: &str) -> Result<Options, Error> {
        let url = parse_url(url)?;
        Ok(Options {
            host: Some(url.host),
            port: Some(url.port),
            tls: if url.tls { Tls::On } else { Tls::Off },
            pathname: url.pathname,
            ..Options::default()
        })
    }
}

/// A keep-alive frame sent every `interval`: the seed's `heartbeat` option.
///
/// ```
/// use std::time::Duration;
/// use coro_websocket::{Heartbeat, HeartbeatMode};
/// // The seed's behaviour: an unsolicited pong every 30 s.
/// let seed = Heartbeat::pong(Duration::from_secs(30));
/// // Dead-peer detection: ping every 20 s, give up if nothing arrives within 10 s.
/// let live = Heartbeat::ping(Duration::from_secs(20), Duration::from_secs(10));
/// assert_eq!(live.mode, HeartbeatMode::Ping { timeout: Duration::from_secs(10) });
/// # let _ = seed;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Time between keep-alive frames.
    pub interval: Duration,
    /// What to send and whether to expect an answer.
    pub mode: HeartbeatMode,
}

/// What the heartbeat sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeartbeatMode {
    /// An unsolicited pong (opcode 10), as the seed does. Expects nothing back.
    #[default]
    Pong,
    /// A ping; if no frame at all arrives from the peer within `timeout` after it, the
    /// connection ends with [`Error::PeerNotResponding`]. Frames are noticed as the reader reads
    /// them, so a round in which the application was not waiting in [`crate::Reader::read`]
    /// does not count against the peer.
    Ping {
        /// How long to wait for any sign of life.
        timeout: Duration,
    },
}

impl Heartbeat {
    /// The seed's heartbeat: an unsolicited pong every `interval`.
    pub fn pong(interval: Duration) -> Heartbeat {
        Heartbeat {
            interval,
            mode: HeartbeatMode::Pong,
        }
    }

    /// A ping every `interval`, failing the connection when the peer stays silent for `timeout`.
    pub fn ping(interval: Duration, timeout: Duration) -> Heartbeat {
        Heartbeat {
            interval,
            mode: HeartbeatMode::Ping { timeout },
        }
    }
}

/// Options for [`wrap_io`](crate::wrap_io): the seed's `heartbeat` and `mask`, plus limits.
///
/// `mask` is the seed's way of choosing the role: `true` is [`Role::Client`], `false`
/// [`Role::Server`] (as [`FrameCodec::new`](crate::FrameCodec::new) takes it).
///
/// ```
/// use coro_websocket::{Role, WrapOptions};
/// let client = WrapOptions { mask: true, ..Default::default() };
/// assert_eq!(client.role(), Role::Client);
/// ```
#[derive(Debug, Clone, Default)]
pub struct WrapOptions {
    /// A keep-alive frame sent at an interval.
    pub heartbeat: Option<Heartbeat>,
    /// Mask every frame written: `true` makes this the client end of the connection (RFC 6455
    /// §5.1), `false` the server end.
    pub mask: bool,
    /// Limits and timeouts (the close timeout is used here).
    pub config: Config,
}

impl WrapOptions {
    /// The role `mask` selects.
    pub fn role(&self) -> Role {
        if self.mask {
            Role::Client
        } else {
            Role::Server
        }
    }
}

/// The check a server runs on each upgrade request before accepting it.
pub type RequestHook = Arc<dyn Fn(&Request) -> Result<(), Rejection> + Send + Sync>;

/// Options for [`accept`](crate::accept).
///
/// ```
/// use std::sync::Arc;
/// use coro_websocket::{Rejection, ServerOptions};
/// let opts = ServerOptions {
///     subprotocols: vec!["chat".into()],
///     on_request: Some(Arc::new(|req| {
///         if req.headers.get("authorization").is_some() { Ok(()) }
///         else { Err(Rejection::new(401, "login first")) }
///     })),
///     ..Default::default()
/// };
/// # let _ = opts;
/// ```
#[derive(Clone)]
pub struct ServerOptions {
    /// Subprotocols this server speaks; the first one the client offers is selected.
    pub subprotocols: Vec<String>,
    /// Extra headers to send in the 101 response.
    pub headers: Headers,
    /// Inspects the request; an `Err` refuses it with that HTTP answer.
    pub on_request: Option<RequestHook>,
    /// A keep-alive frame sent at an interval.
    pub heartbeat: Option<Heartbeat>,
    /// Accept permessage-deflate offers (RFC 7692) within these settings; `None` (the default)
    /// declines them.
    pub compression: Option<DeflateConfig>,
    /// Limits and timeouts (`handshake_timeout` bounds reading the request).
    pub config: Config,
}

impl Default for ServerOptions {
    /// No subprotocols, extra headers, hook, heartbeat or compression; `Config::default()` with
    /// the process's server budget ([`MemoryBudget::server_default`]).
    fn default() -> Self {
        let config = Config {
            memory_budget: Some(MemoryBudget::server_default()),
            ..Config::default()
        };
        ServerOptions {
            subprotocols: Vec::new(),
            headers: Headers::default(),
            on_request: None,
            heartbeat: None,
            compression: None,
            config,
        }
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("subprotocols", &self.subprotocols)
            .field("headers", &self.headers)
            .field("on_request", &self.on_request.is_some())
            .field("heartbeat", &self.heartbeat)
            .field("compression", &self.compression)
            .field("config", &self.config)
            .finish()
    }
}
