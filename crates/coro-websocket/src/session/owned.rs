//! The link of an unsplit session ([`WebSocket`](super::WebSocket)): one task reads and writes,
//! so the state machine, the sink and the corking flags are plain fields. No lock, no atomic
//! and no waker registration on the per-message path; obligations are driven by polling the
//! sink directly, not by boxed futures.

use std::future::Future;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_sink::Sink;

use super::link::{Closing, Link, Obligation};
use super::{admit, deflate, Abort, FrameSink, Shared, ShutdownHook};
use crate::error::{Closed, Error};
use crate::options::{Heartbeat, HeartbeatMode};
use crate::proto::deflate::Deflater;
use crate::proto::{Connection, Message, Opcode, Role, State};

/// A handle on an unsplit session's socket, kept by [`Socket`](crate::Socket): shutting down
/// works before and after [`WebSocket::split`](super::WebSocket::split).
pub(crate) struct Control {
    hook: ShutdownHook,
    /// Set by a shutdown before any split: reading then ends cleanly when the transport does.
    shut: AtomicBool,
    /// The split session, once there is one: a shutdown goes through it.
    session: OnceLock<Weak<Shared>>,
}

impl Control {
    pub(crate) fn new(hook: ShutdownHook) -> Control {
        Control {
            hook,
            shut: AtomicBool::new(false),
            session: OnceLock::new(),
        }
    }

    /// Ends the transport at once (what a split session's abort does).
    pub(super) fn shutdown_transport(&self) {
        (self.hook)();
    }

    /// Records the split session that now owns the transport.
    pub(super) fn adopt(&self, session: Weak<Shared>) {
        let _ = self.session.set(session);
    }

    pub(crate) fn shutdown(&self) {
        if let Some(shared) = self.session.get().and_then(Weak::upgrade) {
            shared.shutdown();
            return;
        }
        self.shut.store(true, Ordering::Release);
        (self.hook)();
    }
}

/// A write that reading owes, in the steps it takes.
#[derive(Default)]
enum Work {
    #[default]
    Idle,
    /// Hand this reply (boxed: rare) to the sink, then go on as `Flush`.
    Send { reply: Box<Message>, close: bool },
    /// Flush (and with `close`, close) the sink; `quiet` turns a failure into success.
    Flush { close: bool, quiet: bool },
    /// Done: the result waits for the reader, who asked for the work.
    /// (The error boxed: rare, and every connection carries a `Work`.)
    Done(Result<(), Box<Error>>),
}

/// The heartbeat of an unsplit session, run when reading waits for input: a task that is not
/// reading sends no keep-alive frames (it would not see the answer either).
struct Beat {
    hb: Heartbeat,
    next: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// In ping mode, after a ping: the frame count when it was sent.
    awaiting: Option<u64>,
    /// Frames received: the heartbeat's evidence of life.
    activity: u64,
}

/// What an unsplit session holds besides its reading state.
pub(crate) struct Owned {
    /// What a split session takes over.
    pub(super) base: Rest,
    /// (Boxed: rare, and every connection carries an `Owned`.)
    abort: Option<Box<Abort>>,
    /// The reader holds input it will decode without waiting: writes may stay corked.
    has_more: bool,
    /// Frames wait in the sink's buffer; the reader flushes them before it waits for input.
    owed: bool,
    /// A close the state machine asked for (we are a server, the handshake is complete): the
    /// transport ends after the next flush.
    end_after_flush: bool,
    work: Work,
    beat: Option<Box<Beat>>,
}

/// What [`Owned::into_parts`] leaves for a split session.
pub(super) struct Parts {
    pub(super) abort: Option<Abort>,
    pub(super) owed: bool,
    pub(super) heartbeat: Option<Heartbeat>,
    pub(super) pending: Option<Obligation>,
}

impl Owned {
    pub(super) fn new(
        conn: Connection,
        sink: FrameSink,
        deflater: Option<Box<Deflater>>,
        config: &crate::Config,
        control: Option<Arc<Control>>,
        heartbeat: Option<Heartbeat>,
    ) -> Owned {
        Owned {
            base: Rest {
                conn,
                sink,
                deflater,
                budget_wait: config.budget_wait,
                max_message_size: config.max_message_size,
                control,
            },
            abort: None,
            has_more: false,
            owed: false,
            end_after_flush: false,
            work: Work::Idle,
            beat: heartbeat.map(|hb| {
                Box::new(Beat {
                    hb,
                    next: tokio::time::Instant::now() + hb.interval,
                    sleep: None,
                    awaiting: None,
                    activity: 0,
                })
            }),
        }
    }

    /// The session's state for a split: what is left of the obligation in progress, as one the
    /// split link can start.
    pub(super) fn into_parts(mut self) -> (Parts, Rest) {
        let pending = match std::mem::take(&mut self.work) {
            Work::Idle | Work::Done(Ok(())) => None,
            Work::Done(result) => Some(Obligation::Done(result.map_err(|e| *e))),
            Work::Send { reply, close } => Some(Obligation::Reply {
                reply: Some(*reply),
                close,
            }),
            Work::Flush { quiet: true, .. } => Some(Obligation::EndQuietly),
            Work::Flush { close: true, .. } => Some(Obligation::Reply {
                reply: None,
                close: true,
            }),
            Work::Flush { close: false, .. } => Some(Obligation::Flush),
        };
        let parts = Parts {
            abort: self.abort.as_deref().copied(),
            owed: std::mem::take(&mut self.owed),
            heartbeat: self.beat.take().map(|b| b.hb),
            pending,
        };
        // Moved out whole (`Owned` flushes on drop): the stand-in costs nothing.
        let role = self.base.conn.role();
        let gone = Rest {
            conn: Connection::new(role),
            sink: FrameSink::Frames(Box::new(Box::pin(Gone))),
            deflater: None,
            control: None,
            ..self.base
        };
        let rest = std::mem::replace(&mut self.base, gone);
        (parts, rest)
    }

    pub(super) fn closed(&self) -> Closed {
        Closed {
            sent: self.base.conn.close_sent().cloned(),
            received: self.base.conn.close_received().cloned(),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.base.conn.close_sent().is_some() || self.base.conn.state() == State::Closed
    }

    fn abort_error(&self) -> Option<Error> {
        Some(match *self.abort.as_deref()? {
            Abort::Shutdown => Error::ConnectionClosed(Box::new(self.closed())),
            Abort::PeerNotResponding(t) => Error::PeerNotResponding(t),
        })
    }

    /// Readies the sink for a frame, once any obligation reading started is done (so a pong
    /// goes out before what the application writes next).
    pub(super) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(e) = self.abort_error() {
            return Poll::Ready(Err(e));
        }
        ready!(self.poll_work(cx));
        self.base.sink.as_mut().poll_ready(cx)
    }

    /// Asks the state machine to send `msg`, compresses and masks it, and hands it to the sink
    /// (after [`Owned::poll_ready`]). Returns whether it may stay corked: small, and the reader
    /// holds more input, so it will flush before it waits.
    pub(super) fn start_send(&mut self, mut msg: Message) -> Result<bool, Error> {
        let sent = admit(&mut self.base.conn, &msg)?;
        if let Some(deflater) = self.base.deflater.as_deref_mut() {
            deflate(deflater, &mut msg);
        }
        msg.mask = self.base.conn.role() == Role::Client;
        let corks = self.has_more && msg.opcode != Opcode::Close;
        self.end_after_flush |= sent.close_transport;
        self.base.sink.as_mut().start_send(msg)?;
        self.owed = true;
        Ok(corks && !sent.close_transport)
    }

    /// [`Owned::poll_ready`] and [`Owned::start_send`] in one step for the common frame (a
    /// server's small whole data message, with nothing else under way), when that is only
    /// copying it into the sink's buffer: `Some` with whether it may stay corked. `None`, with
    /// nothing done, for every other case, which goes the usual way.
    #[inline]
    pub(super) fn send_short(&mut self, msg: &Message) -> Option<bool> {
        let plain = self.abort.is_none()
            && matches!(self.work, Work::Idle | Work::Done(_))
            && self.base.conn.role() == Role::Server
            && (self.base.deflater.is_none() || !msg.compress)
            && self.base.conn.admits_at_once(msg);
        if !plain || !self.base.sink.put_short(msg) {
            return None;
        }
        self.owed = true;
        Some(self.has_more)
    }

    /// After a batch read: the application's replies may stay corked until it reads again
    /// (reading flushes them before it waits) or flushes.
    pub(super) fn hold_writes(&mut self) {
        self.has_more = true;
    }

    /// Writes out what the sink holds (and ends the transport if the state machine asked).
    pub(super) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_work(cx));
        if self.end_after_flush {
            ready!(self.base.sink.as_mut().poll_close(cx))?;
        } else {
            ready!(self.base.sink.as_mut().poll_flush(cx))?;
        }
        self.owed = false;
        Poll::Ready(Ok(()))
    }

    /// Drives the obligation in progress until it is done (its result kept for the reader).
    #[inline]
    fn poll_work(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if matches!(self.work, Work::Idle | Work::Done(_)) {
            return Poll::Ready(());
        }
        self.poll_work_steps(cx)
    }

    fn poll_work_steps(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let step = match &mut self.work {
                Work::Idle | Work::Done(_) => return Poll::Ready(()),
                Work::Send { .. } => match ready!(self.base.sink.as_mut().poll_ready(cx)) {
                    Ok(()) => {
                        let Work::Send { mut reply, close } = std::mem::take(&mut self.work) else {
                            unreachable!("matched above")
                        };
                        reply.mask = self.base.conn.role() == Role::Client;
                        match self.base.sink.as_mut().start_send(*reply) {
                            Ok(()) => Work::Flush {
                                close,
                                quiet: false,
                            },
                            Err(e) => Work::Done(Err(Box::new(e))),
                        }
                    }
                    Err(e) => Work::Done(Err(Box::new(e))),
                },
                Work::Flush { close, quiet } => {
                    let (close, quiet) = (*close, *quiet);
                    let result = if close {
                        ready!(self.base.sink.as_mut().poll_close(cx))
                    } else {
                        ready!(self.base.sink.as_mut().poll_flush(cx))
                    };
                    self.owed = false;
                    Work::Done(if quiet {
                        Ok(())
                    } else {
                        result.map_err(Box::new)
                    })
                }
            };
            self.work = step;
        }
    }

    /// The heartbeat, while reading waits: sends the keep-alive frame when it is due, and in
    /// ping mode ends the session when nothing came back. Returns `true` if it acted.
    fn poll_beat(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(mut beat) = self.beat.take() else {
            return false;
        };
        let acted = self.beat_step(&mut beat, cx);
        if self.base.conn.state() == State::Open {
            self.beat = Some(beat);
        }
        acted
    }

    fn beat_step(&mut self, beat: &mut Beat, cx: &mut Context<'_>) -> bool {
        loop {
            let next = beat.next;
            let sleep = beat
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
            if sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            if let Some(seen) = beat.awaiting.take() {
                // Reading is waiting on an empty transport: every frame the peer sent is counted.
                if let HeartbeatMode::Ping { timeout } = beat.hb.mode {
                    if beat.activity == seen && self.base.conn.state() == State::Open {
                        tracing::debug!("heartbeat: no answer within {timeout:?}");
                        self.abort(Abort::PeerNotResponding(timeout));
                        return true;
                    }
                }
                sleep.as_mut().reset(next);
                continue;
            }
            if self.base.conn.state() != State::Open {
                return false;
            }
            beat.next += beat.hb.interval;
            let (frame, wake_at) = match beat.hb.mode {
                HeartbeatMode::Pong => (Message::pong(""), beat.next),
                HeartbeatMode::Ping { timeout } => {
                    beat.awaiting = Some(beat.activity);
                    (Message::ping(""), tokio::time::Instant::now() + timeout)
                }
            };
            sleep.as_mut().reset(wake_at);
            // A beat that finds another write owed, or a state machine that refuses it, is
            // skipped.
            if !matches!(self.work, Work::Idle) || self.base.conn.send(&frame).is_err() {
                continue;
            }
            self.work = Work::Send {
                reply: Box::new(frame),
                close: false,
            };
            return true;
        }
    }
}

impl Drop for Owned {
    /// Corked frames would be lost with the connection: one attempt to write them out, without
    /// waiting (a socket with room in its send buffer takes them all).
    fn drop(&mut self) {
        if self.owed {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let _ = self.base.sink.as_mut().poll_flush(&mut cx);
        }
    }
}

/// The sink an [`Owned`] is left with once a split took its own: it takes nothing.
struct Gone;

impl futures_sink::Sink<Message> for Gone {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Err(Error::AbnormalClosure))
    }

    fn start_send(self: Pin<&mut Self>, _: Message) -> Result<(), Error> {
        Err(Error::AbnormalClosure)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}

/// An unsplit session's fields that a split session takes over.
pub(super) struct Rest {
    pub(super) conn: Connection,
    pub(super) sink: FrameSink,
    pub(super) deflater: Option<Box<Deflater>>,
    pub(super) budget_wait: Duration,
    pub(super) max_message_size: u64,
    pub(super) control: Option<Arc<Control>>,
}

impl Link for Owned {
    fn role(&self) -> Role {
        self.base.conn.role()
    }

    fn max_message_size(&self) -> u64 {
        self.base.max_message_size
    }

    fn budget_wait(&self) -> Duration {
        self.base.budget_wait
    }

    fn close_timeout(&self) -> Duration {
        self.base.conn.close_timeout()
    }

    fn conn(&mut self) -> impl DerefMut<Target = Connection> + '_ {
        &mut self.base.conn
    }

    fn set_closing(&mut self) {}

    #[inline]
    fn closing(&mut self) -> Closing {
        let received = self.base.conn.close_received().is_some();
        Closing {
            under_way: received || self.base.conn.close_sent().is_some(),
            received,
        }
    }

    #[inline]
    fn count_frame(&mut self) {
        if let Some(beat) = &mut self.beat {
            beat.activity += 1;
        }
    }

    #[inline]
    fn quiet(&mut self) -> bool {
        // (A close sent or received leaves the state machine `Open` no more.)
        matches!(self.work, Work::Idle)
            && self.abort.is_none()
            && self.base.conn.state() == State::Open
    }

    #[inline]
    fn register(&mut self, _cx: &mut Context<'_>) {}

    #[inline]
    fn aborted(&mut self) -> Option<Abort> {
        self.abort.as_deref().copied()
    }

    fn abort(&mut self, why: Abort) {
        self.abort.get_or_insert_with(|| Box::new(why));
        self.base.conn.transport_closed();
        if let Some(control) = &self.base.control {
            (control.hook)();
        }
    }

    fn shut_down(&self) -> bool {
        self.base
            .control
            .as_ref()
            .is_some_and(|c| c.shut.load(Ordering::Acquire))
    }

    #[inline]
    fn input_polled(&mut self, has_buffered: bool) {
        self.has_more = has_buffered;
    }

    #[inline]
    fn out_of_input(&mut self, cx: &mut Context<'_>) -> bool {
        self.has_more = false;
        if self.owed && matches!(self.work, Work::Idle) {
            self.work = Work::Flush {
                close: false,
                quiet: false,
            };
            return true;
        }
        self.poll_beat(cx)
    }

    fn begin(&mut self, work: Obligation) {
        self.work = match work {
            Obligation::Reply {
                reply: Some(r),
                close,
            } => Work::Send {
                reply: Box::new(r),
                close,
            },
            Obligation::Reply { reply: None, close } => Work::Flush {
                close,
                quiet: false,
            },
            Obligation::Flush => Work::Flush {
                close: false,
                quiet: false,
            },
            Obligation::EndQuietly => Work::Flush {
                close: true,
                quiet: true,
            },
            Obligation::Done(result) => Work::Done(result.map_err(Box::new)),
        };
    }

    #[inline]
    fn poll_obligation(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<(), Error>>> {
        if matches!(self.work, Work::Idle) {
            return Poll::Ready(None);
        }
        ready!(self.poll_work(cx));
        match std::mem::take(&mut self.work) {
            Work::Done(result) => Poll::Ready(Some(result.map_err(|e| *e))),
            _ => unreachable!("poll_work is ready only when done"),
        }
    }

    fn fail_detached(&mut self, close: Option<Message>) {
        // Carried out by the next poll of either side; the owner that drops the session
        // instead closes the transport anyway.
        self.begin(Obligation::Reply {
            reply: close,
            close: true,
        });
    }
}
