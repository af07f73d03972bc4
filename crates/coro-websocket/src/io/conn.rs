//! The byte stream a connection runs over, the handle that shuts its OS socket down, and the
//! start of a session over it: the shared ground of the client and the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::options::Heartbeat;
use crate::proto::deflate::Deflate;
use crate::proto::{FrameDecoder, Role};
use crate::session::{
    self, ByteRead, ByteWrite, FrameReader, FrameSink, FrameStream, FrameWriter, ShutdownHook,
    WebSocket,
};

/// Any byte stream a WebSocket can run over.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A connection's byte stream: TCP is kept apart so that it can be split without a lock.
pub(super) enum Conn {
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

/// A second handle on a client's OS socket, used only to shut it down when the session is
/// aborted (`Socket::shutdown`, a dead peer, a close timeout).
#[derive(Debug)]
pub(super) enum SocketControl {
    Tcp(std::net::TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl SocketControl {
    /// The session's shutdown hook for this socket.
    pub(super) fn into_hook(self) -> ShutdownHook {
        Box::new(move || {
            let _ = match &self {
                SocketControl::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
                #[cfg(unix)]
                SocketControl::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            };
        })
    }
}

/// A TCP stream and a second handle on its socket, used only to shut it down.
pub(super) fn tcp_with_control(
    stream: tokio::net::TcpStream,
) -> std::io::Result<(tokio::net::TcpStream, SocketControl)> {
    let std = stream.into_std()?;
    let control = std.try_clone()?;
    Ok((
        tokio::net::TcpStream::from_std(std)?,
        SocketControl::Tcp(control),
    ))
}

/// The addresses of a connection's socket.
#[derive(Debug, Clone, Default)]
pub(super) struct Addrs {
    pub(super) local: Option<SocketAddr>,
    pub(super) peer: Option<SocketAddr>,
    pub(super) unix_path: Option<PathBuf>,
}

impl Addrs {
    pub(super) fn of_tcp(tcp: &tokio::net::TcpStream) -> Addrs {
        Addrs {
            local: tcp.local_addr().ok(),
            peer: tcp.peer_addr().ok(),
            unix_path: None,
        }
    }
}

/// What a session is started with, besides the stream and the role.
pub(super) struct Start<'a> {
    pub(super) leftover: BytesMut,
    pub(super) config: &'a Config,
    pub(super) heartbeat: Option<Heartbeat>,
    pub(super) control: Option<SocketControl>,
    pub(super) deflate: Option<Deflate>,
}

/// Splits the stream and starts the session over a [`FrameReader`] and a [`FrameWriter`].
pub(super) fn start_session(stream: Conn, role: Role, start: Start<'_>) -> WebSocket {
    let Start {
        leftover,
        config,
        heartbeat,
        control,
        deflate,
    } = start;
    let decoder = FrameDecoder::new(role, config.max_frame_size, config.max_message_size)
        .with_compression(deflate.is_some());
    let limit = config.max_write_buffer;
    let mask = crate::codec::random_mask;
    let budget = config.memory_budget.clone();
    let (source, sink) = match stream {
        Conn::Tcp(tcp) => {
            let (r, w) = tcp.into_split();
            (
                FrameStream::Tcp(Box::new(FrameReader::new(r, decoder, leftover, budget))),
                FrameSink::Tcp(Box::new(FrameWriter::new(w, limit, mask))),
            )
        }
        Conn::Other(io) => {
            let (r, w) = tokio::io::split(io);
            let (r, w): (ByteRead, ByteWrite) = (Box::new(r), Box::new(w));
            (
                FrameStream::Bytes(Box::new(FrameReader::new(r, decoder, leftover, budget))),
                FrameSink::Bytes(Box::new(FrameWriter::new(w, limit, mask))),
            )
        }
    };
    let under = session::Under {
        shutdown: control.map(SocketControl::into_hook),
        validated: true,
        deflate,
    };
    session::open_owned(source, sink, role, config, heartbeat, under)
}

/// Waits at most `limit` (forever with `None`) for a future, mapping expiry to
/// [`Error::Timeout`].
pub(super) async fn within<T>(
    limit: Option<Duration>,
    kind: TimeoutKind,
    fut: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(limit) = limit else {
        return fut.await;
    };
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| Error::Timeout(kind, limit))?
}
