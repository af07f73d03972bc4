//! Reading, written once for both kinds of session: turns the frame stream into handled frames
//! and whole messages, carrying out the write obligations that reading produces (pongs, close
//! echoes, flushing corked writes) through its [`Link`].

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use futures_core::Stream;

use super::link::{Closing, Link, Obligation};
use super::{Abort, Account, FrameStream};
use crate::error::{Error, TimeoutKind};
use crate::proto::deflate::MessageInflater;
use crate::proto::{Message, Opcode, ProtocolError};

/// What reading holds between polls, over the session's [`Link`].
pub(crate) struct ReadCore<L> {
    stream: FrameStream,
    pub(super) link: L,
    /// The frame to hand out once the link's obligation is done.
    /// (Boxed, as `failure`: both are rare, and every connection's task carries the reader.)
    deliver: Option<Box<Message>>,
    /// The error to return once the link's obligation (the close for a violation) is done.
    failure: Option<Box<Error>>,
    done: bool,
    close_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A fragmented message being put together (boxed: rare).
    assembly: Option<Box<(Opcode, BytesMut)>>,
    validated: bool,
    /// permessage-deflate decompressor, when negotiated.
    inflater: Option<Box<MessageInflater>>,
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

impl<L: Link> ReadCore<L> {
    pub(super) fn new(
        stream: FrameStream,
        link: L,
        validated: bool,
        inflater: Option<Box<MessageInflater>>,
        account: Account,
    ) -> ReadCore<L> {
        ReadCore {
            stream,
            link,
            deliver: None,
            failure: None,
            done: false,
            close_deadline: None,
            assembly: None,
            validated,
            inflater,
            inflating: None,
            account,
            inflate_starved: false,
            starving: None,
        }
    }

    /// The same reading state over another link (what `WebSocket::split` does), with the
    /// obligation in progress, if any, carried over by `relink`.
    pub(super) fn relink<M: Link>(self, relink: impl FnOnce(L) -> M) -> ReadCore<M> {
        ReadCore {
            stream: self.stream,
            link: relink(self.link),
            deliver: self.deliver,
            failure: self.failure,
            done: self.done,
            close_deadline: self.close_deadline,
            assembly: self.assembly,
            validated: self.validated,
            inflater: self.inflater,
            inflating: self.inflating,
            account: self.account,
            inflate_starved: self.inflate_starved,
            starving: self.starving,
        }
    }

    /// Whether reading has ended.
    pub(super) fn is_done(&self) -> bool {
        self.done
    }

    /// Whether nothing but reading is under way: no obligation, no close, no abort, no message
    /// in pieces, no inflating, no wait for the memory budget. A frame read then needs none of
    /// the steps of [`ReadCore::poll_frame`] but the last.
    #[inline]
    fn plain(&mut self) -> bool {
        self.deliver.is_none()
            && self.failure.is_none()
            && !self.done
            && self.assembly.is_none()
            && self.inflater.is_none()
            && self.starving.is_none()
            && self.link.quiet()
    }

    /// `read_message` as a poll: frames are pulled until a message is whole.
    #[inline]
    pub(super) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        let mut first = None;
        if self.plain() {
            // The hot path: a whole text or binary frame already buffered goes straight out.
            let polled = self.stream.as_mut().poll_next(cx);
            if polled.is_ready() {
                self.link.input_polled(self.stream.has_buffered());
            }
            match polled {
                Poll::Ready(Some(Ok(frame)))
                    if frame.fin
                        && (frame.opcode == Opcode::Binary
                            || (frame.opcode == Opcode::Text && self.validated)) =>
                {
                    self.link.count_frame();
                    return Poll::Ready(Some(Ok(frame)));
                }
                // Anything else, or nothing yet, goes through every step.
                other => first = Some(other.map(Some)),
            }
        }
        self.poll_message_from(cx, first)
    }

    /// [`ReadCore::poll_message`] in full, starting from what the stream gave, if it was polled.
    fn poll_message_from(
        &mut self,
        cx: &mut Context<'_>,
        mut first: Option<Poll<Option<Item>>>,
    ) -> Poll<Option<Result<Message, Error>>> {
        loop {
            let polled = ready!(self.poll_frame_from(cx, first.take()));
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
                    self.assembly =
                        Some(Box::new((frame.opcode, BytesMut::from(&frame.payload[..]))));
                    continue;
                }
                (Opcode::Continuation, Some(mut assembly)) => {
                    let (opcode, buf) = &mut *assembly;
                    if !self.validated
                        && (buf.len() + frame.payload.len()) as u64 > self.link.max_message_size()
                    {
                        let len = (buf.len() + frame.payload.len()) as u64;
                        let max = self.link.max_message_size();
                        return Poll::Ready(Some(Err(
                            self.fail_now(ProtocolError::MessageTooBig { len, max })
                        )));
                    }
                    buf.extend_from_slice(&frame.payload);
                    if !frame.fin {
                        self.account.hold_anyway(buf.len());
                        self.assembly = Some(assembly);
                        continue;
                    }
                    // Handed to the application: no longer the budget's to count.
                    self.account.settle(0);
                    Message::new(*opcode, std::mem::take(buf).freeze())
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

    /// Every whole message already here, after waiting for the first, appended to `batch`.
    /// Ready with how many, and whether reading stopped only for want of input (so it goes on
    /// later); an error after some messages waits for the next call.
    pub(super) fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut Vec<Message>,
    ) -> Poll<Result<(usize, bool), Error>> {
        let before = batch.len();
        loop {
            match self.poll_message(cx) {
                Poll::Ready(Some(Ok(message))) => batch.push(message),
                Poll::Ready(Some(Err(e))) if batch.len() == before => return Poll::Ready(Err(e)),
                Poll::Ready(Some(Err(e))) => {
                    // Handed out by the next poll (see `poll_obligation`).
                    self.failure = Some(Box::new(e));
                    return Poll::Ready(Ok((batch.len() - before, false)));
                }
                Poll::Ready(None) => return Poll::Ready(Ok((batch.len() - before, false))),
                Poll::Pending if batch.len() == before => return Poll::Pending,
                Poll::Pending => return Poll::Ready(Ok((batch.len() - before, true))),
            }
        }
    }

    /// Fails the connection for a violation found above the decoder (raw `wrap_io` streams).
    fn fail_now(&mut self, err: ProtocolError) -> Error {
        self.link.set_closing();
        let close = self.link.conn().fail(&err);
        self.done = true;
        self.link.fail_detached(close);
        Error::Protocol(err)
    }

    /// The next frame, after the session has handled it: the steps below, in order, until one
    /// has something to hand out.
    pub(super) fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Item> {
        self.poll_frame_from(cx, None)
    }

    /// [`ReadCore::poll_frame`], starting from what the stream gave when [`ReadCore::plain`]
    /// held (so that the steps before polling it had nothing to do), if it was polled.
    fn poll_frame_from(
        &mut self,
        cx: &mut Context<'_>,
        mut first: Option<Poll<Option<Item>>>,
    ) -> Poll<Item> {
        loop {
            let (item, closing) = match first.take() {
                Some(item) => (item, Closing::default()),
                None => {
                    if let Some(item) = ready!(self.poll_obligation(cx)) {
                        return Poll::Ready(item);
                    }
                    if self.done {
                        return Poll::Ready(None);
                    }
                    self.link.register(cx);
                    if let Some(end) = self.aborted() {
                        return Poll::Ready(end);
                    }
                    let closing = self.link.closing();
                    if let Some(end) = self.poll_close_deadline(cx, closing) {
                        return Poll::Ready(end);
                    }
                    let item = if self.inflating.is_some() {
                        self.poll_inflate(cx)
                    } else {
                        self.poll_input(cx)
                    };
                    (item, closing)
                }
            };
            let item = match item {
                Poll::Ready(item) => item,
                Poll::Pending => match self.poll_starving(cx) {
                    Some(over) => Some(over),
                    None if self.link.out_of_input(cx) => continue,
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
                    // it goes out as it came, without asking the state machine.
                    self.link.count_frame();
                    return Poll::Ready(item);
                }
            }
            if let Some(item) = self.handle(item, closing) {
                return Poll::Ready(item);
            }
        }
    }

    /// Drives the write obligation in progress (a pong, a close echo, a flush); then hands out
    /// what waited for it, or `None` to read on (also when there was none).
    #[inline]
    fn poll_obligation(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let result = match ready!(self.link.poll_obligation(cx)) {
            Some(result) => result,
            // Nothing in progress (the usual case), or what was is done (handed over by a split).
            None if self.deliver.is_none() && self.failure.is_none() => return Poll::Ready(None),
            None => Ok(()),
        };
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

    /// How reading ends when the session was aborted from outside.
    #[inline]
    fn aborted(&mut self) -> Option<Item> {
        let why = self.link.aborted()?;
        self.done = true;
        Some(match why {
            Abort::Shutdown => None,
            Abort::PeerNotResponding(t) => Some(Err(Error::PeerNotResponding(t))),
        })
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
                let at = self.link.conn().close_by(now.into_std())?;
                let at = tokio::time::Instant::from_std(at);
                self.close_deadline
                    .insert(Box::pin(tokio::time::sleep_until(at)))
            }
        };
        if deadline.as_mut().poll(cx).is_pending() {
            return None;
        }
        self.done = true;
        self.link.abort(Abort::Shutdown);
        Some(if closing.received {
            None
        } else {
            Some(Err(Error::Timeout(
                TimeoutKind::Close,
                self.link.close_timeout(),
            )))
        })
    }

    /// Polls the frame stream; then the bookkeeping for what it gave: the heartbeat's and the
    /// corking's flags. A data frame, with permessage-deflate, is kept to be inflated (`None`).
    #[inline]
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let item = ready!(self.stream.as_mut().poll_next(cx));
        self.link.input_polled(self.stream.has_buffered());
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
        let assembled = self.assembly.as_ref().map_or(0, |a| a.1.len());
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
        let wait = self.link.budget_wait();
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
                self.link.conn().transport_closed();
                if self.link.shut_down() {
                    return Some(None);
                }
                if !closing.received {
                    return Some(Some(Err(Error::AbnormalClosure)));
                }
                // The peer ended its side after the closing handshake (RFC 6455 §7.1.1: the
                // server closes first): end ours too (a FIN; over HTTP/2, END_STREAM), without
                // waiting for the application to drop the writer.
                self.link.begin(Obligation::EndQuietly);
                None
            }
            Some(Err(Error::Protocol(violation))) => {
                self.link.set_closing();
                let close = self.link.conn().fail(&violation);
                self.failure = Some(Box::new(Error::Protocol(violation)));
                self.done = true;
                self.link.begin(Obligation::Reply {
                    reply: close,
                    close: true,
                });
                None
            }
            Some(Err(e)) => {
                self.done = true;
                self.link.conn().transport_closed();
                // A reset after the close handshake (or after the application shut the socket
                // down) is still a clean end.
                Some((!closing.received && !self.link.shut_down()).then_some(Err(e)))
            }
        }
    }

    fn handle_frame(&mut self, frame: Message, closing: Closing) -> Option<Item> {
        self.link.count_frame();
        if closing.received {
            // RFC 6455 §5.5.1: nothing may follow a close; discard it.
            return None;
        }
        if frame.opcode.is_data() {
            return Some(Some(Ok(frame)));
        }
        if frame.opcode == Opcode::Close {
            self.link.set_closing();
        }
        let received = self.link.conn().receive(&frame);
        if received.reply.is_none() && !received.close_transport {
            return Some(Some(Ok(frame)));
        }
        if received.close_transport {
            self.done = true;
        }
        self.deliver = Some(Box::new(frame));
        self.link.begin(Obligation::Reply {
            reply: received.reply,
            close: received.close_transport,
        });
        None
    }
}

/// Inflated output produced between two yields to the runtime.
const INFLATE_STEP: usize = 256 << 10;

/// What the reader hands out: a frame, an error, or `None` at the end.
pub(super) type Item = Option<Result<Message, Error>>;
