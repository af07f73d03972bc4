//! The unsplit connection: one value that reads and writes, for code that does both from one
//! task (most code). [`WebSocket::split`] turns it into a [`Reader`] and a [`Writer`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;

use super::heartbeat;
use super::link::Link;
use super::owned::Owned;
use super::read::ReadCore;
use super::split::{share, SplitLink};
use super::{FrameSink, FrameStream, Handle, Reader, Shared, Under, Writer};
use crate::error::{Closed, Error};
use crate::options::WrapOptions;
use crate::proto::{CloseCode, CloseFrame, Message, Role};

/// A WebSocket connection that one task reads and writes.
///
/// It answers pings, echoes closes, bounds the close handshake and runs the heartbeat while
/// it is read, as a [`Reader`]/[`Writer`] pair does; but nothing in it is shared, so reading and
/// writing a message takes no lock, no atomic operation and no trip through the runtime when
/// the bytes are already there. It implements `Stream<Item = Result<Message, Error>>` (whole
/// data messages, as [`WebSocket::read_message`]; a [`Reader`]'s stream gives frames, as the
/// seed's `read`) and `Sink<Message>`; [`WebSocket::split`] gives a `Reader` and a `Writer` for
/// code that reads and writes from two tasks.
///
/// Writes made with [`WebSocket::write`] (or [`WebSocket::send`]) while the connection holds
/// more received input stay in its buffer, and go out in one system call when reading next
/// waits for the socket, or at [`WebSocket::flush`]. The `Sink` flushes as `Sink` users expect.
///
/// With a heartbeat, the keep-alive frames go out while the connection is read; a task that
/// stops reading stops sending them (and, in ping mode, cannot see the answer).
///
/// ```
/// use coro_websocket::{WebSocket, FrameCodec, Message, WrapOptions, proto::Role};
/// use futures_util::StreamExt;
/// use tokio_util::codec::Framed;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), coro_websocket::Error> {
/// let (a, b) = tokio::io::duplex(4096);
/// let (cs, cr) = Framed::new(a, FrameCodec::new(Role::Client, &Default::default())).split();
/// let (ss, sr) = Framed::new(b, FrameCodec::new(Role::Server, &Default::default())).split();
/// let mut client = WebSocket::wrap_io(cr, cs, WrapOptions { mask: true, ..Default::default() });
/// let mut server = WebSocket::wrap_io(sr, ss, WrapOptions::default());
/// client.write(Message::text("ping?")).await?;
/// // An echo server, written the plain way:
/// let echo = tokio::spawn(async move {
///     while let Some(Ok(msg)) = server.next().await {
///         if server.send(msg).await.is_err() {
///             break;
///         }
///     }
/// });
/// let reply = client.read_message().await?.unwrap();
/// assert_eq!(reply.as_text(), Some("ping?"));
/// # drop(client); let _ = echo.await;
/// # Ok(()) }
/// ```
pub struct WebSocket {
    core: ReadCore<Owned>,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.core.link.role())
            .field("done", &self.core.is_done())
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    pub(super) fn new(core: ReadCore<Owned>) -> WebSocket {
        WebSocket { core }
    }

    /// Wraps a frame stream and a frame sink, as [`wrap_io`](crate::wrap_io) does, into one
    /// value instead of a pair.
    ///
    /// # Panics
    /// Never; the heartbeat, if asked for, runs as the connection is read.
    pub fn wrap_io<R, W>(raw_read: R, raw_write: W, options: WrapOptions) -> WebSocket
    where
        R: Stream<Item = Result<Message, Error>> + Send + 'static,
        W: Sink<Message, Error = Error> + Send + 'static,
    {
        super::open_owned(
            FrameStream::Frames(Box::new(Box::pin(raw_read))),
            FrameSink::Frames(Box::new(Box::pin(raw_write))),
            options.role(),
            &options.config,
            options.heartbeat,
            Under::default(),
        )
    }

    /// Reads the next frame, as [`Reader::read`].
    ///
    /// # Errors
    /// As [`Reader::read`].
    pub async fn read(&mut self) -> Result<Option<Message>, Error> {
        std::future::poll_fn(|cx| self.core.poll_frame(cx))
            .await
            .transpose()
    }

    /// The next whole data message, or `None` once the connection has ended: the stream's
    /// `next`, with nothing to import, and errors as items (as [`WebSocket::read_message`]'s).
    // (Plain functions returning the poll's future, not `async fn`s around it: one state
    // machine fewer per message on the hot path.)
    // An inherent `next`, beside `Stream`'s, so that the plain loop needs no import.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> impl Future<Output = Option<Result<Message, Error>>> + '_ {
        std::future::poll_fn(|cx| self.core.poll_message(cx))
    }

    /// Reads the next whole data message, as [`Reader::read_message`].
    ///
    /// # Errors
    /// As [`Reader::read`].
    pub async fn read_message(&mut self) -> Result<Option<Message>, Error> {
        std::future::poll_fn(|cx| self.core.poll_message(cx))
            .await
            .transpose()
    }

    /// Waits for a message, then takes every whole message already received without waiting
    /// again, appended to `batch`. Returns how many; `0` once the connection has ended.
    ///
    /// Replies written after a batch stay corked until the next read (which writes them out in
    /// one system call before it waits for the socket) or [`WebSocket::flush`].
    ///
    /// ```no_run
    /// # async fn echo(mut ws: coro_websocket::WebSocket) -> Result<(), coro_websocket::Error> {
    /// let mut batch = Vec::new();
    /// while ws.read_batch(&mut batch).await? > 0 {
    ///     for msg in batch.drain(..) {
    ///         ws.write(msg).await?;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Reader::read`]. An error that follows some messages is returned by the next call;
    /// a violation has failed the connection by then (its close is sent as it is read), so
    /// replies to the batch can no longer be written.
    pub async fn read_batch(&mut self, batch: &mut Vec<Message>) -> Result<usize, Error> {
        let (n, more) = std::future::poll_fn(|cx| self.core.poll_batch(cx, batch)).await?;
        if more {
            self.core.link.hold_writes();
        }
        Ok(n)
    }

    /// Sends one frame, as [`Writer::write`]. While more received input is buffered, the frame
    /// may stay corked until reading next waits for the socket (or [`WebSocket::flush`]).
    ///
    /// # Errors
    /// As [`Writer::write`].
    pub fn write(&mut self, message: Message) -> impl Future<Output = Result<(), Error>> + '_ {
        let mut message = Some(message);
        std::future::poll_fn(move |cx| self.poll_write(cx, &mut message))
    }

    /// The same as [`WebSocket::write`]: the name `SinkExt::send` users reach for, corking
    /// as `write` does.
    ///
    /// # Errors
    /// As [`Writer::write`].
    pub fn send(&mut self, message: Message) -> impl Future<Output = Result<(), Error>> + '_ {
        self.write(message)
    }

    /// Sends a close frame with a code and reason (at most 123 bytes).
    ///
    /// # Errors
    /// As [`Writer::write`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.write(Message::close(code, reason)).await
    }

    /// Writes out any frames still buffered.
    ///
    /// # Errors
    /// I/O errors, or the connection having been aborted.
    pub async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.core.link.poll_flush(cx)).await
    }

    /// The peer's close frame, once received (code 1005 if it carried no status code).
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.core.link.base.conn.close_received().cloned()
    }

    /// The close frames exchanged so far.
    pub fn closed(&self) -> Closed {
        self.core.link.closed()
    }

    /// Whether a close frame has been sent or the connection is otherwise over.
    pub fn is_closed(&self) -> bool {
        self.core.link.is_closed()
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.core.link.role()
    }

    /// Splits the connection into a [`Reader`] and a [`Writer`] for two tasks. Nothing is
    /// lost: frames already read into the buffer, corked writes and a reply in progress carry
    /// over. With a heartbeat, it now runs on its own task (so this must be called inside a
    /// tokio runtime).
    pub fn split(self) -> (Reader, Writer) {
        let (reader, writer, _) = self.split_weak();
        (reader, writer)
    }

    /// [`WebSocket::split`], and a handle that does not keep the session alive.
    pub(crate) fn split_weak(self) -> (Reader, Writer, Weak<Shared>) {
        let mut shared = None;
        let core = self.core.relink(|owned| {
            let (parts, rest) = owned.into_parts();
            let control = rest.control.clone();
            let session = Arc::new(share(rest, &parts));
            if let Some(control) = control {
                control.adopt(Arc::downgrade(&session));
            }
            if let Some(hb) = parts.heartbeat {
                heartbeat::spawn(Arc::downgrade(&session), hb);
            }
            let mut link = SplitLink::new(session.clone());
            if let Some(work) = parts.pending {
                link.begin(work);
            }
            shared = Some(session);
            link
        });
        let shared = shared.expect("relink ran");
        let weak = Arc::downgrade(&shared);
        (Reader::new(core), Writer::new(shared), weak)
    }

    /// A handle for [`Socket`](crate::Socket): shutting the socket down, when this session
    /// has a second handle on it (a client's TCP or Unix socket).
    pub(crate) fn handle(&self) -> Handle {
        Handle::Owned(
            self.core
                .link
                .base
                .control
                .as_ref()
                .map_or_else(Weak::new, Arc::downgrade),
        )
    }

    /// One step of a write: ready the sink (after any obligation of reading), hand the frame
    /// over, then flush unless it may stay corked.
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
    ) -> Poll<Result<(), Error>> {
        let link = &mut self.core.link;
        if let Some(corked) = message.as_ref().and_then(|m| link.send_short(m)) {
            *message = None;
            if corked {
                return Poll::Ready(Ok(()));
            }
        } else if message.is_some() {
            ready!(link.poll_ready(cx))?;
            let message = message.take().expect("checked above");
            if link.start_send(message)? {
                return Poll::Ready(Ok(()));
            }
        }
        link.poll_flush(cx)
    }
}

/// Whole data messages, as [`WebSocket::read_message`]: pings, pongs and the close are handled
/// on the way. The stream ends when the connection does.
impl Stream for WebSocket {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.core.poll_message(cx)
    }
}

impl Sink<Message> for WebSocket {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.core.link.poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.core.link.start_send(item).map(drop)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.core.link.poll_flush(cx)
    }

    /// Sends a normal close (1000) if none was sent, and flushes; as [`Writer`]'s `poll_close`,
    /// the transport ends with the close handshake, read on.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let link = &mut self.core.link;
        if !link.is_closed() {
            ready!(link.poll_ready(cx))?;
            link.start_send(Message::close(CloseCode::NORMAL, ""))?;
        }
        link.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    /// Every idle connection's task holds a `WebSocket` and the future of the message it waits
    /// for. At 224 B, the README's echo loop is a 280 B future and its tokio task 384 B (task
    /// cells are rounded to 128 B); 8 B more and every connection's task is 512 B.
    #[test]
    fn a_websocket_fits_the_smaller_task() {
        assert!(std::mem::size_of::<super::WebSocket>() <= 224);
    }
}
