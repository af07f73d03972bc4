//! The interface between [`Topics`](super::Topics) and a broker that carries messages between
//! server processes. Implementations: [`RedisBackplane`](super::RedisBackplane) (feature
//! `redis`) and [`NatsBackplane`](super::NatsBackplane) (feature `nats`).
//!
//! An implementation keeps one broker connection per node (not per WebSocket, not per topic),
//! publishes envelopes without making the publisher wait, delivers what other nodes published
//! to the [`EnvelopeSink`], and reconnects by itself when the broker goes away.

#[cfg(any(feature = "redis", feature = "nats"))]
use std::sync::Mutex;
use std::sync::Weak;

use bytes::Bytes;
#[cfg(any(feature = "redis", feature = "nats"))]
use tokio::sync::{mpsc, watch};

use super::Inner;

/// Where a backplane stands with its broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackplaneState {
    /// Connected: messages flow both ways.
    Connected,
    /// The broker is away; reconnecting. Local delivery goes on; what is published meanwhile is
    /// lost to the other nodes (and counted).
    Reconnecting,
}

/// A broker connection shared by every topic of a [`Topics`](super::Topics).
pub trait Backplane: Send + Sync + 'static {
    /// Hands an envelope to the broker without waiting. `false` when it cannot (the broker is
    /// away, or its queue is full): the message is lost to the other nodes.
    fn publish(&self, envelope: Bytes) -> bool;

    /// Starts delivering envelopes published by other nodes into `sink` (called once, by
    /// [`Topics::attach`](super::Topics::attach)).
    fn start(&self, sink: EnvelopeSink);

    /// The current state, and its changes.
    fn state(&self) -> tokio::sync::watch::Receiver<BackplaneState>;
}

/// Where a backplane delivers envelopes from the broker: the node's topics.
#[derive(Clone)]
pub struct EnvelopeSink {
    topics: Weak<Inner>,
}

impl std::fmt::Debug for EnvelopeSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeSink").finish_non_exhaustive()
    }
}

impl EnvelopeSink {
    pub(super) fn new(topics: Weak<Inner>) -> EnvelopeSink {
        EnvelopeSink { topics }
    }

    /// Delivers an envelope from the broker to this node's subscribers (the node's own
    /// envelopes are recognised and skipped). `false` once the topics are gone: stop.
    pub fn deliver(&self, envelope: &[u8]) -> bool {
        match self.topics.upgrade() {
            Some(inner) => {
                inner.receive(envelope);
                true
            }
            None => false,
        }
    }

    /// Counts `n` messages of this node that never reached the broker.
    pub fn lost(&self, n: u64) {
        if let Some(inner) = self.topics.upgrade() {
            inner.count_lost(n);
        }
    }

    /// Whether the topics are gone (the backplane's tasks may end).
    pub fn is_closed(&self) -> bool {
        self.topics.strong_count() == 0
    }
}

/// What the broker backplanes share: the bounded queue to their publishing task (taken once, by
/// `start`), and their state.
#[cfg(any(feature = "redis", feature = "nats"))]
pub(super) struct Outbox {
    outgoing: mpsc::Sender<Bytes>,
    queued: Mutex<Option<mpsc::Receiver<Bytes>>>,
    pub(super) state: watch::Sender<BackplaneState>,
}

#[cfg(any(feature = "redis", feature = "nats"))]
impl Outbox {
    /// An outbox holding at most `capacity` envelopes, connected.
    pub(super) fn new(capacity: usize, state: watch::Sender<BackplaneState>) -> Outbox {
        let (outgoing, rx) = mpsc::channel(capacity);
        Outbox {
            outgoing,
            queued: Mutex::new(Some(rx)),
            state,
        }
    }

    /// [`Backplane::publish`]: queues the envelope while connected and while there is room.
    pub(super) fn publish(&self, envelope: Bytes) -> bool {
        *self.state.borrow() == BackplaneState::Connected
            && self.outgoing.try_send(envelope).is_ok()
    }

    /// The queue's receiving end, for the publishing task; `None` after the first call.
    pub(super) fn take_queue(&self) -> Option<mpsc::Receiver<Bytes>> {
        self.queued.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[cfg(any(feature = "redis", feature = "nats"))]
impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}
