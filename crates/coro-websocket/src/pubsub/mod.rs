//! Topics: publish a message once, and every connection subscribed to the topic gets it; across
//! server processes through a broker ([`Backplane`]: Redis or NATS pub/sub, features `redis` and
//! `nats`).
//!
//! A [`Topics`] is one per server (clone it freely). [`Topics::subscribe`] adds a connection's
//! [`Writer`] to a topic; [`Topics::publish`] (from any task: another connection's, a timer, an
//! HTTP handler) hands the message to every subscriber without waiting for any of them.
//!
//! **One copy of the payload.** A published message's payload is shared (reference-counted
//! `Bytes`) by every subscriber's queue; each connection encodes only the frame header and
//! copies the bytes into its socket buffer (large frames are written from the shared bytes).
//! With permessage-deflate, a connection compresses each message itself: with context takeover
//! the compressed bytes depend on what that connection sent before, so they cannot be shared.
//!
//! **Slow subscribers.** Each subscriber has a budget of queued bytes
//! ([`TopicsConfig::subscriber_budget`], default 64 KiB, besides the connection's own write
//! buffer). A message that does not fit is handled by [`TopicsConfig::slow_subscriber`]:
//! [`SlowSubscriber::Drop`] (the default, as uWebSockets does) skips it for that subscriber and
//! counts it; [`SlowSubscriber::Close`] closes the subscriber with 1013 (try again later). A
//! publisher never waits for a subscriber, so a slow one slows neither the publisher nor the
//! others, and its memory is bounded by the budget.
//!
//! **Disconnecting** (the connection's reader and writer dropped, or a write failing) removes
//! every subscription of the connection.
//!
//! **Across processes** ([`Topics::attach`]): every message published on one node reaches the
//! subscribers of its topic on every node attached to the same broker, once (a node ignores its
//! own messages when the broker echoes them back), in the order one node published them. The
//! broker's pub/sub is at-most-once: messages published while the broker is away are lost to
//! the other nodes, and counted ([`Stats::lost`]); local delivery never stops, and the
//! backplane reconnects by itself.
//!
//! ```
//! use coro_websocket::pubsub::Topics;
//! use coro_websocket::{accept, connect, Message, Options, ServerOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), coro_websocket::Error> {
//! let topics = Topics::default();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let port = listener.local_addr()?.port();
//! let room = topics.clone();
//! tokio::spawn(async move {
//!     // A chat room: every member gets what the others send.
//!     loop {
//!         let (tcp, _) = listener.accept().await.unwrap();
//!         let room = room.clone();
//!         tokio::spawn(async move {
//!             let (_req, mut read, write) = accept(tcp, ServerOptions::default()).await.unwrap();
//!             room.subscribe(&write, "lobby");
//!             while let Ok(Some(msg)) = read.read_message().await {
//!                 room.publish_except("lobby", msg, &write);
//!             }
//!         });
//!     }
//! });
//! let options = Options { port: Some(port), ..Default::default() };
//! let (_, mut alice_read, mut alice) = connect(options.clone()).await?;
//! let (_, mut bob_read, _bob) = connect(options).await?;
//! while topics.subscribers("lobby") < 2 {
//!     tokio::task::yield_now().await; // until the server has subscribed both
//! }
//! alice.write(Message::text("hi all")).await?;
//! assert_eq!(bob_read.read_message().await?.unwrap().as_text(), Some("hi all"));
//! # let _ = &mut alice_read;
//! # Ok(()) }
//! ```

mod backplane;
mod envelope;
mod subscriber;

#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "redis")]
mod redis;

pub use backplane::{Backplane, BackplaneState, EnvelopeSink};
#[cfg(feature = "nats")]
pub use nats::{NatsBackplane, DEFAULT_SUBJECT};
#[cfg(feature = "redis")]
pub use redis::{RedisBackplane, DEFAULT_CHANNEL};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::proto::Message;
use crate::session::Writer;
use subscriber::{Sub, SubId};

/// How a [`Topics`] treats its subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicsConfig {
    /// Bytes of published messages a subscriber may have queued, not yet handed to its
    /// connection. Default 64 KiB (uWebSockets' default backpressure limit).
    pub subscriber_budget: usize,
    /// What happens to a subscriber whose budget a message would exceed.
    pub slow_subscriber: SlowSubscriber,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            subscriber_budget: 64 << 10,
            slow_subscriber: SlowSubscriber::Drop,
        }
    }
}

/// The policy for a subscriber that does not keep up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowSubscriber {
    /// Skip the message for that subscriber and count it ([`Stats::dropped`]). The default: a
    /// chat member or a dashboard that falls behind misses updates rather than its connection.
    #[default]
    Drop,
    /// Close that subscriber with 1013 (try again later) and count it ([`Stats::closed`]), for
    /// applications where a gap is worse than a reconnect.
    Close,
}

/// Counters of a [`Topics`], since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages published on this node.
    pub published: u64,
    /// Messages received from other nodes through the backplane.
    pub received: u64,
    /// Deliveries queued for local subscribers.
    pub delivered: u64,
    /// Deliveries skipped for slow subscribers ([`SlowSubscriber::Drop`]).
    pub dropped: u64,
    /// Subscribers closed for being slow ([`SlowSubscriber::Close`]).
    pub closed: u64,
    /// Messages published on this node that did not reach the broker (it was away, or its
    /// queue was full): lost to the other nodes.
    pub lost: u64,
}

/// Topics for one server: subscribe connections, publish from anywhere. Cheap to clone.
#[derive(Clone, Default)]
pub struct Topics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Topics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topics")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    config: TopicsConfig,
    state: Mutex<State>,
    counters: Counters,
    backplane: std::sync::OnceLock<(Arc<dyn Backplane>, [u8; 16])>,
}

#[derive(Default)]
struct State {
    /// Topic → its subscribers.
    topics: HashMap<String, HashMap<SubId, Arc<Sub>>>,
    /// Each subscribed session's entry, by session.
    subs: HashMap<SubId, Arc<Sub>>,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    received: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    closed: AtomicU64,
    lost: AtomicU64,
}

impl Topics {
    /// Topics with these settings.
    pub fn new(config: TopicsConfig) -> Topics {
        Topics {
            inner: Arc::new(Inner {
                config,
                ..Inner::default()
            }),
        }
    }

    /// Adds the connection of `writer` to `topic`. Subscribing twice is subscribing once.
    pub fn subscribe(&self, writer: &Writer, topic: &str) {
        let id = SubId::of(writer);
        let mut state = self.inner.state();
        let sub = match state.subs.get(&id) {
            Some(sub) if !sub.is_gone() => sub.clone(),
            _ => {
                let sub = Sub::start(writer, &self.inner);
                state.subs.insert(id, sub.clone());
                sub
            }
        };
        sub.topics().insert(topic.to_owned());
        state
            .topics
            .entry(topic.to_owned())
            .or_default()
            .insert(id, sub);
    }

    /// Removes the connection of `writer` from `topic`.
    pub fn unsubscribe(&self, writer: &Writer, topic: &str) {
        let id = SubId::of(writer);
        let mut state = self.inner.state();
        if let Some(sub) = state.subs.get(&id) {
            sub.topics().remove(topic);
        }
        remove_from_topic(&mut state, topic, id);
    }

    /// How many connections are subscribed to `topic` on this node.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.inner.state().topics.get(topic).map_or(0, HashMap::len)
    }

    /// Publishes `message` to every subscriber of `topic`, here and on the other nodes.
    ///
    /// It does not wait for any subscriber: it returns once every local one has the message
    /// queued (or, slow, has been dealt with by the policy) and the backplane has it.
    /// Only whole data messages (text or binary) are published; others are ignored.
    pub fn publish(&self, topic: &str, message: Message) {
        self.publish_from(topic, message, None);
    }

    /// [`Topics::publish`], except to the connection of `except` (the publisher itself, in a
    /// chat).
    pub fn publish_except(&self, topic: &str, message: Message, except: &Writer) {
        self.publish_from(topic, message, Some(SubId::of(except)));
    }

    fn publish_from(&self, topic: &str, message: Message, except: Option<SubId>) {
        if !message.opcode.is_data() || !message.fin {
            return;
        }
        let message = Message::new(message.opcode, message.payload);
        self.inner
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
        if let Some((backplane, node)) = self.inner.backplane.get() {
            let envelope = envelope::encode(node, topic, &message);
            if !backplane.publish(envelope) {
                self.inner.counters.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.inner.deliver(topic, &message, except);
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            published: c.published.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            closed: c.closed.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
        }
    }

    /// Extends these topics across every node attached to the same broker: messages published
    /// here go to the broker, and messages from other nodes are delivered here. One backplane
    /// per `Topics`; a second call returns `false` and changes nothing.
    pub fn attach(&self, backplane: Arc<dyn Backplane>) -> bool {
        let node: [u8; 16] = rand::random();
        if self.inner.backplane.set((backplane.clone(), node)).is_err() {
            return false;
        }
        backplane.start(EnvelopeSink::new(Arc::downgrade(&self.inner)));
        true
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `message` for every local subscriber of `topic` but `except`.
    fn deliver(&self, topic: &str, message: &Message, except: Option<SubId>) {
        let subs: Vec<Arc<Sub>> = match self.state().topics.get(topic) {
            Some(subs) => subs
                .iter()
                .filter(|(id, _)| Some(**id) != except)
                .map(|(_, sub)| sub.clone())
                .collect(),
            None => return,
        };
        let (mut delivered, mut dropped, mut closed) = (0, 0, 0);
        for sub in subs {
            match sub.offer(message, &self.config) {
                subscriber::Offer::Queued => delivered += 1,
                subscriber::Offer::Dropped => dropped += 1,
                subscriber::Offer::Closing => closed += 1,
                subscriber::Offer::Gone => {}
            }
        }
        let c = &self.counters;
        c.delivered.fetch_add(delivered, Ordering::Relaxed);
        c.dropped.fetch_add(dropped, Ordering::Relaxed);
        c.closed.fetch_add(closed, Ordering::Relaxed);
    }

    /// A message from another node, through the backplane.
    pub(crate) fn receive(&self, envelope: &[u8]) {
        let Some((node, topic, message)) = envelope::decode(envelope) else {
            tracing::debug!("pubsub: ignoring a malformed envelope from the broker");
            return;
        };
        if self.backplane.get().is_some_and(|(_, ours)| *ours == node) {
            // Our own message, echoed by the broker: already delivered here.
            return;
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        self.deliver(topic, &message, None);
    }

    /// Counts a message that did not reach the broker.
    pub(crate) fn count_lost(&self, n: u64) {
        self.counters.lost.fetch_add(n, Ordering::Relaxed);
    }

    /// Forgets a subscriber: its session is gone, or its writes failed.
    fn forget(&self, id: SubId) {
        let mut state = self.state();
        let Some(sub) = state.subs.remove(&id) else {
            return;
        };
        sub.stop();
        let topics: Vec<String> = sub.topics().drain().collect();
        for topic in topics {
            remove_from_topic(&mut state, &topic, id);
        }
    }
}

fn remove_from_topic(state: &mut State, topic: &str, id: SubId) {
    if let Some(subs) = state.topics.get_mut(topic) {
        subs.remove(&id);
        if subs.is_empty() {
            state.topics.remove(topic);
        }
    }
}
