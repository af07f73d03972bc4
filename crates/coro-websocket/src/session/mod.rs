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
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_sink::Sink;
use futures_util::task::AtomicWaker;
use futures_util::SinkExt;
use tokio::sync::Notify;

mod budget;
mod cork;
mod frames;
mod heartbeat;
mod link;
mod open;
mod owned;
mod read;
mod reader;
mod split;
mod transport;
mod websocket;
mod writer;

pub use budget::MemoryBudget;
pub(crate) use budget::{Account, FREE};
pub use open::wrap_io;
pub(crate) use open::{open_owned, Under};
pub(crate) use owned::Control;
pub use reader::Reader;
pub use websocket::WebSocket;
pub use writer::Writer;

use cork::Cork;

use crate::error::{Closed, Error};
use crate::proto::deflate::Deflater;
use crate::proto::{Connection, Message, Opcode, Role, SendError, Sent};

pub(crate) use frames::{FrameReader, FrameWriter};
pub(crate) use transport::{ByteRead, ByteWrite, FrameSink, FrameStream};
type SendFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// Ends whatever carries the session at once (e.g. shuts an OS socket down both ways), given by
/// the layer that owns it. The session calls it when it is aborted.
pub(crate) type ShutdownHook = Box<dyn Fn() + Send + Sync>;

/// What the write fast path did with a frame.
enum FastSend {
    /// Sent, or corked for the reader to flush.
    Sent,
    /// In the sink's buffer; the socket would not take it all yet, so a flush is owed.
    FlushOwed,
    /// The write failed (or the state machine refused the frame).
    Failed(Error),
    /// Not attempted: a close frame, a busy sink or a full buffer takes the general path.
    MustWait(Message),
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
    /// Set by `abort` (after `abort` itself): the lock-free test the hot paths make.
    aborted: AtomicBool,
    /// Notified by `abort`: frees writes blocked on a peer that stopped reading.
    abort_notify: Notify,
    reader_waker: AtomicWaker,
    /// Bumped on every wake of `reader_waker`, so the reader re-registers only when its waker
    /// was taken (or changed), not on every poll.
    reader_wakes: AtomicU32,
    /// Frames received so far: the heartbeat's evidence of life.
    activity: AtomicU64,
    /// Whether the reader is waiting on an empty transport, so that every frame the peer sent has
    /// been counted in `activity`. While the application is busy elsewhere, unread frames may be
    /// sitting in the socket, and the heartbeat must not call the peer dead.
    reader_waiting: AtomicBool,
    /// Whether writes may stay buffered for the reader to flush.
    cork: Cork,
    /// A close frame may have been sent or received (set before or with the state machine's own
    /// record): until it is, the reader skips locking `conn` to check for the closing handshake.
    closing: AtomicBool,
    /// The permessage-deflate compressor, when negotiated.
    deflater: Option<Box<Mutex<Deflater>>>,
    shutdown: Option<ShutdownHook>,
    close_timeout: Duration,
    /// How long the reader waits for room in the memory budget before failing with 1013.
    budget_wait: Duration,
    max_message_size: u64,
    /// Run when the session is gone (reader and writer dropped): what a layer above registered
    /// to forget it, e.g. its topic subscriptions.
    on_drop: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(hook) = self.on_drop.get() {
            hook();
        }
    }
}

impl Shared {
    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding this lock cannot leave Connection half-updated in a way that
        // matters more than losing the connection, so recover the guard.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn aborted(&self) -> Option<Abort> {
        // Fast path for the hot loop: the flag is set only after `abort` is.
        if !self.aborted.load(Ordering::Acquire) {
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
    /// transport down through the shutdown hook (or, with no hook, e.g. a server's stream or `wrap_io`,
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
        self.aborted.store(true, Ordering::Release);
        self.abort_notify.notify_waiters();
        self.wake_reader();
        if let Some(shutdown) = &self.shutdown {
            shutdown();
        } else if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let shared = self.clone();
            handle.spawn(async move {
                let limit = shared.close_timeout;
                let _ = tokio::time::timeout(limit, shared.write_obligation(None, true)).await;
            });
        }
    }

    /// Wakes the reader (to see an abort, or to arm the close timeout).
    fn wake_reader(&self) {
        self.reader_wakes.fetch_add(1, Ordering::AcqRel);
        self.reader_waker.wake();
    }

    /// Runs a write, unless or until the session is aborted: a peer that stopped reading must
    /// not hold a writer (or the reader's pong) forever once the session has given up on it.
    ///
    /// A write that completes at its first poll (the usual case: the frame fits the buffer)
    /// costs one flag test; only a write that has to wait listens for the abort.
    async fn unless_aborted(
        &self,
        write: impl Future<Output = Result<(), Error>>,
    ) -> Result<(), Error> {
        let mut write = std::pin::pin!(write);
        let mut notified = std::pin::pin!(None);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = write.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            if notified.is_none() {
                // Listen first, then test the flag: `abort` sets it before notifying, so an
                // abort in between is seen by one or the other.
                notified.set(Some(self.abort_notify.notified()));
            }
            if self.aborted.load(Ordering::Acquire) {
                return Poll::Ready(Err(self.abort_error().unwrap_or(Error::AbnormalClosure)));
            }
            let Some(listen) = notified.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            if listen.poll(cx).is_ready() {
                return Poll::Ready(Err(self.abort_error().unwrap_or(Error::AbnormalClosure)));
            }
            Poll::Pending
        })
        .await
    }

    /// Registers what to run when the session is gone; `false` if something already is.
    pub(crate) fn set_on_drop(&self, hook: Box<dyn Fn() + Send + Sync>) -> bool {
        self.on_drop.set(hook).is_ok()
    }

    /// Sends a message as the writer would (state machine, compression, corking), for a layer
    /// above the session that writes on the application's behalf (topic deliveries).
    pub(crate) async fn send_message(&self, msg: Message) -> Result<(), Error> {
        self.send(msg).await
    }

    /// Sends data messages in one go, flushing once after the last: what a layer above writes
    /// on the application's behalf when it has several queued (topic deliveries). One system
    /// call for the batch instead of one per message.
    pub(crate) async fn send_batch(&self, batch: Vec<Message>) -> Result<(), Error> {
        if let Some(e) = self.abort_error() {
            return Err(e);
        }
        self.unless_aborted(async {
            let mut sink = self.lock_sink().await;
            for mut msg in batch {
                self.prepare(&mut msg)?;
                sink.feed(msg).await?;
            }
            self.cork.flushing();
            sink.flush().await
        })
        .await
    }

    /// The close timeout of this session.
    pub(crate) fn close_timeout(&self) -> Duration {
        self.close_timeout
    }

    pub(crate) fn shutdown(self: &Arc<Self>) {
        self.abort(Abort::Shutdown);
    }

    fn mask(&self, msg: &mut Message) {
        msg.mask = self.role == Role::Client;
    }

    /// Sends an application frame, after the state machine has agreed to it.
    async fn send(&self, msg: Message) -> Result<(), Error> {
        if let Some(e) = self.abort_error() {
            return Err(e);
        }
        let mut msg = Some(msg);
        let fast = std::future::poll_fn(|cx| {
            Poll::Ready(self.try_send_now(cx, msg.take().expect("polled once")))
        })
        .await;
        // The paths that wait are boxed: they are rare, and inline they would make every
        // future that awaits a write (each connection's task) several hundred bytes larger.
        match fast {
            FastSend::Sent => Ok(()),
            FastSend::FlushOwed => Box::pin(self.unless_aborted(self.flush())).await,
            FastSend::Failed(e) => Err(e),
            FastSend::MustWait(msg) => Box::pin(self.unless_aborted(self.send_now(msg))).await,
        }
    }

    /// Asks the state machine to send `msg`, then compresses and masks it: what every frame
    /// goes through, under the sink lock, before it is fed to the sink.
    fn prepare(&self, msg: &mut Message) -> Result<Sent, Error> {
        let sent = {
            let mut conn = self.conn();
            if msg.opcode == Opcode::Close {
                self.closing.store(true, Ordering::Release);
            }
            admit(&mut conn, msg)?
        };
        self.compress(msg);
        self.mask(msg);
        Ok(sent)
    }

    /// Sends a data frame without waiting, when nothing has to wait: the sink is free and has
    /// room.
    fn try_send_now(&self, cx: &mut Context<'_>, mut msg: Message) -> FastSend {
        if msg.opcode == Opcode::Close {
            return FastSend::MustWait(msg);
        }
        let Some(mut sink) = self.sink.try_lock() else {
            return FastSend::MustWait(msg);
        };
        match sink.as_mut().poll_ready(cx) {
            Poll::Pending => return FastSend::MustWait(msg),
            Poll::Ready(Err(e)) => return FastSend::Failed(e),
            Poll::Ready(Ok(())) => {}
        }
        let sent = match self.prepare(&mut msg) {
            Ok(sent) => sent,
            Err(e) => return FastSend::Failed(e),
        };
        debug_assert!(
            !sent.close_transport,
            "only a close frame closes the transport"
        );
        if let Err(e) = sink.as_mut().start_send(msg) {
            return FastSend::Failed(e);
        }
        if self.cork.hold() {
            return FastSend::Sent;
        }
        match sink.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => FastSend::Sent,
            Poll::Ready(Err(e)) => FastSend::Failed(e),
            Poll::Pending => FastSend::FlushOwed,
        }
    }

    async fn send_now(&self, mut msg: Message) -> Result<(), Error> {
        let mut sink = self.lock_sink().await;
        let sent = self.prepare(&mut msg)?;
        let is_close = msg.opcode == Opcode::Close;
        let result = sink.feed(msg).await;
        if is_close {
            // The reader arms the close timeout on its next poll.
            self.wake_reader();
        }
        result?;
        if sent.close_transport {
            return sink.close().await;
        }
        if !is_close && self.cork.hold() {
            return Ok(());
        }
        self.cork.flushing();
        sink.flush().await
    }

    /// Locks the sink; uncontended (the usual case), without building a lock future.
    async fn lock_sink(&self) -> futures_util::lock::MutexGuard<'_, FrameSink> {
        match self.sink.try_lock() {
            Some(sink) => sink,
            None => self.sink.lock().await,
        }
    }

    /// permessage-deflate: compresses a whole (single-frame) data message, under the sink lock so
    /// that the compression context follows the order of the frames on the wire.
    fn compress(&self, msg: &mut Message) {
        let Some(deflater) = &self.deflater else {
            return;
        };
        deflate(&mut deflater.lock().unwrap_or_else(|p| p.into_inner()), msg);
    }

    /// Writes out whatever corked writes left in the sink's buffer.
    async fn flush(&self) -> Result<(), Error> {
        let mut sink = self.lock_sink().await;
        self.cork.flushing();
        sink.flush().await
    }

    /// Carries out a write obligation: a reply the state machine already accounted for, then
    /// optionally closing the transport.
    async fn fulfil(self: Arc<Self>, reply: Option<Message>, close: bool) -> Result<(), Error> {
        self.unless_aborted(self.write_obligation(reply, close))
            .await
    }

    async fn write_obligation(&self, reply: Option<Message>, close: bool) -> Result<(), Error> {
        let mut sink = self.lock_sink().await;
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

/// Asks the state machine to send `msg`: the check every frame the application writes goes
/// through, in both kinds of session.
#[inline]
fn admit(conn: &mut Connection, msg: &Message) -> Result<Sent, Error> {
    conn.send(msg).map_err(|e| refused(conn, e))
}

/// Why the state machine refused a frame, as the session reports it.
#[cold]
fn refused(conn: &Connection, e: SendError) -> Error {
    match e {
        SendError::AlreadyClosed => Error::ConnectionClosed(Box::new(Closed {
            sent: conn.close_sent().cloned(),
            received: conn.close_received().cloned(),
        })),
        other => Error::Send(other),
    }
}

/// permessage-deflate: compresses a whole (single-frame) data message the application asked to
/// compress, when the compressor wants it (large enough).
fn deflate(deflater: &mut Deflater, msg: &mut Message) {
    if !msg.fin || !msg.compress || !matches!(msg.opcode, Opcode::Text | Opcode::Binary) {
        return;
    }
    if deflater.wants(msg.payload.len()) {
        msg.payload = deflater.compress(&msg.payload);
        msg.rsv1 = true;
    }
}

/// A handle on a session for [`Socket`](crate::Socket): what `shutdown()` ends.
#[derive(Debug, Clone)]
pub(crate) enum Handle {
    /// A split session (the seed's `connect`).
    Split(Weak<Shared>),
    /// An unsplit one, until and after it is split.
    Owned(Weak<Control>),
}

impl Handle {
    pub(crate) fn shutdown(&self) {
        match self {
            Handle::Split(weak) => {
                if let Some(shared) = weak.upgrade() {
                    shared.shutdown();
                }
            }
            Handle::Owned(weak) => {
                if let Some(control) = weak.upgrade() {
                    control.shutdown();
                }
            }
        }
    }
}
