//! The interface between [`Topics`](super::Topics) and a broker that carries messages between
//! server processes. Implementations: [`RedisBackplane`](super::RedisBackplane) (feature
//! `redis`) and [`NatsBackplane`](super::NatsBackplane) (feature `nats`).
//!
//! An implementation keeps one broker connection per node (not per WebSocket, not per topic),
//! publishes envelopes without making the publisher wait, delivers what other nodes published
//! to the [`EnvelopeSink`], and reconnects by itself when the broker goes away.

use std::sync::Weak;

use bytes::Bytes;

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
