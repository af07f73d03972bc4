//! What the reading machinery needs from the session around it, as one trait with two answers:
//! [`Split`](super::split::SplitLink) for a [`Reader`](super::Reader) whose
//! [`Writer`](super::Writer) may live in another task (locks and atomics), and
//! [`Owned`](super::owned::Owned) for a [`WebSocket`](super::WebSocket) that one task reads and
//! writes (plain fields).
//!
//! The reader's logic (fragments, inflating, the memory budget, the close deadline, write
//! obligations) is written once, in [`ReadCore`](super::read::ReadCore), over this trait.

use std::ops::DerefMut;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Abort;
use crate::error::Error;
use crate::proto::{Connection, Message, Role};

/// A write that reading owes the peer, carried out before reading goes on.
pub(crate) enum Obligation {
    /// A reply the state machine already accounted for (a pong, a close echo, the close for a
    /// violation), then optionally closing the transport.
    Reply { reply: Option<Message>, close: bool },
    /// Writes corked by the application went unflushed: flush them before waiting for input.
    Flush,
    /// The peer ended its side after the close handshake: end ours, ignoring failure.
    EndQuietly,
    /// Already carried out, with this result (an obligation handed over by a split).
    Done(Result<(), Error>),
}

/// Where the closing handshake stands, as the reader sees it at one poll.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Closing {
    /// A close frame has been sent or received.
    pub(crate) under_way: bool,
    /// The peer's close frame has been received.
    pub(crate) received: bool,
}

/// The session as the reader sees it.
pub(crate) trait Link: Send {
    fn role(&self) -> Role;
    fn max_message_size(&self) -> u64;
    /// How long reading waits for room in the memory budget before failing with 1013.
    fn budget_wait(&self) -> Duration;
    fn close_timeout(&self) -> Duration;

    /// The protocol state machine.
    fn conn(&mut self) -> impl DerefMut<Target = Connection> + '_;

    /// A close frame may be about to be sent or received: called before the state machine
    /// records it.
    fn set_closing(&mut self);

    /// Where the closing handshake stands.
    fn closing(&mut self) -> Closing;

    /// A frame came in: evidence of life for the heartbeat.
    fn count_frame(&mut self);

    /// Makes sure the task polling the reader is the one woken by an abort.
    fn register(&mut self, cx: &mut Context<'_>);

    /// Nothing is under way besides reading: no obligation, no close, no abort, nothing to
    /// register for. When it says so, a frame may be read without the reader's other steps.
    /// (The split link never says so: its reader registers for aborts at every poll.)
    fn quiet(&mut self) -> bool {
        false
    }

    /// Why the session was ended from outside, if it was.
    fn aborted(&mut self) -> Option<Abort>;

    /// Ends the session from outside the protocol.
    fn abort(&mut self, why: Abort);

    /// Whether the application shut the socket down (so that its end is a clean one), for a
    /// link that learns it only when the transport ends.
    fn shut_down(&self) -> bool {
        false
    }

    /// The frame stream gave something; `has_buffered` says whether more is already buffered
    /// (writes made meanwhile may stay corked).
    fn input_polled(&mut self, has_buffered: bool);

    /// The frame stream has nothing more for now. Returns `true` when there is something to do
    /// before waiting (an obligation started: a flush of corked writes, a heartbeat), so the
    /// reader polls again.
    fn out_of_input(&mut self, cx: &mut Context<'_>) -> bool;

    /// Starts an obligation; reading waits for it ([`Link::poll_obligation`]).
    fn begin(&mut self, work: Obligation);

    /// Drives the obligation in progress: `Ready(None)` when there is none.
    fn poll_obligation(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<(), Error>>>;

    /// Sends the close for a violation found above the decoder, without making the reader wait
    /// for it (the error is returned at once).
    fn fail_detached(&mut self, close: Option<Message>);
}
