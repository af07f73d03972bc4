//! The client side: [`connect`] dials TCP (directly or through a proxy) or a Unix socket, runs
//! TLS if asked, sends the upgrade request, checks the answer, follows redirects, and starts
//! the session.

#[cfg(unix)]
use std::path::Path;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::{start_session, tcp_with_control, within, Addrs, Conn, SocketControl, Start};
use super::response::{Response, Socket};
use super::tunnel;
use crate::error::{Error, Http2Error, OptionsError, TimeoutKind};
use crate::handshake::{
    self, encode_request, parse_response, validate_response, HandshakeError, Headers, ResponseHead,
};
use crate::options::{Http, Options};
use crate::proto::deflate::{negotiate_client, Deflate};
use crate::proto::Role;
use crate::redirect::{self, RedirectError};
use crate::session::{Handle, Reader, WebSocket, Writer};
use crate::url::{default_port, host_header};

/// The most of a refused upgrade's body that is kept.
const MAX_REFUSAL_BODY: usize = 64 << 10;

/// Opens a WebSocket connection: the seed's `connect(options)`.
///
/// Connects by TCP to `host:port` (or to the Unix socket `path` when neither is given), runs TLS
/// if asked, performs the RFC 6455 §4.1 upgrade, and returns the response with a reader and a
/// writer. `options.timeout` bounds all of it.
///
/// # Errors
/// Invalid options, I/O and TLS errors, [`Error::Timeout`], and [`Error::Handshake`]; a refused
/// upgrade carries the status, headers and up to 64 KiB of the body
/// ([`HandshakeError::Rejected`]).
///
/// ```no_run
/// use coro_websocket::{connect, Message, Options, Tls};
/// # #[tokio::main] async fn main() -> Result<(), coro_websocket::Error> {
/// let (res, mut read, mut write) = connect(Options {
///     host: Some("echo.websocket.org".into()),
///     port: Some(443),
///     tls: Tls::On,
///     ..Default::default()
/// }).await?;
/// write.write(Message { payload: "Hello There!".into(), ..Default::default() }).await?;
/// while let Some(msg) = read.read().await? {
///     println!("Host responded with {}", String::from_utf8_lossy(&msg.payload));
///     res.socket.shutdown();
/// }
/// println!("Connection closed!");
/// # Ok(()) }
/// ```
pub async fn connect(options: Options) -> Result<(Response, Reader, Writer), Error> {
    let (response, ws) = WebSocket::connect(options).await?;
    let (reader, writer, session) = ws.split_weak();
    let response = Response {
        socket: response.socket.with_session(Handle::Split(session)),
        ..response
    };
    Ok((response, reader, writer))
}

impl WebSocket {
    /// Connects as [`connect`] does, and returns the connection as one [`WebSocket`] instead
    /// of a reader and a writer.
    ///
    /// # Errors
    /// As [`connect`].
    ///
    /// ```no_run
    /// use coro_websocket::{Message, Options, WebSocket};
    /// use futures_util::StreamExt;
    /// # #[tokio::main] async fn main() -> Result<(), coro_websocket::Error> {
    /// let (_res, mut ws) = WebSocket::connect(Options::from_url("ws://127.0.0.1:9001/")?).await?;
    /// ws.send(Message::text("hello")).await?;
    /// while let Some(msg) = ws.next().await {
    ///     println!("{:?}", msg?.as_text());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn connect(options: Options) -> Result<(Response, WebSocket), Error> {
        connect_unsplit(options).await
    }
}

async fn connect_unsplit(options: Options) -> Result<(Response, WebSocket), Error> {
    options.config.validate()?;
    if let Some(deflate) = &options.compression {
        deflate.validate()?;
    }
    let attempt = open_client(&options);
    let opened = within(options.timeout, TimeoutKind::Connect, attempt).await?;
    let Opened {
        head,
        subprotocol,
        extensions,
        deflate,
        dialed,
        leftover,
        url_chain,
    } = opened;
    let Dialed {
        stream,
        control,
        addrs,
        ..
    } = dialed;
    let start = Start {
        leftover,
        config: &options.config,
        heartbeat: options.heartbeat,
        control: Some(control),
        deflate,
    };
    let ws = start_session(stream, Role::Client, start);
    let keep_alive = match head.headers.get("connection") {
        Some(v) => handshake::has_token(v, "keep-alive"),
        None => head.version != http::Version::HTTP_10,
    };
    let response = Response {
        code: head.code,
        reason: head.reason,
        version: head.version,
        keep_alive,
        headers: head.headers,
        subprotocol,
        extensions,
        socket: Socket::new(addrs, ws.handle()),
        url_chain,
    };
    Ok((response, ws))
}

/// A client connection whose upgrade succeeded.
pub(super) struct Opened {
    pub(super) head: ResponseHead,
    pub(super) subprotocol: Option<String>,
    pub(super) extensions: Option<String>,
    pub(super) deflate: Option<Deflate>,
    pub(super) dialed: Dialed,
    pub(super) leftover: BytesMut,
    pub(super) url_chain: Vec<String>,
}

/// What one upgrade request got: the upgrade, or a redirect to follow.
enum Hop {
    Open(Box<Opened>),
    Redirect(String),
}

/// Opens a client connection, following redirects as the options allow.
async fn open_client(options: &Options) -> Result<Opened, Error> {
    let mut hop = options.clone();
    let mut chain = Vec::new();
    loop {
        let here = redirect::url_of(&hop);
        chain.push(here.to_string());
        let location = match open_hop(&hop).await? {
            Hop::Open(mut opened) => {
                opened.url_chain = chain;
                return Ok(*opened);
            }
            Hop::Redirect(location) => location,
        };
        if chain.len() > options.max_redirects {
            return Err(RedirectError::TooMany(options.max_redirects).into());
        }
        let next = redirect::resolve(&here, &location)?;
        if here.tls && !next.tls && !options.allow_insecure_redirects {
            return Err(RedirectError::Insecure(next.to_string()).into());
        }
        if chain.contains(&next.to_string()) {
            return Err(RedirectError::Loop(next.to_string()).into());
        }
        hop = redirect::next_hop(options, &hop, &next);
    }
}

/// One upgrade request: dial, TLS, request, answer; over HTTP/2 when the options say so.
async fn open_hop(options: &Options) -> Result<Hop, Error> {
    let mut dialed = dial(options).await?;
    let mut h2 = options.http != Http::Http1 && !dialed.unix;
    if options.tls.is_on() {
        let alpn: &[&[u8]] = match options.http {
            _ if !h2 => &[],
            Http::Http2 => &[b"h2"],
            _ => &[b"h2", b"http/1.1"],
        };
        let (stream, agreed) = start_tls(options, &dialed.host, dialed.stream, alpn).await?;
        dialed.stream = stream;
        // The server's choice: over TLS, "when offered" is decided here.
        h2 = h2 && agreed.as_deref() == Some(b"h2".as_slice());
        if options.http == Http::Http2 && !h2 {
            return Err(Http2Error::NotNegotiated.into());
        }
    }
    if h2 {
        return open_h2(options, dialed).await;
    }
    let key = handshake::key_from_bytes(rand::random());
    let offer = options.compression.as_ref().map(|c| c.offer());
    send_request(options, &mut dialed, &key, offer.as_deref()).await?;
    let (head, leftover) = read_head(options, &mut dialed.stream).await?;
    let checked = validate_response(
        &head,
        &key,
        options.subprotocol.as_deref(),
        offer.as_deref(),
    );
    match checked {
        Ok((subprotocol, extensions)) => {
            let deflate = match &options.compression {
                Some(offered) => {
                    let answer = head.headers.get_all("sec-websocket-extensions");
                    negotiate_client(answer, offered).map_err(HandshakeError::InvalidExtension)?
                }
                None => None,
            };
            Ok(Hop::Open(Box::new(Opened {
                head,
                subprotocol,
                extensions,
                deflate,
                dialed,
                leftover,
                url_chain: Vec::new(),
            })))
        }
        Err(HandshakeError::Rejected(rejection))
            if redirect::is_redirect(rejection.status)
                && !dialed.unix
                && options.max_redirects > 0 =>
        {
            match rejection.headers.get("location") {
                Some(location) => Ok(Hop::Redirect(location.to_owned())),
                None => Err(RedirectError::InvalidLocation(String::new()).into()),
            }
        }
        Err(HandshakeError::Rejected(mut rejection)) => {
            rejection.body = read_body(&mut dialed.stream, leftover, &rejection.headers).await;
            Err(HandshakeError::Rejected(rejection).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The WebSocket over HTTP/2 on the dialed stream; in "when offered" mode, a server that turns
/// out not to allow it (no extended CONNECT, or no HTTP/2 at all on plain TCP) gets the
/// HTTP/1.1 upgrade on a new connection instead.
#[cfg(feature = "http2")]
async fn open_h2(options: &Options, dialed: Dialed) -> Result<Hop, Error> {
    match super::h2::open(options, dialed).await {
        Ok(opened) => Ok(Hop::Open(Box::new(opened))),
        Err(Error::Http2(e)) if options.http == Http::Http2WhenOffered && e.means_not_offered() => {
            tracing::debug!("HTTP/2 not offered ({e}); upgrading over HTTP/1.1");
            let http1 = Options {
                http: Http::Http1,
                ..options.clone()
            };
            Box::pin(open_hop(&http1)).await
        }
        Err(e) => Err(e),
    }
}

#[cfg(not(feature = "http2"))]
async fn open_h2(_options: &Options, _dialed: Dialed) -> Result<Hop, Error> {
    Err(OptionsError::Http2Disabled.into())
}

/// A byte stream to the origin (possibly through a proxy's tunnel), before TLS.
pub(super) struct Dialed {
    pub(super) stream: Conn,
    pub(super) control: SocketControl,
    pub(super) addrs: Addrs,
    /// The origin's host and port, as the `Host` header and TLS name need them.
    pub(super) host: String,
    pub(super) port: u16,
    /// Over a Unix socket (which follows no redirect).
    pub(super) unix: bool,
}

/// Opens the byte stream: the Unix socket when neither host nor port is given, else TCP to the
/// origin, through the proxy the options select.
pub(super) async fn dial(options: &Options) -> Result<Dialed, Error> {
    let tls = options.tls.is_on();
    if options.host.is_none() && options.port.is_none() {
        let path = options.path.as_deref().ok_or(OptionsError::NoDestination)?;
        return dial_unix(path, default_port(tls));
    }
    let host = options.host.clone().unwrap_or_else(|| "127.0.0.1".into());
    let port = options.port.unwrap_or(default_port(tls));
    if let Some(route) = crate::proxy::select(&options.proxy, tls, &host, port)? {
        let (stream, control, addrs) =
            tunnel::open(&route, &options.proxy_tls, &host, port).await?;
        return Ok(Dialed {
            stream,
            control,
            addrs,
            host,
            port,
            unix: false,
        });
    }
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    stream.set_nodelay(true)?;
    let addrs = Addrs::of_tcp(&stream);
    let (stream, control) = tcp_with_control(stream)?;
    Ok(Dialed {
        stream: Conn::Tcp(stream),
        control,
        addrs,
        host,
        port,
        unix: false,
    })
}

#[cfg(unix)]
fn dial_unix(path: &Path, port: u16) -> Result<Dialed, Error> {
    let std = std::os::unix::net::UnixStream::connect(path)?;
    std.set_nonblocking(true)?;
    let control = std.try_clone()?;
    let stream = tokio::net::UnixStream::from_std(std)?;
    Ok(Dialed {
        stream: Conn::Other(Box::new(stream)),
        control: SocketControl::Unix(control),
        addrs: Addrs {
            unix_path: Some(path.to_owned()),
            ..Addrs::default()
        },
        host: "localhost".to_owned(),
        port,
        unix: true,
    })
}

#[cfg(not(unix))]
fn dial_unix(_path: &std::path::Path, _port: u16) -> Result<Dialed, Error> {
    Err(OptionsError::UnixUnsupported.into())
}

/// Runs TLS to the origin over the dialed stream, offering the `alpn` protocols (none for a
/// plain WebSocket); returns the stream and the protocol the server agreed to.
pub(super) async fn start_tls(
    options: &Options,
    host: &str,
    stream: Conn,
    alpn: &[&[u8]],
) -> Result<(Conn, Option<Vec<u8>>), Error> {
    let mut config = crate::tls::client_config(&options.tls)?;
    if !alpn.is_empty() {
        let mut with_alpn = (*config).clone();
        with_alpn.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config = std::sync::Arc::new(with_alpn);
    }
    let name = crate::tls::server_name(&options.tls, host)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls_stream = connector.connect(name, stream).await.map_err(Error::Tls)?;
    let agreed = tls_stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    Ok((Conn::Other(Box::new(tls_stream)), agreed))
}

/// Sends the upgrade request (RFC 6455 §4.1).
async fn send_request(
    options: &Options,
    dialed: &mut Dialed,
    key: &str,
    offer: Option<&str>,
) -> Result<(), Error> {
    let mut request = Vec::with_capacity(512);
    encode_request(
        &options.pathname,
        &host_header(&dialed.host, dialed.port, options.tls.is_on()),
        key,
        options.subprotocol.as_deref(),
        offer,
        &options.headers,
        &mut request,
    )?;
    dialed.stream.write_all(&request).await?;
    dialed.stream.flush().await?;
    Ok(())
}

/// Reads the answer's head; returns it with the bytes read after it.
async fn read_head(
    options: &Options,
    stream: &mut Conn,
) -> Result<(ResponseHead, BytesMut), Error> {
    let limits = options.config.head_limits();
    let mut buf = BytesMut::with_capacity(1024);
    let (head, len) = loop {
        if let Some(parsed) = parse_response(&buf, limits)? {
            break parsed;
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(HandshakeError::Incomplete.into());
        }
    };
    buf.advance(len);
    Ok((head, buf))
}

/// Reads a refused upgrade's body: by Content-Length, else to EOF; at most 64 KiB either way.
async fn read_body(stream: &mut Conn, mut buf: BytesMut, headers: &Headers) -> Bytes {
    let want = headers
        .get("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(MAX_REFUSAL_BODY)
        .min(MAX_REFUSAL_BODY);
    while buf.len() < want {
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    buf.truncate(want);
    buf.freeze()
}
