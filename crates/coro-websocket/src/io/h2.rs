//! The client over HTTP/2 (RFC 8441): a WebSocket on one stream of an HTTP/2 connection, with
//! the h2 crate doing the HTTP/2 framing. Feature `http2`.
//!
//! [`connect`](crate::connect) with [`Http::Http2`](crate::Http::Http2) (or
//! `Http2WhenOffered`) opens a connection for one WebSocket; [`Http2Client`] keeps a connection
//! to one origin and opens as many WebSockets over it as asked.
//!
//! After the handshake, [`Http2Stream`] makes the stream a byte stream for the same frame reader,
//! writer and session as TCP. HTTP/2 flow control is the backpressure: the reader gives the
//! peer more window only as it consumes data, so a reader that stops stops its peer's stream
//! and no other.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::client::{Dialed, Opened};
use super::conn::{start_session, Conn, Start};
use super::response::{Response, Socket};
use crate::error::{Error, Http2Error};
use crate::handshake::{
    extended_connect_headers, validate_connect_response, HandshakeError, Headers, ResponseHead,
    PROTOCOL,
};
use crate::options::Options;
use crate::proto::deflate::negotiate_client;
use crate::proto::Role;
use crate::session::{Handle, Reader, Writer};

/// The receive window of each stream: enough not to limit a stream on a fast network, and what
/// one stalled reader holds at most.
const STREAM_WINDOW: u32 = 256 << 10;
/// The receive window of the whole connection: 64 streams' worth, so that stalled readers stall
/// the connection only when 64 of them hold their whole window.
const CONNECTION_WINDOW: u32 = 64 * STREAM_WINDOW;

/// An HTTP/2 connection to one origin, carrying WebSockets (RFC 8441): each
/// [`Http2Client::open`] is a new stream on it. Clones share the connection.
///
/// ```no_run
/// use coro_websocket::{http2::Http2Client, Message, Options};
/// # #[tokio::main] async fn main() -> Result<(), coro_websocket::Error> {
/// let client = Http2Client::connect(Options::from_url("wss://example.org/")?).await?;
/// let (_res, mut read_a, mut write_a) = client.open("/feed/a").await?;
/// let (_res, mut read_b, mut write_b) = client.open("/feed/b").await?; // same TCP connection
/// write_a.write(Message::text("hello a")).await?;
/// write_b.write(Message::text("hello b")).await?;
/// # let _ = (read_a.read().await, read_b.read().await);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Http2Client {
    send: h2::client::SendRequest<Bytes>,
    options: Options,
    authority: String,
}

impl std::fmt::Debug for Http2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Client")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl Http2Client {
    /// Connects to the origin of `options` (host, port, TLS, proxy, timeout) over HTTP/2: ALPN
    /// `h2` over TLS, prior knowledge over plain TCP. Each [`Http2Client::open`] then uses the
    /// subprotocol, headers, compression, limits and heartbeat of `options`.
    ///
    /// # Errors
    /// As [`connect`](crate::connect); [`Http2Error::NotNegotiated`] if TLS did not agree on
    /// `h2`, [`Http2Error::ExtendedConnectNotOffered`] if the server does not allow WebSockets
    /// over HTTP/2, [`Http2Error::Connection`] if the HTTP/2 connection fails.
    pub async fn connect(options: Options) -> Result<Http2Client, Error> {
        options.config.validate()?;
        let attempt = async {
            let mut dialed = super::client::dial(&options).await?;
            if options.tls.is_on() {
                let (stream, alpn) =
                    super::client::start_tls(&options, &dialed.host, dialed.stream, &[b"h2"])
                        .await?;
                dialed.stream = stream;
                if alpn.as_deref() != Some(b"h2".as_slice()) {
                    return Err(Http2Error::NotNegotiated.into());
                }
            }
            let authority = crate::url::host_header(&dialed.host, dialed.port, options.tls.is_on());
            let send = handshake(dialed.stream).await?;
            Ok(Http2Client {
                send,
                options: options.clone(),
                authority,
            })
        };
        super::conn::within(options.timeout, crate::error::TimeoutKind::Connect, attempt).await
    }

    /// Opens a WebSocket to `pathname` (path and query) on a new stream of this connection.
    ///
    /// # Errors
    /// [`Error::Handshake`] if the server refuses (any status but 2xx) or answers with a
    /// subprotocol or extension not offered; [`Http2Error`] if the connection has failed.
    pub async fn open(&self, pathname: &str) -> Result<(Response, Reader, Writer), Error> {
        let AcceptedStream {
            head,
            subprotocol,
            extensions,
            deflate,
            stream,
        } = open_stream(self.send.clone(), &self.options, &self.authority, pathname).await?;
        let start = Start {
            leftover: BytesMut::new(),
            config: &self.options.config,
            heartbeat: self.options.heartbeat,
            control: None,
            deflate,
        };
        let (reader, writer, session) =
            start_session(Conn::Other(Box::new(stream)), Role::Client, start).split_weak();
        let url = crate::redirect::url_of(&Options {
            pathname: pathname.to_owned(),
            ..self.options.clone()
        });
        let response = Response {
            code: head.code,
            reason: head.reason,
            version: head.version,
            keep_alive: true,
            headers: head.headers,
            subprotocol,
            extensions,
            socket: Socket::new(Default::default(), Handle::Split(session)),
            url_chain: vec![url.to_string()],
        };
        Ok((response, reader, writer))
    }
}

/// One WebSocket over a connection of its own: what [`connect`](crate::connect) does over
/// HTTP/2. The dialed stream has had its TLS (and ALPN) already.
pub(super) async fn open(options: &Options, dialed: Dialed) -> Result<Opened, Error> {
    let authority = crate::url::host_header(&dialed.host, dialed.port, options.tls.is_on());
    let Dialed {
        stream,
        control,
        addrs,
        host,
        port,
        unix,
    } = dialed;
    let send = handshake(stream).await?;
    let AcceptedStream {
        head,
        subprotocol,
        extensions,
        deflate,
        stream,
    } = open_stream(send, options, &authority, &options.pathname).await?;
    Ok(Opened {
        head,
        subprotocol,
        extensions,
        deflate,
        dialed: Dialed {
            stream: Conn::Other(Box::new(stream)),
            control,
            addrs,
            host,
            port,
            unix,
        },
        leftover: BytesMut::new(),
        url_chain: Vec::new(),
    })
}

/// The HTTP/2 handshake; returns once the server's SETTINGS are known and allow extended
/// CONNECT (RFC 8441 §3). The connection runs in a task of its own.
async fn handshake(stream: Conn) -> Result<h2::client::SendRequest<Bytes>, Error> {
    let (send, mut connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(connection_error)?;
    let mut ping = connection.ping_pong();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("HTTP/2 connection ended: {e}");
        }
    });
    // The server's SETTINGS come first on its side of the connection, so once our PING is
    // answered they have been read.
    if let Some(ping) = ping.as_mut() {
        ping.ping(h2::Ping::opaque())
            .await
            .map_err(connection_error)?;
    }
    let send = send.ready().await.map_err(connection_error)?;
    if !send.is_extended_connect_protocol_enabled() {
        return Err(Http2Error::ExtendedConnectNotOffered.into());
    }
    Ok(send)
}

/// Sends the extended CONNECT for `pathname` and checks the answer (RFC 8441 §4–5).
async fn open_stream(
    send: h2::client::SendRequest<Bytes>,
    options: &Options,
    authority: &str,
    pathname: &str,
) -> Result<AcceptedStream, Error> {
    let offer = options.compression.as_ref().map(|c| c.offer());
    let headers = extended_connect_headers(
        options.subprotocol.as_deref(),
        offer.as_deref(),
        &options.headers,
    )?;
    let scheme = if options.tls.is_on() { "https" } else { "http" };
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .version(http::Version::HTTP_2)
        .uri(format!("{scheme}://{authority}{pathname}"))
        .extension(h2::ext::Protocol::from_static(PROTOCOL))
        .body(())
        .map_err(|_| crate::handshake::RequestError::InvalidTarget(pathname.to_owned()))?;
    *request.headers_mut() = headers;
    let mut send = send.ready().await.map_err(connection_error)?;
    let (answer, send_stream) = send
        .send_request(request, false)
        .map_err(connection_error)?;
    let answer = answer.await.map_err(connection_error)?;
    let (parts, recv) = answer.into_parts();
    let headers: Headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let status = parts.status.as_u16();
    let (subprotocol, extensions) = validate_connect_response(
        status,
        &headers,
        options.subprotocol.as_deref(),
        offer.as_deref(),
    )?;
    let deflate = match &options.compression {
        Some(offered) => negotiate_client(headers.get_all("sec-websocket-extensions"), offered)
            .map_err(HandshakeError::InvalidExtension)?,
        None => None,
    };
    let head = ResponseHead {
        version: http::Version::HTTP_2,
        code: status,
        reason: parts.status.canonical_reason().unwrap_or("").to_owned(),
        headers,
    };
    Ok(AcceptedStream {
        head,
        subprotocol,
        extensions,
        deflate,
        stream: Http2Stream::new(send_stream, recv),
    })
}

/// A stream whose extended CONNECT the server accepted, with what it selected.
struct AcceptedStream {
    head: ResponseHead,
    subprotocol: Option<String>,
    extensions: Option<String>,
    deflate: Option<crate::proto::deflate::Deflate>,
    stream: Http2Stream,
}

fn connection_error(e: h2::Error) -> Error {
    if let Some(reason) = e.reason() {
        if e.is_remote() || e.is_reset() {
            return Http2Error::Reset(u32::from(reason)).into();
        }
    }
    Http2Error::Connection(e.to_string()).into()
}

/// One HTTP/2 stream as a byte stream: DATA frames in, DATA frames out, flow control honoured
/// both ways (window is given back to the peer only as data is read), END_STREAM on shutdown.
///
/// The client and [`Http2Client`] run the WebSocket session over it. It is public for code that
/// runs its own peer over an extended CONNECT stream (a test's raw peer, or another protocol),
/// on either side of an h2 connection: wrap the stream's halves and use it as any tokio
/// `AsyncRead + AsyncWrite`.
pub struct Http2Stream {
    send: h2::SendStream<Bytes>,
    /// `None` only while dropping.
    recv: Option<h2::RecvStream>,
    /// DATA received and not yet read.
    pending: Bytes,
    /// END_STREAM has been sent.
    ended: bool,
}

/// How long a dropped stream whose END_STREAM was sent waits for the peer's END_STREAM.
const LINGER: std::time::Duration = std::time::Duration::from_secs(10);

impl Drop for Http2Stream {
    /// A stream dropped before the peer ended its side would be reset by h2 (RST_STREAM
    /// CANCEL), which may discard what was sent last, such as the close frame. As a TCP socket
    /// lingers after its FIN, a stream whose END_STREAM was sent is kept, its incoming data read
    /// and dropped, until the peer ends its side too (or for at most `LINGER`). A stream dropped
    /// without END_STREAM is reset: an abnormal closure, as intended.
    fn drop(&mut self) {
        let Some(mut recv) = self.recv.take() else {
            return;
        };
        if !self.ended || recv.is_end_stream() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The receiving half alone keeps the stream from being reset: h2 resets a stream only
        // once every handle on it is gone.
        runtime.spawn(async move {
            let drain = async {
                while let Some(Ok(data)) = recv.data().await {
                    let _ = recv.flow_control().release_capacity(data.len());
                }
            };
            let _ = tokio::time::timeout(LINGER, drain).await;
        });
    }
}

impl Http2Stream {
    /// The byte stream of one HTTP/2 stream, from its two halves.
    pub fn new(send: h2::SendStream<Bytes>, recv: h2::RecvStream) -> Http2Stream {
        Http2Stream {
            send,
            recv: Some(recv),
            pending: Bytes::new(),
            ended: false,
        }
    }
}

/// An h2 error as an I/O error that keeps it (the I/O layer reads the reset code back).
fn io_error(e: h2::Error) -> std::io::Error {
    std::io::Error::other(e)
}

impl AsyncRead for Http2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let Some(recv) = this.recv.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while this.pending.is_empty() {
            match ready!(recv.poll_data(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Ok(data)) => this.pending = data,
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending[..n]);
        this.pending.advance(n);
        // Window for the peer only as data is consumed: a stalled reader holds its stream back.
        let _ = recv.flow_control().release_capacity(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Http2Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.send.reserve_capacity(buf.len());
        loop {
            let room = self.send.capacity();
            if room > 0 {
                let n = room.min(buf.len());
                let data = Bytes::copy_from_slice(&buf[..n]);
                self.send.send_data(data, false).map_err(io_error)?;
                return Poll::Ready(Ok(n));
            }
            match ready!(self.send.poll_capacity(cx)) {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                None => return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // The connection's task writes what h2 has buffered.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // RFC 8441 §5.1: the WebSocket's closing handshake ends with END_STREAM.
        if !self.ended {
            self.ended = true;
            self.send.send_data(Bytes::new(), true).map_err(io_error)?;
        }
        Poll::Ready(Ok(()))
    }
}
