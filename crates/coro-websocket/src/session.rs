//! The session layer: the seed's `wrapIo`. It turns a frame `Stream` and a frame `Sink` into a
//! [`Reader`] and a [`Writer`] that answer pings, echo closes, time out the close handshake and
//! send heartbeats.
//!
//! It owns no socket and parses no bytes: frames come from the stream, and the protocol decisions
//! come from [`proto::Connection`](crate::proto::Connection). Its job is to carry out the write
//! obligations that reading produces, while the reader and writer live in different tasks.
//! The sink sits behind an async mutex so that the reader's pongs and close echoes, the writer's
//! frames and the heartbeat never interleave inside a frame.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use futures_core::Stream;
use futures_sink::Sink;
use futures_util::task::AtomicWaker;
use futures_util::SinkExt;
use tokio_util::sync::CancellationToken;

use crate::error::{Closed, Error, TimeoutKind};
use crate::options::{Heartbeat, HeartbeatMode, WrapOptions};
use crate::proto::deflate::{Deflate, Deflater, Inflater};
use crate::proto::{
    CloseCode, CloseFrame, Connection, Message, Opcode, ProtocolError, Role, SendError, State,
    Utf8Validator,
};

type FrameStream = Pin<Box<dyn FrameSource>>;
type FrameSink = Pin<Box<dyn Sink<Message, Error = Error> + Send>>;
type SendFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// A stream of incoming frames that can tell whether more input is already buffered.
///
/// While it is, writes made by the application are left in the sink's buffer, to go out in one
/// write when the reader next has to wait for the socket ("corking").
pub(crate) trait FrameSource: Stream<Item = Result<Message, Error>> + Send {
    /// Whether bytes are buffered that the next poll will decode without I/O.
    fn has_buffered(&self) -> bool;
}

/// A caller's frame stream for [`wrap_io`]: it never reports buffered input, so nothing is corked.
struct Foreign<S>(Pin<Box<S>>);

impl<S: Stream<Item = Result<Message, Error>> + Send> Stream for Foreign<S> {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl<S: Stream<Item = Result<Message, Error>> + Send> FrameSource for Foreign<S> {
    fn has_buffered(&self) -> bool {
        false
    }
}

/// A handle on the OS socket under the session, used only to shut it down.
#[derive(Debug)]
pub(crate) enum Transport {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Transport {
    fn shutdown(&self) {
        let _ = match self {
            Transport::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Transport::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

/// Why the session was ended from outside the protocol.
#[derive(Debug, Clone, Copy)]
enum Abort {
    /// `Socket::shutdown()` was called: reading ends cleanly.
    Shutdown,
    /// The heartbeat got no answer.
    PeerNotResponding(Duration),
}

/// State shared by a session's reader, writer, heartbeat and socket handle.
pub(crate) struct Shared {
    role: Role,
    conn: Mutex<Connection>,
    sink: futures_util::lock::Mutex<FrameSink>,
    abort: Mutex<Option<Abort>>,
    /// Cancelled by `abort`: frees writes blocked on a peer that stopped reading.
    aborted: CancellationToken,
    reader_waker: AtomicWaker,
    /// Frames received so far: the heartbeat's evidence of life.
    activity: AtomicU64,
    /// Whether the reader is waiting on an empty transport, so that every frame the peer sent has
    /// been counted in `activity`. While the application is busy elsewhere, unread frames may be
    /// sitting in the socket, and the heartbeat must not call the peer dead.
    reader_waiting: AtomicBool,
    /// The reader holds input it will decode without waiting: writes may stay buffered.
    reader_has_more: AtomicBool,
    /// The permessage-deflate compressor, when negotiated.
    deflater: Option<Mutex<Deflater>>,
    /// Frames were left in the sink's buffer by a corked write; the reader flushes them before it
    /// waits for the socket.
    dirty: AtomicBool,
    transport: Option<Transport>,
    close_timeout: Duration,
    max_message_size: u64,
}

impl Shared {
    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding this lock cannot leave Connection half-updated in a way that
        // matters more than losing the connection, so recover the guard.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn aborted(&self) -> Option<Abort> {
        // Fast path for the hot loop: the token is cancelled only after `abort` is set.
        if !self.aborted.is_cancelled() {
            return None;
        }
        *self.abort.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn closed(&self) -> Closed {
        let conn = self.conn();
        Closed {
            sent: conn.close_sent().cloned(),
            received: conn.close_received().cloned(),
        }
    }

    fn abort_error(&self) -> Option<Error> {
        match self.aborted()? {
            Abort::Shutdown => Some(Error::ConnectionClosed(Box::new(self.closed()))),
            Abort::PeerNotResponding(t) => Some(Error::PeerNotResponding(t)),
        }
    }

    /// Ends the session from outside: wakes the reader, fails writes in progress, and shuts the
    /// socket down (or, with no OS socket to shut down, e.g. a server's stream or `wrap_io`,
    /// closes the sink within `close_timeout`, so the peer sees the connection end even while the
    /// application still holds the writer).
    fn abort(self: &Arc<Self>, why: Abort) {
        {
            let mut slot = self.abort.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(why);
            }
        }
        self.conn().transport_closed();
        self.aborted.cancel();
        self.reader_waker.wake();
        if let Some(t) = &self.transport {
            t.shutdown();
        } else if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let shared = self.clone();
            handle.spawn(async move {
                let limit = shared.close_timeout;
                let _ = tokio::time::timeout(limit, shared.write_obligation(None, true)).await;
            });
        }
    }

    /// Runs a write, unless or until the session is aborted: a peer that stopped reading must
    /// not hold a writer (or the reader's pong) forever once the session has given up on it.
    async fn unless_aborted(
        &self,
        write: impl Future<Output = Result<(), Error>>,
    ) -> Result<(), Error> {
        tokio::select! {
            biased;
            result = write => result,
            () = self.aborted.cancelled() => {
                Err(self.abort_error().unwrap_or(Error::AbnormalClosure))
            }
        }
    }

    pub(crate) fn shutdown(self: &Arc<Self>) {
        self.abort(Abort::Shutdown);
    }

    fn mask(&self, msg: &mut Message) {
        msg.mask = self.role == Role::Client;
        msg.len = msg.payload.len();
    }

    /// Sends an application frame, after the state machine has agreed to it.
    async fn send(&self, msg: Message) -> Result<(), Error> {
        if let Some(e) = self.abort_error() {
            return Err(e);
        }
        self.unless_aborted(self.send_now(msg)).await
    }

    async fn send_now(&self, mut msg: Message) -> Result<(), Error> {
        let mut sink = self.sink.lock().await;
        let sent = {
            let mut conn = self.conn();
            conn.send(&msg).map_err(|e| match e {
                SendError::AlreadyClosed => Error::ConnectionClosed(Box::new(Closed {
                    sent: conn.close_sent().cloned(),
                    received: conn.close_received().cloned(),
                })),
                other => Error::Send(other),
            })?
        };
        let is_close = msg.opcode == Opcode::Close;
        self.compress(&mut msg);
        self.mask(&mut msg);
        let result = sink.feed(msg).await;
        if is_close {
            // The reader arms the close timeout on its next poll.
            self.reader_waker.wake();
        }
        result?;
        if sent.close_transport {
            return sink.close().await;
        }
        // Cork: while the reader still has buffered input to hand out, leave this frame in the
        // buffer; the reader flushes before it waits. Re-check after marking the buffer dirty, in
        // case the reader ran dry in between (SeqCst orders the two flags).
        if !is_close && self.reader_has_more.load(Ordering::SeqCst) {
            self.dirty.store(true, Ordering::SeqCst);
            if self.reader_has_more.load(Ordering::SeqCst) {
                return Ok(());
            }
        }
        self.dirty.store(false, Ordering::SeqCst);
        sink.flush().await
    }

    /// permessage-deflate: compresses a whole (single-frame) data message, under the sink lock so
    /// that the compression context follows the order of the frames on the wire.
    fn compress(&self, msg: &mut Message) {
        if !msg.fin || !msg.compress || !matches!(msg.opcode, Opcode::Text | Opcode::Binary) {
            return;
        }
        let Some(deflater) = &self.deflater else {
            return;
        };
        let mut deflater = deflater.lock().unwrap_or_else(|p| p.into_inner());
        if deflater.wants(msg.payload.len()) {
            let d = &mut *deflater;
            msg.payload = d.compress(&msg.payload);
            msg.rsv1 = true;
        }
    }

    /// Writes out whatever corked writes left in the sink's buffer.
    async fn flush(&self) -> Result<(), Error> {
        let mut sink = self.sink.lock().await;
        self.dirty.store(false, Ordering::SeqCst);
        sink.flush().await
    }

    /// Carries out a write obligation: a reply the state machine already accounted for, then
    /// optionally closing the transport.
    async fn fulfil(self: Arc<Self>, reply: Option<Message>, close: bool) -> Result<(), Error> {
        self.unless_aborted(self.write_obligation(reply, close))
            .await
    }

    async fn write_obligation(&self, reply: Option<Message>, close: bool) -> Result<(), Error> {
        let mut sink = self.sink.lock().await;
        if let Some(mut msg) = reply {
            self.mask(&mut msg);
            sink.send(msg).await?;
        }
        if close {
            sink.close().await?;
        }
        Ok(())
    }
}

/// Wraps a frame stream and a frame sink into a WebSocket session: the seed's `wrapIo`.
///
/// `raw_read` and `raw_write` carry whole frames, typically the two halves of a
/// `tokio_util::codec::Framed` over [`FrameCodec`](crate::FrameCodec). The returned pair behaves
/// like the one [`connect`](crate::connect) returns (which is built on this function): pings are
/// answered, closes echoed, the close handshake is bounded by `config.close_timeout`, and the
/// heartbeat runs if asked for. `options.mask` selects the role: `true` for a client.
///
/// # Panics
/// With a heartbeat, this must be called inside a tokio runtime (it spawns the heartbeat task).
///
/// ```
/// use coro_websocket::{wrap_io, FrameCodec, Message, WrapOptions, proto::Role};
/// use futures_util::StreamExt;
/// use tokio_util::codec::Framed;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), coro_websocket::Error> {
/// let (a, b) = tokio::io::duplex(4096);
/// let (client_sink, client_stream) = Framed::new(a, FrameCodec::new(Role::Client, &Default::default())).split();
/// let (server_sink, server_stream) = Framed::new(b, FrameCodec::new(Role::Server, &Default::default())).split();
/// let (_cr, mut cw) = wrap_io(client_stream, client_sink, WrapOptions { mask: true, ..Default::default() });
/// let (mut sr, _sw) = wrap_io(server_stream, server_sink, WrapOptions::default());
/// cw.write(Message::text("over a pipe")).await?;
/// let got = sr.read().await?.unwrap();
/// assert_eq!(got.as_text(), Some("over a pipe"));
/// assert!(got.mask);
/// # Ok(()) }
/// ```
pub fn wrap_io<R, W>(raw_read: R, raw_write: W, options: WrapOptions) -> (Reader, Writer)
where
    R: Stream<Item = Result<Message, Error>> + Send + 'static,
    W: Sink<Message, Error = Error> + Send + 'static,
{
    let role = if options.mask {
        Role::Client
    } else {
        Role::Server
    };
    let (reader, writer, _) = open(
        Box::pin(Foreign(Box::pin(raw_read))),
        Box::pin(raw_write),
        role,
        &options.config,
        options.heartbeat,
        Under::default(),
    );
    (reader, writer)
}

/// What lies under a session besides its frame stream and sink.
#[derive(Default)]
pub(crate) struct Under {
    /// The OS socket, to shut down on abort.
    pub(crate) transport: Option<Transport>,
    /// The stream comes from our own decoder (text already UTF-8-checked, sizes bounded).
    pub(crate) validated: bool,
    /// The negotiated permessage-deflate parameters, seen from this end.
    pub(crate) deflate: Option<Deflate>,
}

/// Builds a session; `validated` says the stream comes from our own decoder (so text is already
/// UTF-8-checked and sizes bounded).
pub(crate) fn open(
    stream: FrameStream,
    sink: FrameSink,
    role: Role,
    config: &crate::Config,
    heartbeat: Option<Heartbeat>,
    under: Under,
) -> (Reader, Writer, Weak<Shared>) {
    let Under {
        transport,
        validated,
        deflate,
    } = under;
    let shared = Arc::new(Shared {
        role,
        conn: Mutex::new(Connection::new(role)),
        sink: futures_util::lock::Mutex::new(sink),
        abort: Mutex::new(None),
        aborted: CancellationToken::new(),
        reader_waker: AtomicWaker::new(),
        activity: AtomicU64::new(0),
        reader_waiting: AtomicBool::new(false),
        reader_has_more: AtomicBool::new(false),
        deflater: deflate.map(|d| Mutex::new(d.deflater())),
        dirty: AtomicBool::new(false),
        transport,
        close_timeout: config.close_timeout,
        max_message_size: config.max_message_size,
    });
    if let Some(hb) = heartbeat {
        spawn_heartbeat(Arc::downgrade(&shared), hb);
    }
    let weak = Arc::downgrade(&shared);
    let reader = Reader {
        stream,
        shared: shared.clone(),
        pending: None,
        deliver: None,
        failure: None,
        done: false,
        close_deadline: None,
        assembly: None,
        validated,
        inflater: deflate.map(|d| d.inflater(config.max_message_size)),
        inflating: None,
        inflated_utf8: Utf8Validator::default(),
    };
    let writer = Writer {
        shared,
        pending: None,
    };
    (reader, writer, weak)
}

fn spawn_heartbeat(weak: Weak<Shared>, hb: Heartbeat) {
    tokio::spawn(async move {
        let mut next = tokio::time::Instant::now() + hb.interval;
        loop {
            tokio::time::sleep_until(next).await;
            next += hb.interval;
            let Some(shared) = weak.upgrade() else { return };
            if shared.aborted().is_some() || shared.conn().state() != State::Open {
                return;
            }
            match hb.mode {
                HeartbeatMode::Pong => {
                    if shared.send(Message::pong("")).await.is_err() {
                        return;
                    }
                }
                HeartbeatMode::Ping { timeout } => {
                    let seen = shared.activity.load(Ordering::Acquire);
                    let sent = tokio::time::timeout(timeout, shared.send(Message::ping("")));
                    match sent.await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return,
                        Err(_) => {
                            shared.abort(Abort::PeerNotResponding(timeout));
                            return;
                        }
                    }
                    drop(shared);
                    tokio::time::sleep(timeout).await;
                    let Some(shared) = weak.upgrade() else { return };
                    // Only a reader waiting on an empty transport proves that nothing came.
                    if shared.activity.load(Ordering::Acquire) == seen
                        && shared.reader_waiting.load(Ordering::Acquire)
                        && shared.conn().state() == State::Open
                    {
                        tracing::debug!("heartbeat: no answer within {timeout:?}");
                        shared.abort(Abort::PeerNotResponding(timeout));
                        return;
                    }
                }
            }
        }
    });
}

/// The reading half of a connection: the seed's `read`.
///
/// [`Reader::read`] returns one frame at a time, after the session has handled it (a ping has
/// been answered, a close echoed); [`Reader::read_message`] returns whole messages. It also
/// implements `Stream<Item = Result<Message, Error>>`. After the close handshake, or after
/// [`Socket::shutdown`](crate::Socket::shutdown), reads return `Ok(None)`.
pub struct Reader {
    stream: FrameStream,
    shared: Arc<Shared>,
    /// A write obligation being carried out; reading waits for it (ordering pong before data).
    pending: Option<SendFuture>,
    /// The frame to hand out once `pending` is done.
    deliver: Option<Message>,
    /// The error to return once `pending` (the close for a violation) is done.
    failure: Option<Error>,
    done: bool,
    close_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    assembly: Option<(Opcode, BytesMut)>,
    validated: bool,
    /// permessage-deflate decompressor, when negotiated.
    inflater: Option<Inflater>,
    /// `Some(is_text)` while a compressed message is being inflated.
    inflating: Option<bool>,
    /// UTF-8 state of inflated text (the decoder cannot check compressed bytes).
    inflated_utf8: Utf8Validator,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("role", &self.shared.role)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Reads the next frame: the seed's `read()`.
    ///
    /// Fragments come back one by one with their `fin`; control frames come back after they are
    /// handled. With permessage-deflate, each frame's payload comes back inflated and `rsv1`
    /// cleared. `Ok(None)` means the connection has ended cleanly.
    ///
    /// # Errors
    /// A protocol violation by the peer (after the matching close was sent to it), an I/O error,
    /// a dead peer detected by the heartbeat, [`Error::AbnormalClosure`] when the peer vanished
    /// without a close frame, or a close-handshake timeout.
    pub async fn read(&mut self) -> Result<Option<Message>, Error> {
        std::future::poll_fn(|cx| self.poll_frame(cx))
            .await
            .transpose()
    }

    /// Reads the next whole data message: fragments reassembled, text checked as UTF-8.
    ///
    /// Pings, pongs and the close frame are handled and skipped; `Ok(None)` means the connection
    /// has ended ([`Reader::close_frame`] tells how).
    ///
    /// # Errors
    /// As [`Reader::read`].
    pub async fn read_message(&mut self) -> Result<Option<Message>, Error> {
        loop {
            let Some(frame) = self.read().await? else {
                return Ok(None);
            };
            let whole = match (frame.opcode, self.assembly.take()) {
                (Opcode::Text | Opcode::Binary, None) if frame.fin => frame,
                (Opcode::Text | Opcode::Binary, None) => {
                    self.assembly = Some((frame.opcode, BytesMut::from(&frame.payload[..])));
                    continue;
                }
                (Opcode::Continuation, Some((opcode, mut buf))) => {
                    if !self.validated
                        && (buf.len() + frame.payload.len()) as u64 > self.shared.max_message_size
                    {
                        return Err(self.fail_now(ProtocolError::MessageTooBig {
                            len: (buf.len() + frame.payload.len()) as u64,
                            max: self.shared.max_message_size,
                        }));
                    }
                    buf.extend_from_slice(&frame.payload);
                    if !frame.fin {
                        self.assembly = Some((opcode, buf));
                        continue;
                    }
                    Message::new(opcode, buf.freeze())
                }
                (Opcode::Ping | Opcode::Pong | Opcode::Close, partial) => {
                    self.assembly = partial;
                    continue;
                }
                // Only reachable with a raw stream that does not check fragmentation.
                (_, _) => return Err(self.fail_now(ProtocolError::UnexpectedContinuation)),
            };
            if !self.validated
                && whole.opcode == Opcode::Text
                && simdutf8::basic::from_utf8(&whole.payload).is_err()
            {
                return Err(self.fail_now(ProtocolError::InvalidUtf8));
            }
            return Ok(Some(whole));
        }
    }

    /// The peer's close frame, once received: `Some(None)` if it carried no status code.
    pub fn close_frame(&self) -> Option<Option<CloseFrame>> {
        self.shared.conn().close_received().cloned()
    }

    /// The close frames exchanged so far.
    pub fn closed(&self) -> Closed {
        self.shared.closed()
    }

    /// permessage-deflate: replaces a data frame's payload by its inflated bytes and checks
    /// inflated text as UTF-8 (RFC 7692 §6.2).
    fn inflate(&mut self, frame: &mut Message) -> Result<(), ProtocolError> {
        if frame.rsv1 {
            self.inflating = Some(frame.opcode == Opcode::Text);
            self.inflated_utf8.reset();
        }
        let Some(is_text) = self.inflating else {
            return Ok(());
        };
        let Some(inflater) = self.inflater.as_mut() else {
            return Ok(());
        };
        frame.payload = inflater.inflate(&frame.payload, frame.fin)?;
        frame.len = frame.payload.len();
        frame.rsv1 = false;
        if is_text {
            self.inflated_utf8.feed(&frame.payload)?;
            if frame.fin && !self.inflated_utf8.is_complete() {
                return Err(ProtocolError::InvalidUtf8);
            }
        }
        if frame.fin {
            self.inflating = None;
        }
        Ok(())
    }

    /// Fails the connection for a violation found above the decoder (raw `wrap_io` streams).
    fn fail_now(&mut self, err: ProtocolError) -> Error {
        let close = self.shared.conn().fail(&err);
        self.done = true;
        let shared = self.shared.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(shared.fulfil(close, true));
        }
        Error::Protocol(err)
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            if let Some(fut) = self.pending.as_mut() {
                let result = ready!(fut.as_mut().poll(cx));
                self.pending = None;
                if let Some(err) = self.failure.take() {
                    return Poll::Ready(Some(Err(err)));
                }
                match (self.deliver.take(), result) {
                    (Some(frame), _) => return Poll::Ready(Some(Ok(frame))),
                    (None, Err(e)) => {
                        self.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    (None, Ok(())) => continue,
                }
            }
            if self.done {
                return Poll::Ready(None);
            }
            self.shared.reader_waker.register(cx.waker());
            if let Some(why) = self.shared.aborted() {
                self.done = true;
                return Poll::Ready(match why {
                    Abort::Shutdown => None,
                    Abort::PeerNotResponding(t) => Some(Err(Error::PeerNotResponding(t))),
                });
            }
            let (closing, close_received) = {
                let conn = self.shared.conn();
                let received = conn.close_received().is_some();
                (received || conn.close_sent().is_some(), received)
            };
            if closing {
                // RFC 6455 §7.1.1: bound the wait for the peer's close, or (client) for the
                // server to close TCP after the handshake.
                let timeout = self.shared.close_timeout;
                let deadline = self
                    .close_deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if deadline.as_mut().poll(cx).is_ready() {
                    self.done = true;
                    self.shared.abort(Abort::Shutdown);
                    return Poll::Ready(if close_received {
                        None
                    } else {
                        Some(Err(Error::Timeout(TimeoutKind::Close, timeout)))
                    });
                }
            }
            let item = match self.stream.as_mut().poll_next(cx) {
                Poll::Pending => {
                    self.shared.reader_has_more.store(false, Ordering::SeqCst);
                    if self.shared.dirty.swap(false, Ordering::SeqCst) {
                        // Out of input: send what the corked writes left buffered.
                        let shared = self.shared.clone();
                        self.pending = Some(Box::pin(async move {
                            shared.unless_aborted(shared.flush()).await
                        }));
                        continue;
                    }
                    self.shared.reader_waiting.store(true, Ordering::Release);
                    return Poll::Pending;
                }
                Poll::Ready(item) => {
                    self.shared.reader_waiting.store(false, Ordering::Release);
                    let more = self.stream.has_buffered();
                    self.shared.reader_has_more.store(more, Ordering::SeqCst);
                    item
                }
            };
            let item = match item {
                Some(Ok(mut frame)) if self.inflater.is_some() && frame.opcode.is_data() => {
                    match self.inflate(&mut frame) {
                        Ok(()) => Some(Ok(frame)),
                        Err(violation) => Some(Err(Error::Protocol(violation))),
                    }
                }
                other => other,
            };
            match item {
                None => {
                    self.done = true;
                    self.shared.conn().transport_closed();
                    return Poll::Ready(if close_received {
                        None
                    } else {
                        Some(Err(Error::AbnormalClosure))
                    });
                }
                Some(Err(e)) => {
                    if let Error::Protocol(violation) = &e {
                        let close = self.shared.conn().fail(violation);
                        self.failure = Some(e);
                        self.done = true;
                        self.pending = Some(Box::pin(self.shared.clone().fulfil(close, true)));
                        continue;
                    }
                    self.done = true;
                    self.shared.conn().transport_closed();
                    if close_received {
                        // The peer reset the connection after the close handshake: still clean.
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                Some(Ok(frame)) => {
                    self.shared.activity.fetch_add(1, Ordering::Release);
                    if close_received {
                        // RFC 6455 §5.5.1: nothing may follow a close; discard it.
                        continue;
                    }
                    let received = self.shared.conn().receive(&frame);
                    if received.reply.is_none() && !received.close_transport {
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    if received.close_transport {
                        self.done = true;
                    }
                    self.deliver = Some(frame);
                    self.pending = Some(Box::pin(
                        self.shared
                            .clone()
                            .fulfil(received.reply, received.close_transport),
                    ));
                }
            }
        }
    }
}

impl Stream for Reader {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_frame(cx)
    }
}

/// The writing half of a connection: the seed's `write`.
///
/// Each [`Writer::write`] sends one frame and returns once it has been handed to the transport.
/// In the client role every frame is masked with a fresh random key. It also implements
/// `Sink<Message>`; closing the sink sends a normal close (1000) if none was sent.
pub struct Writer {
    shared: Arc<Shared>,
    pending: Option<SendFuture>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("role", &self.shared.role)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Sends one frame. A message built with `..Default::default()` is a final binary frame, as
    /// the seed's encoder defaults. Writing a close frame (opcode 8) starts the closing handshake
    /// and ends writing: later writes fail with [`Error::ConnectionClosed`].
    ///
    /// # Errors
    /// [`Error::Send`] for a frame RFC 6455 forbids (an oversize or fragmented control frame, a
    /// close code that may not be sent, out-of-order fragments); [`Error::ConnectionClosed`]
    /// after a close; I/O errors.
    pub async fn write(&mut self, message: Message) -> Result<(), Error> {
        self.shared.send(message).await
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
    /// A write made while the reader still holds unread input from the peer may stay buffered
    /// until the reader next waits for the socket, so that a burst of replies goes out in one
    /// system call. Call this if you stop reading while such input may be pending.
    ///
    /// # Errors
    /// I/O errors, or the connection having been aborted.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.shared.unless_aborted(self.shared.flush()).await
    }

    /// Whether a close frame has been sent or the connection is otherwise over.
    pub fn is_closed(&self) -> bool {
        let conn = self.shared.conn();
        conn.close_sent().is_some() || conn.state() == State::Closed
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(fut) = self.pending.as_mut() {
            let result = ready!(fut.as_mut().poll(cx));
            self.pending = None;
            return Poll::Ready(result);
        }
        Poll::Ready(Ok(()))
    }
}

impl Sink<Message> for Writer {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_pending(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        let shared = self.shared.clone();
        self.pending = Some(Box::pin(async move { shared.send(item).await }));
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_pending(cx))?;
        if self.shared.dirty.load(Ordering::SeqCst) {
            // A corked write left frames buffered; a Sink flush means they go out now.
            let shared = self.shared.clone();
            self.pending = Some(Box::pin(async move {
                shared.unless_aborted(shared.flush()).await
            }));
            ready!(self.poll_pending(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_pending(cx))?;
        if !self.is_closed() {
            let shared = self.shared.clone();
            self.pending = Some(Box::pin(async move {
                shared.send(Message::close(CloseCode::NORMAL, "")).await
            }));
            ready!(self.poll_pending(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}
