//! The I/O layer: the only place that touches tokio sockets and rustls. It opens TCP, TLS or Unix
//! connections, runs the opening handshake of [`crate::handshake`] over them, and hands the byte
//! stream to the session through [`FrameCodec`].

mod frames;
mod proxy;
mod redirect;
pub(crate) mod tls;

pub use proxy::{env_proxy, no_proxy_matches, Proxy, ProxyError};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::Config;
use crate::error::{Error, RedirectError, TimeoutKind};
use crate::handshake::{
    self, encode_rejection, encode_request, encode_response, parse_request, parse_response,
    select_subprotocol, validate_request, validate_response, HandshakeError, Headers, Rejection,
    Request, ResponseHead,
};
use crate::options::{Heartbeat, Options, ServerOptions};
use crate::proto::deflate::{negotiate_client, negotiate_server, Deflate};
use crate::proto::FrameDecoder;
use crate::proto::Role;
use crate::session::{self, Reader, Shared, Transport, Writer};
use frames::{FrameReader, FrameWriter};

/// Any byte stream a WebSocket can run over.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The most of a refused upgrade's body that is kept.
const MAX_REFUSAL_BODY: usize = 64 << 10;

/// The answer to a successful upgrade: the seed's `Response` structure.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status code: 101.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// The HTTP version (the seed's decimal `version`: 1.1 is `HTTP_11`).
    pub version: http::Version,
    /// Whether the response asked to keep the HTTP connection alive; after an upgrade this is
    /// usually `false` (`Connection: Upgrade`).
    pub keep_alive: bool,
    /// The response headers, in order, exactly as received.
    pub headers: Headers,
    /// The subprotocol the server selected, if any.
    pub subprotocol: Option<String>,
    /// The extensions the server selected, if any.
    pub extensions: Option<String>,
    /// The socket the connection runs over.
    pub socket: Socket,
    /// The URLs requested, in order: the first is the one asked for, each next one the target
    /// of a redirect, and the last the one that answered 101. One entry when there was no
    /// redirect.
    pub url_chain: Vec<String>,
}

/// A handle on the connection's socket: addresses and `shutdown()`, as the seed's `res.socket`.
///
/// It does not keep the connection alive: once the reader and writer are dropped, the socket is
/// closed and `shutdown()` does nothing.
#[derive(Debug, Clone)]
pub struct Socket {
    local_addr: Option<SocketAddr>,
    peer_addr: Option<SocketAddr>,
    unix_path: Option<PathBuf>,
    session: Weak<Shared>,
}

impl Socket {
    /// The local address, for TCP.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The peer's address, for TCP.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// The socket path, for a Unix socket.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix_path.as_deref()
    }

    /// Ends the connection at once, without a close handshake: the socket is shut down both
    /// ways, the reader returns `Ok(None)` and writes fail. This is `res.socket:shutdown()`.
    pub fn shutdown(&self) {
        if let Some(shared) = self.session.upgrade() {
            shared.shutdown();
        }
    }
}

/// Opens a WebSocket connection: the seed's `connect(options)`.
///
/// Connects by TCP to `host:port` (or to the Unix socket `path` when neither is given), runs TLS
/// if asked, performs the RFC 6455 §4.1 upgrade, and returns the response with a reader and a
/// writer. `options.timeout` bounds all of it.
///
/// # Errors
/// Invalid options, I/O and TLS errors, [`Error::Timeout`], and [`Error::Handshake`]; a refused
/// upgrade carries the status, headers and up to 64 KiB of the body
/// ([`HandshakeError::Refused`]).
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
    options.config.validate()?;
    if let Some(deflate) = &options.compression {
        deflate.validate()?;
    }
    let attempt = open_client(&options);
    let opened = match options.timeout {
        Some(limit) => within(limit, TimeoutKind::Connect, attempt).await?,
        None => attempt.await?,
    };
    let Opened {
        head,
        subprotocol,
        extensions,
        deflate,
        stream,
        leftover,
        transport,
        addrs,
        url_chain,
    } = opened;
    let (reader, writer, session) = start_session(
        stream,
        leftover,
        Role::Client,
        &options.config,
        options.heartbeat,
        transport,
        deflate,
    );
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
        socket: Socket {
            local_addr: addrs.0,
            peer_addr: addrs.1,
            unix_path: addrs.2,
            session,
        },
        url_chain,
    };
    Ok((response, reader, writer))
}

type Addrs = (Option<SocketAddr>, Option<SocketAddr>, Option<PathBuf>);
/// A client connection whose upgrade succeeded.
struct Opened {
    head: ResponseHead,
    subprotocol: Option<String>,
    extensions: Option<String>,
    deflate: Option<Deflate>,
    stream: Conn,
    leftover: BytesMut,
    transport: Option<Transport>,
    addrs: Addrs,
    url_chain: Vec<String>,
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

/// One upgrade request, through the proxy the options select.
async fn open_hop(options: &Options) -> Result<Hop, Error> {
    let tls = options.tls.is_on();
    let use_unix = options.host.is_none() && options.port.is_none();
    let (stream, transport, addrs, host, port): (Conn, _, Addrs, String, u16) = if use_unix {
        let path = options
            .path
            .clone()
            .ok_or(Error::Options("no host, port or path given"))?;
        let std = std::os::unix::net::UnixStream::connect(&path)?;
        std.set_nonblocking(true)?;
        let control = std.try_clone()?;
        let stream = tokio::net::UnixStream::from_std(std)?;
        let port = if tls { 443 } else { 80 };
        (
            Conn::Other(Box::new(stream)),
            Transport::Unix(control),
            (None, None, Some(path)),
            "localhost".to_owned(),
            port,
        )
    } else {
        let host = options.host.clone().unwrap_or_else(|| "127.0.0.1".into());
        let port = options.port.unwrap_or(if tls { 443 } else { 80 });
        if let Some(route) = proxy::select(&options.proxy, tls, &host, port)? {
            let (stream, control, addrs) =
                proxy::open(&route, &options.proxy_tls, &host, port).await?;
            (stream, control, addrs, host, port)
        } else {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            let addrs = (stream.local_addr().ok(), stream.peer_addr().ok(), None);
            let (stream, control) = tcp_with_control(stream)?;
            (Conn::Tcp(stream), control, addrs, host, port)
        }
    };
    let mut stream = if tls {
        let config = tls::client_config(&options.tls)?;
        let name = tls::server_name(&options.tls, &host)?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls_stream = connector.connect(name, stream).await.map_err(Error::Tls)?;
        Conn::Other(Box::new(tls_stream))
    } else {
        stream
    };
    let key = handshake::key_from_bytes(rand::random());
    let offer = options.compression.as_ref().map(|c| c.offer());
    let mut request = Vec::with_capacity(512);
    encode_request(
        &options.pathname,
        &crate::url::host_header(&host, port, tls),
        &key,
        options.subprotocol.as_deref(),
        offer.as_deref(),
        &options.headers,
        &mut request,
    )?;
    stream.write_all(&request).await?;
    stream.flush().await?;
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
    match validate_response(
        &head,
        &key,
        options.subprotocol.as_deref(),
        offer.as_deref(),
    ) {
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
                stream,
                leftover: buf,
                transport: Some(transport),
                addrs,
                url_chain: Vec::new(),
            })))
        }
        Err(HandshakeError::Refused(refusal))
            if redirect::is_redirect(refusal.status) && !use_unix && options.max_redirects > 0 =>
        {
            match refusal.headers.get("location") {
                Some(location) => Ok(Hop::Redirect(location.to_owned())),
                None => Err(RedirectError::InvalidLocation(String::new()).into()),
            }
        }
        Err(HandshakeError::Refused(mut refusal)) => {
            refusal.body = read_body(&mut stream, buf, &refusal.headers).await;
            Err(HandshakeError::Refused(refusal).into())
        }
        Err(e) => Err(e.into()),
    }
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

/// A connection's byte stream: TCP is kept apart so that it can be split without a lock.
enum Conn {
    Tcp(tokio::net::TcpStream),
    Other(Box<dyn Io>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Other(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Other(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
            Conn::Other(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Other(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A TCP stream and a second handle on its socket, used only to shut it down.
fn tcp_with_control(
    stream: tokio::net::TcpStream,
) -> std::io::Result<(tokio::net::TcpStream, Transport)> {
    let std = stream.into_std()?;
    let control = std.try_clone()?;
    Ok((
        tokio::net::TcpStream::from_std(std)?,
        Transport::Tcp(control),
    ))
}

/// Splits the stream and starts the session over a [`FrameReader`] and a [`FrameWriter`].
fn start_session(
    stream: Conn,
    leftover: BytesMut,
    role: Role,
    config: &Config,
    heartbeat: Option<Heartbeat>,
    transport: Option<Transport>,
    deflate: Option<Deflate>,
) -> (Reader, Writer, Weak<Shared>) {
    let decoder = FrameDecoder::new(role, config.max_frame_size, config.max_message_size)
        .with_compression(deflate.is_some());
    let limit = config.max_write_buffer;
    let mask = crate::codec::random_mask;
    let (source, sink): (Pin<Box<dyn session::FrameSource>>, _) = match stream {
        Conn::Tcp(tcp) => {
            let (r, w) = tcp.into_split();
            (
                Box::pin(FrameReader::new(r, decoder, leftover)),
                Box::pin(FrameWriter::new(w, limit, mask)) as Pin<Box<dyn FrameSinkDyn>>,
            )
        }
        Conn::Other(io) => {
            let (r, w) = tokio::io::split(io);
            (
                Box::pin(FrameReader::new(r, decoder, leftover)),
                Box::pin(FrameWriter::new(w, limit, mask)) as Pin<Box<dyn FrameSinkDyn>>,
            )
        }
    };
    let under = session::Under {
        transport,
        validated: true,
        deflate,
    };
    session::open(source, sink, role, config, heartbeat, under)
}

/// The sink type the session takes.
trait FrameSinkDyn: futures_sink::Sink<crate::Message, Error = Error> + Send {}
impl<T: futures_sink::Sink<crate::Message, Error = Error> + Send> FrameSinkDyn for T {}

/// Accepts a WebSocket connection on an established stream: the server side of the handshake.
///
/// `stream` is any tokio byte stream: a `TcpStream`, a TLS stream, a `UnixStream`. The request is
/// read within `config.handshake_timeout` and checked (RFC 6455 §4.2.1); a bad one is answered
/// with the matching HTTP error (400, 405, 426 with `Sec-WebSocket-Version: 13`, 431), and so is
/// one that `on_request` refuses.
///
/// # Errors
/// [`Error::Handshake`] for a bad or refused request (after the error answer was sent),
/// [`Error::Timeout`] if the request did not arrive in time, I/O errors.
///
/// ```no_run
/// use coro_websocket::{accept, ServerOptions};
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     tokio::spawn(async move {
///         let Ok((_request, mut read, mut write)) = accept(tcp, ServerOptions::default()).await else { return };
///         while let Ok(Some(msg)) = read.read_message().await {
///             if write.write(msg).await.is_err() { break }
///         }
///     });
/// }
/// # }
/// ```
pub async fn accept<S>(
    stream: S,
    options: ServerOptions,
) -> Result<(Request, Reader, Writer), Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // Boxed so that the handshake's state (buffers, timers) does not size the caller's task for
    // the connection's whole life: at 10,000 idle connections this halves the memory per
    // connection.
    Box::pin(accept_boxed(stream, options)).await
}

async fn accept_boxed<S>(
    stream: S,
    options: ServerOptions,
) -> Result<(Request, Reader, Writer), Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    options.config.validate()?;
    // A plain TCP stream is split without a lock. Unlike a client, a server keeps no second
    // handle on the socket (it would cost a file descriptor per connection): an aborted session
    // is ended by closing its sink instead.
    let transport = None;
    let mut stream =
        match (Box::new(stream) as Box<dyn std::any::Any>).downcast::<tokio::net::TcpStream>() {
            Ok(tcp) => Conn::Tcp(*tcp),
            Err(other) => match other.downcast::<S>() {
                Ok(s) => Conn::Other(s),
                Err(_) => unreachable!("the box holds an S"),
            },
        };
    let limit = options.config.handshake_timeout;
    if let Some(deflate) = &options.compression {
        deflate.validate()?;
    }
    let (request, leftover, deflate) = within(
        limit,
        TimeoutKind::Handshake,
        server_handshake(&mut stream, &options),
    )
    .await?;
    let (reader, writer, _) = start_session(
        stream,
        leftover,
        Role::Server,
        &options.config,
        options.heartbeat,
        transport,
        deflate,
    );
    Ok((request, reader, writer))
}

async fn server_handshake(
    stream: &mut Conn,
    options: &ServerOptions,
) -> Result<(Request, BytesMut, Option<Deflate>), Error> {
    let limits = options.config.head_limits();
    let mut buf = BytesMut::with_capacity(1024);
    let parsed = loop {
        match parse_request(&buf, limits) {
            Ok(Some(parsed)) => break Ok(parsed),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(HandshakeError::Incomplete.into());
        }
    };
    let checked = parsed.map_err(Refuse::from).and_then(|(mut request, len)| {
        let key = validate_request(&request)?;
        if let Some(hook) = &options.on_request {
            hook(&request).map_err(|r| Refuse::Hook(r.status, r))?;
        }
        request.subprotocol = select_subprotocol(&request, &options.subprotocols);
        Ok::<_, Refuse>((request, key, len))
    });
    let (request, key, len) = match checked {
        Ok(ok) => ok,
        Err(Refuse::Invalid(e)) => {
            reject(stream, &Rejection::for_error(&e)).await;
            return Err(e.into());
        }
        Err(Refuse::Hook(status, rejection)) => {
            reject(stream, &rejection).await;
            return Err(HandshakeError::Rejected(status).into());
        }
    };
    buf.advance(len);
    // RFC 7692 §5: accept the first acceptable permessage-deflate offer, or decline them all.
    let deflate = options.compression.as_ref().and_then(|config| {
        negotiate_server(request.headers.get_all("sec-websocket-extensions"), config)
    });
    let mut response = Vec::with_capacity(256);
    encode_response(
        &key,
        request.subprotocol.as_deref(),
        deflate.as_ref().map(|(_, answer)| answer.as_str()),
        &options.headers,
        &mut response,
    );
    stream.write_all(&response).await?;
    stream.flush().await?;
    Ok((request, buf, deflate.map(|(agreed, _)| agreed)))
}

/// Why the server refuses a request: its own check failed, or the application's hook said no.
enum Refuse {
    Invalid(HandshakeError),
    Hook(u16, Rejection),
}

impl From<HandshakeError> for Refuse {
    fn from(e: HandshakeError) -> Self {
        Refuse::Invalid(e)
    }
}

async fn reject(stream: &mut Conn, rejection: &Rejection) {
    let mut out = Vec::with_capacity(256 + rejection.body.len());
    encode_rejection(rejection, &mut out);
    // The peer may already be gone; the handshake error is what the caller needs.
    let _ = stream.write_all(&out).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// Waits at most `limit` for a future, mapping expiry to [`Error::Timeout`].
async fn within<T>(
    limit: Duration,
    kind: TimeoutKind,
    fut: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| Error::Timeout(kind, limit))?
}
