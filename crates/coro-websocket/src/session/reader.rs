//! The reading half: turns the frame stream into handled frames and whole messages, carrying out
//! the write obligations that reading produces (pongs, close echoes, flushing corked writes).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use bytes::BytesMut;
use futures_core::Stream;

use super::{Abort, Account, FrameStream, SendFuture, Shared};
use crate::error::{Closed, Error, TimeoutKind};
use crate::proto::deflate::MessageInflater;
use crate::proto::{CloseFrame, Message, Opcode, ProtocolError};

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
    /// (Boxed, as `failure`: both are rare, and every connection's task carries the `Reader`.)
    deliver: Option<Box<Message>>,
    /// The error to return once `pending` (the close for a violation) is done.
    failure: Option<Box<Error>>,
    done: bool,
    close_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    assembly: Option<(Opcode, BytesMut)>,
    validated: bool,
    /// permessage-deflate decompressor, when negotiated.
    inflater: Option<Box<MessageInflater>>,
    /// The waker last registered in `reader_waker`, with the wake count at that time.
    registered: Option<(Waker, u32)>,
    /// A compressed frame being inflated in steps, between two steps.
    inflating: Option<Box<Message>>,
    /// What reassembly and inflating hold, taken from the memory budget.
    account: Account,
    /// Inflating waits for room in the memory budget.
    inflate_starved: bool,
    /// While reading or inflating waits for room in the memory budget: when that wait ends
    /// the connection.
    starving: Option<Pin<Box<tokio::time::Sleep>>>,
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
    pub(super) fn new(
        stream: FrameStream,
        shared: Arc<Shared>,
        validated: bool,
        inflater: Option<Box<MessageInflater>>,
        account: Account,
    ) -> Reader {
        Reader {
            stream,
            shared,
            pending: None,
            deliver: None,
            failure: None,
            done: false,
            close_deadline: None,
            assembly: None,
            validated,
            inflater,
            registered: None,
            inflating: None,
            account,
            inflate_starved: false,
            starving: None,
        }
    }

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
        std::future::poll_fn(|cx| self.poll_message(cx))
            .await
            .transpose()
    }

    /// [`Reader::read_message`] as a poll: frames are pulled until a message is whole.
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            let polled = ready!(self.poll_frame(cx));
            let frame = match polled {
                // The hot path: an unfragmented message, already checked, goes out as it came.
                Some(Ok(ref f))
                    if f.fin
                        && self.assembly.is_none()
                        && (f.opcode == Opcode::Binary
                            || (f.opcode == Opcode::Text && self.validated)) =>
                {
                    return Poll::Ready(polled)
                }
                Some(Ok(frame)) => frame,
                other => return Poll::Ready(other),
            };
            let whole = match (frame.opcode, self.assembly.take()) {
                (Opcode::Text | Opcode::Binary, None) if frame.fin => frame,
                (Opcode::Text | Opcode::Binary, None) => {
                    self.account.hold_anyway(frame.payload.len());
                    self.assembly = Some((frame.opcode, BytesMut::from(&frame.payload[..])));
                    continue;
                }
                (Opcode::Continuation, Some((opcode, mut buf))) => {
                    if !self.validated
                        && (buf.len() + frame.payload.len()) as u64 > self.shared.max_message_size
                    {
                        return Poll::Ready(Some(Err(self.fail_now(
                            ProtocolError::MessageTooBig {
                                len: (buf.len() + frame.payload.len()) as u64,
                                max: self.shared.max_message_size,
                            },
                        ))));
                    }
                    buf.extend_from_slice(&frame.payload);
                    if !frame.fin {
                        self.account.hold_anyway(buf.len());
                        self.assembly = Some((opcode, buf));
                        continue;
                    }
                    // Handed to the application: no longer the budget's to count.
                    self.account.settle(0);
                    Message::new(opcode, buf.freeze())
                }
                (Opcode::Ping | Opcode::Pong | Opcode::Close, partial) => {
                    self.assembly = partial;
                    continue;
                }
                // Only reachable with a raw stream that does not check fragmentation.
                (_, _) => {
                    return Poll::Ready(Some(Err(
                        self.fail_now(ProtocolError::UnexpectedContinuation)
                    )))
                }
            };
            if !self.validated
                && whole.opcode == Opcode::Text
                && simdutf8::basic::from_utf8(&whole.payload).is_err()
            {
                return Poll::Ready(Some(Err(self.fail_now(ProtocolError::InvalidUtf8))));
            }
            return Poll::Ready(Some(Ok(whole)));
        }
    }

    /// The peer's close frame, once received (code 1005 if it carried no status code).
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.shared.conn().close_received().cloned()
    }

    /// The close frames exchanged so far.
    pub fn closed(&self) -> Closed {
        self.shared.closed()
    }

    /// Fails the connection for a violation found above the decoder (raw `wrap_io` streams).
    fn fail_now(&mut self, err: ProtocolError) -> Error {
        self.shared.closing.store(true, Ordering::Release);
        let close = self.shared.conn().fail(&err);
        self.done = true;
        let shared = self.shared.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(shared.fulfil(close, true));
        }
        Error::Protocol(err)
    }

    /// Counts a received frame for the heartbeat. Only this reader writes the counter: no
    /// read-modify-write needed.
    #[inline]
    fn count_frame(&self) {
        let seen = self.shared.activity.load(Ordering::Relaxed);
        self.shared.activity.store(seen + 1, Ordering::Release);
    }

    /// The next frame, after the session has handled it: the steps below, in order, until one
    /// has something to hand out.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Item> {
        loop {
            if self.pending.is_some() {
                match ready!(self.poll_obligation(cx)) {
                    Some(item) => return Poll::Ready(item),
                    None => continue,
                }
            }
            if self.done {
                return Poll::Ready(None);
            }
            self.register(cx);
            if let Some(end) = self.aborted() {
                return Poll::Ready(end);
            }
            let closing = self.closing();
            if let Some(end) = self.poll_close_deadline(cx, closing) {
                return Poll::Ready(end);
            }
            let item = if self.inflating.is_some() {
                self.poll_inflate(cx)
            } else {
                self.poll_input(cx)
            };
            let item = match item {
                Poll::Ready(item) => item,
                Poll::Pending => match self.poll_starving(cx) {
                    Some(over) => Some(over),
                    None if self.out_of_input() => continue,
                    None => return Poll::Pending,
                },
            };
            let Some(item) = item else {
                // A compressed frame to inflate, step by step.
                continue;
            };
            if let Some(Ok(frame)) = &item {
                if !closing.received && frame.opcode.is_data() {
                    // The hot path: a data frame owes nothing, and changes nothing in
                    // `Connection` (the decoder has already checked the order of fragments), so
                    // it goes out as it came, without taking that lock.
                    self.count_frame();
                    return Poll::Ready(item);
                }
            }
            if let Some(item) = self.handle(item, closing) {
                return Poll::Ready(item);
            }
        }
    }

    /// Drives the write obligation in progress (a pong, a close echo, a flush); then hands out
    /// what waited for it, or `None` to read on.
    fn poll_obligation(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let Some(fut) = self.pending.as_mut() else {
            return Poll::Ready(None);
        };
        let result = ready!(fut.as_mut().poll(cx));
        self.pending = None;
        if let Some(err) = self.failure.take() {
            return Poll::Ready(Some(Some(Err(*err))));
        }
        Poll::Ready(match (self.deliver.take(), result) {
            (Some(frame), _) => Some(Some(Ok(*frame))),
            (None, Err(e)) => {
                self.done = true;
                Some(Some(Err(e)))
            }
            (None, Ok(())) => None,
        })
    }

    /// Registers the task's waker, only when it changed or a wake took it: `AtomicWaker::register`
    /// clones and swaps a waker, which is most of a poll's cost on the hot path.
    #[inline]
    fn register(&mut self, cx: &mut Context<'_>) {
        let wakes = self.shared.reader_wakes.load(Ordering::Acquire);
        if self
            .registered
            .as_ref()
            .is_none_or(|(w, n)| *n != wakes || !w.will_wake(cx.waker()))
        {
            self.shared.reader_waker.register(cx.waker());
            self.registered = Some((cx.waker().clone(), wakes));
        }
    }

    /// How reading ends when the session was aborted from outside.
    #[inline]
    fn aborted(&mut self) -> Option<Item> {
        let why = self.shared.aborted()?;
        self.done = true;
        Some(match why {
            Abort::Shutdown => None,
            Abort::PeerNotResponding(t) => Some(Err(Error::PeerNotResponding(t))),
        })
    }

    /// Where the closing handshake stands; the flag spares the hot path the state machine's lock.
    #[inline]
    fn closing(&self) -> Closing {
        if !self.shared.closing.load(Ordering::Acquire) {
            return Closing::default();
        }
        let conn = self.shared.conn();
        let received = conn.close_received().is_some();
        Closing {
            under_way: received || conn.close_sent().is_some(),
            received,
        }
    }

    /// Runs the timer for the core's close deadline (RFC 6455 §7.1.1: bound the wait for the
    /// peer's close, or, for a client, for the server to close TCP); at the deadline, ends
    /// reading: cleanly if the peer's close came, else with a timeout.
    fn poll_close_deadline(&mut self, cx: &mut Context<'_>, closing: Closing) -> Option<Item> {
        if !closing.under_way {
            return None;
        }
        let deadline = match self.close_deadline.as_mut() {
            Some(deadline) => deadline,
            None => {
                let now = tokio::time::Instant::now();
                let at = self.shared.conn().close_by(now.into_std())?;
                let at = tokio::time::Instant::from_std(at);
                self.close_deadline
                    .insert(Box::pin(tokio::time::sleep_until(at)))
            }
        };
        if deadline.as_mut().poll(cx).is_pending() {
            return None;
        }
        self.done = true;
        self.shared.abort(Abort::Shutdown);
        Some(if closing.received {
            None
        } else {
            Some(Err(Error::Timeout(
                TimeoutKind::Close,
                self.shared.close_timeout,
            )))
        })
    }

    /// The frame stream has nothing more for now: flushes what corked writes left buffered, and
    /// returns `true` if that flush is now the pending obligation (else the reader waits).
    #[inline]
    fn out_of_input(&mut self) -> bool {
        self.shared.cork.reader_has_more(false);
        if self.shared.cork.take_owed() {
            let shared = self.shared.clone();
            self.pending = Some(Box::pin(async move {
                shared.unless_aborted(shared.flush()).await
            }));
            return true;
        }
        self.shared.reader_waiting.store(true, Ordering::Release);
        false
    }

    /// Polls the frame stream; then the bookkeeping for what it gave: the heartbeat's and the
    /// corking's flags. A data frame, with permessage-deflate, is kept to be inflated (`None`).
    #[inline]
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let item = ready!(self.stream.as_mut().poll_next(cx));
        self.shared.reader_waiting.store(false, Ordering::Release);
        self.shared.cork.reader_has_more(self.stream.has_buffered());
        if self.inflater.is_some() {
            if let Some(Ok(frame)) = item {
                if frame.opcode.is_data() {
                    self.inflating = Some(Box::new(frame));
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(Some(Ok(frame))));
            }
        }
        Poll::Ready(Some(item))
    }

    /// Inflates the kept frame by one bounded step, once the memory budget has room for it.
    /// A frame that needs more steps gives the runtime back in between (`Pending` after waking
    /// itself), so one connection's large message costs its own time, not everyone's.
    fn poll_inflate(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let (Some(inflater), Some(frame)) = (self.inflater.as_mut(), self.inflating.as_mut())
        else {
            return Poll::Ready(None);
        };
        let assembled = self.assembly.as_ref().map_or(0, |(_, buf)| buf.len());
        // The compressed frame is held until it is inflated, beside the output so far.
        let held = assembled + frame.payload.len() + inflater.pending_output() + INFLATE_STEP;
        self.inflate_starved = self.account.poll_hold(cx, held).is_pending();
        if self.inflate_starved {
            return Poll::Pending;
        }
        match inflater.inflate_part(frame, INFLATE_STEP) {
            Ok(false) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Ok(true) => {
                let frame = self.inflating.take().expect("checked above");
                // What is handed on is counted where it goes (reassembly), or no longer.
                self.account.settle(assembled);
                Poll::Ready(Some(Some(Ok(*frame))))
            }
            Err(violation) => {
                self.inflating = None;
                Poll::Ready(Some(Some(Err(Error::Protocol(violation)))))
            }
        }
    }

    /// After a `Pending`: while the wait is for room in the memory budget, bounds it by
    /// `Config::budget_wait`, and past that fails the connection with 1013 (try again later).
    fn poll_starving(&mut self, cx: &mut Context<'_>) -> Option<Item> {
        if !(self.inflate_starved || self.stream.starved()) {
            self.starving = None;
            return None;
        }
        let wait = self.shared.budget_wait;
        let deadline = self
            .starving
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(wait)));
        if deadline.as_mut().poll(cx).is_pending() {
            return None;
        }
        self.starving = None;
        let waited_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        Some(Some(Err(Error::Protocol(ProtocolError::OverBudget {
            waited_ms,
        }))))
    }

    /// Handles what the stream gave: hands a frame out, or starts the write obligation it
    /// brings (a pong, a close echo, the close for a violation) and returns `None` to wait for it.
    fn handle(&mut self, item: Item, closing: Closing) -> Option<Item> {
        match item {
            Some(Ok(frame)) => self.handle_frame(frame, closing),
            None => {
                self.done = true;
                self.shared.conn().transport_closed();
                if !closing.received {
                    return Some(Some(Err(Error::AbnormalClosure)));
                }
                // The peer ended its side after the closing handshake (RFC 6455 §7.1.1: the
                // server closes first): end ours too (a FIN; over HTTP/2, END_STREAM), without
                // waiting for the application to drop the writer.
                let shared = self.shared.clone();
                self.pending = Some(Box::pin(async move {
                    let _ = shared.fulfil(None, true).await;
                    Ok(())
                }));
                None
            }
            Some(Err(Error::Protocol(violation))) => {
                self.shared.closing.store(true, Ordering::Release);
                let close = self.shared.conn().fail(&violation);
                self.failure = Some(Box::new(Error::Protocol(violation)));
                self.done = true;
                self.pending = Some(Box::pin(self.shared.clone().fulfil(close, true)));
                None
            }
            Some(Err(e)) => {
                self.done = true;
                self.shared.conn().transport_closed();
                // A reset after the close handshake is still a clean end.
                Some((!closing.received).then_some(Err(e)))
            }
        }
    }

    fn handle_frame(&mut self, frame: Message, closing: Closing) -> Option<Item> {
        self.count_frame();
        if closing.received {
            // RFC 6455 §5.5.1: nothing may follow a close; discard it.
            return None;
        }
        if frame.opcode.is_data() {
            return Some(Some(Ok(frame)));
        }
        if frame.opcode == Opcode::Close {
            self.shared.closing.store(true, Ordering::Release);
        }
        let received = self.shared.conn().receive(&frame);
        if received.reply.is_none() && !received.close_transport {
            return Some(Some(Ok(frame)));
        }
        if received.close_transport {
            self.done = true;
        }
        self.deliver = Some(Box::new(frame));
        self.pending = Some(Box::pin(
            self.shared
                .clone()
                .fulfil(received.reply, received.close_transport),
        ));
        None
    }
}

/// Inflated output produced between two yields to the runtime.
const INFLATE_STEP: usize = 256 << 10;

/// What the reader hands out: a frame, an error, or `None` at the end.
type Item = Option<Result<Message, Error>>;

/// Where the closing handshake stands, as the reader sees it at one poll.
#[derive(Debug, Clone, Copy, Default)]
struct Closing {
    /// A close frame has been sent or received.
    under_way: bool,
    /// The peer's close frame has been received.
    received: bool,
}

impl Stream for Reader {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_frame(cx)
    }
}
