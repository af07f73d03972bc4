//! The server side: [`accept`] reads and checks the upgrade request on a stream the caller
//! accepted, answers it (101, or the matching HTTP error), and starts the session.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::conn::{start_session, within, Conn, Start};
use crate::error::{Error, TimeoutKind};
use crate::handshake::{
    encode_rejection, encode_response, parse_request, select_subprotocol,
    validate_extended_connect, validate_request, HandshakeError, Rejection, Request,
};
use crate::options::ServerOptions;
use crate::proto::deflate::{negotiate_server, Deflate};
use crate::proto::Role;
use crate::session::{Reader, WebSocket, Writer};

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
    let (request, ws) = WebSocket::accept(stream, options).await?;
    let (reader, writer) = ws.split();
    Ok((request, reader, writer))
}

impl WebSocket {
    /// Accepts a connection as [`accept`] does, and returns it as one [`WebSocket`] instead of
    /// a reader and a writer.
    ///
    /// # Errors
    /// As [`accept`].
    ///
    /// ```no_run
    /// use coro_websocket::{ServerOptions, WebSocket};
    /// use futures_util::StreamExt;
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// loop {
    ///     let (tcp, _) = listener.accept().await?;
    ///     tokio::spawn(async move {
    ///         let Ok((_request, mut ws)) = WebSocket::accept(tcp, ServerOptions::default()).await else { return };
    ///         while let Some(Ok(msg)) = ws.next().await {
    ///             if ws.send(msg).await.is_err() { break }
    ///         }
    ///     });
    /// }
    /// # }
    /// ```
    pub async fn accept<S>(stream: S, options: ServerOptions) -> Result<(Request, WebSocket), Error>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        // Boxed so that the handshake's state (buffers, timers) does not size the caller's task
        // for the connection's whole life: at 10,000 idle connections this halves the memory
        // per connection.
        Box::pin(accept_boxed(stream, options)).await
    }
}

async fn accept_boxed<S>(stream: S, options: ServerOptions) -> Result<(Request, WebSocket), Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    options.config.validate()?;
    // A plain TCP stream is split without a lock.
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
        Some(limit),
        TimeoutKind::Handshake,
        server_handshake(&mut stream, &options),
    )
    .await?;
    let start = Start {
        leftover,
        config: &options.config,
        heartbeat: options.heartbeat,
        // Unlike a client, a server keeps no second handle on the socket (it would cost a file
        // descriptor per connection): an aborted session is ended by closing its sink instead.
        control: None,
        deflate,
    };
    Ok((request, start_session(stream, Role::Server, start)))
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
    let admitted = parsed.map_err(Refuse::from).and_then(|(mut request, len)| {
        let admitted = admit(&mut request, options, Over::Http1)?;
        Ok((request, admitted, len))
    });
    let (request, admitted, len) = match admitted {
        Ok(ok) => ok,
        Err(refuse) => {
            let (rejection, error) = refuse.into_parts();
            reject(stream, &rejection).await;
            return Err(error.into());
        }
    };
    buf.advance(len);
    let mut response = Vec::with_capacity(256);
    encode_response(
        admitted.key.as_deref().unwrap_or_default(),
        request.subprotocol.as_deref(),
        admitted.extensions(),
        &options.headers,
        &mut response,
    );
    stream.write_all(&response).await?;
    stream.flush().await?;
    Ok((request, buf, admitted.deflate.map(|(agreed, _)| agreed)))
}

/// Which handshake a request came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over<'a> {
    /// An HTTP/1.1 `Upgrade` (RFC 6455 §4).
    Http1,
    /// An HTTP/2 extended CONNECT (RFC 8441), with its `:protocol` pseudo-header.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    Http2 { protocol: Option<&'a str> },
}

/// A request the server accepts: what its answer needs.
pub(crate) struct Admitted {
    /// The `Sec-WebSocket-Key` (HTTP/1.1 only).
    pub(crate) key: Option<String>,
    /// The agreed permessage-deflate parameters and the answer's extension header.
    pub(crate) deflate: Option<(Deflate, String)>,
}

impl Admitted {
    /// The `Sec-WebSocket-Extensions` answer, if compression was agreed.
    pub(crate) fn extensions(&self) -> Option<&str> {
        self.deflate.as_ref().map(|(_, answer)| answer.as_str())
    }
}

/// The server's decision on a request, whatever carried it: the RFC 6455 §4.2.1 (or RFC 8441
/// §5) checks, the application's hook, the subprotocol (set on `request`) and permessage-deflate
/// (RFC 7692 §5: the first acceptable offer, or none).
pub(crate) fn admit(
    request: &mut Request,
    options: &ServerOptions,
    over: Over<'_>,
) -> Result<Admitted, Refuse> {
    let key = match over {
        Over::Http1 => Some(validate_request(request)?),
        Over::Http2 { protocol } => {
            validate_extended_connect(request, protocol)?;
            None
        }
    };
    if let Some(hook) = &options.on_request {
        hook(request).map_err(Refuse::Hook)?;
    }
    request.subprotocol = select_subprotocol(request, &options.subprotocols);
    let deflate = options.compression.as_ref().and_then(|config| {
        negotiate_server(request.headers.get_all("sec-websocket-extensions"), config)
    });
    Ok(Admitted { key, deflate })
}

/// Why the server refuses a request: its own check failed, or the application's hook said no.
pub(crate) enum Refuse {
    Invalid(HandshakeError),
    Hook(Rejection),
}

impl Refuse {
    /// The answer to send, and the error to report.
    pub(crate) fn into_parts(self) -> (Rejection, HandshakeError) {
        match self {
            Refuse::Invalid(e) => (Rejection::for_error(&e), e),
            Refuse::Hook(rejection) => (
                rejection.clone(),
                HandshakeError::Rejected(Box::new(rejection)),
            ),
        }
    }
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
