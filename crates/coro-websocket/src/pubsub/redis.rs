//! The Redis backplane: Redis pub/sub (the `redis` crate on tokio), one channel for every topic
//! (the topic travels in the envelope), two connections per node (Redis needs a connection of
//! its own for subscribing). Feature `redis`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::backplane::{Backplane, BackplaneState, EnvelopeSink, Outbox};
use crate::error::Error;

/// The channel every node publishes on and subscribes to, unless told otherwise.
pub const DEFAULT_CHANNEL: &str = "coro-websocket";
/// Envelopes waiting for the broker; more are lost (and counted).
const QUEUE: usize = 4096;
/// The most envelopes published in one pipeline (one round trip).
const PIPELINE: usize = 256;
/// Waits between reconnection attempts: doubling from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// Topics across processes through Redis pub/sub.
///
/// ```no_run
/// use coro_websocket::pubsub::{RedisBackplane, Topics};
/// # #[tokio::main] async fn main() -> Result<(), coro_websocket::Error> {
/// let topics = Topics::default();
/// topics.attach(RedisBackplane::connect("redis://127.0.0.1:6379").await?);
/// # Ok(()) }
/// ```
pub struct RedisBackplane {
    client: redis::Client,
    channel: String,
    outbox: Outbox,
    /// The publishing connection, made by `connect` (so that an unreachable broker fails it)
    /// and taken by `start`.
    connection: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("channel", &self.channel)
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

impl RedisBackplane {
    /// Connects to the Redis server at `url` (`redis://HOST:PORT`), on [`DEFAULT_CHANNEL`].
    ///
    /// # Errors
    /// [`Error::Broker`] if the URL is invalid or the server cannot be reached now.
    pub async fn connect(url: &str) -> Result<Arc<RedisBackplane>, Error> {
        RedisBackplane::connect_on(url, DEFAULT_CHANNEL).await
    }

    /// [`RedisBackplane::connect`] on a channel of one's own (to keep apart several
    /// applications sharing a Redis server).
    ///
    /// # Errors
    /// As [`RedisBackplane::connect`].
    pub async fn connect_on(url: &str, channel: &str) -> Result<Arc<RedisBackplane>, Error> {
        let broker = |e: redis::RedisError| Error::Broker(Box::new(e));
        let client = redis::Client::open(url).map_err(broker)?;
        let connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(broker)?;
        Ok(Arc::new(RedisBackplane {
            client,
            channel: channel.to_owned(),
            outbox: Outbox::new(QUEUE, watch::channel(BackplaneState::Connected).0),
            connection: Mutex::new(Some(connection)),
        }))
    }
}

impl Backplane for RedisBackplane {
    fn publish(&self, envelope: Bytes) -> bool {
        self.outbox.publish(envelope)
    }

    fn start(&self, sink: EnvelopeSink) {
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let (Some(rx), Some(connection)) = (self.outbox.take_queue(), connection) else {
            return;
        };
        let (client, channel, state) = (
            self.client.clone(),
            self.channel.clone(),
            self.outbox.state.clone(),
        );
        tokio::spawn(publisher(
            rx,
            connection,
            client.clone(),
            channel.clone(),
            sink.clone(),
        ));
        tokio::spawn(subscriber(client, channel, state, sink));
    }

    fn state(&self) -> watch::Receiver<BackplaneState> {
        self.outbox.state.subscribe()
    }
}

/// Publishes envelopes in order on one connection; after a failure, reconnects, counting as
/// lost what could not be published meanwhile.
async fn publisher(
    mut rx: mpsc::Receiver<Bytes>,
    mut connection: redis::aio::MultiplexedConnection,
    client: redis::Client,
    channel: String,
    sink: EnvelopeSink,
) {
    while let Some(first) = rx.recv().await {
        // Everything queued goes in one pipeline: one round trip to Redis, not one per message.
        let mut batch = vec![first];
        while batch.len() < PIPELINE {
            match rx.try_recv() {
                Ok(envelope) => batch.push(envelope),
                Err(_) => break,
            }
        }
        let mut pipe = redis::pipe();
        for envelope in &batch {
            pipe.cmd("PUBLISH")
                .arg(&channel)
                .arg(envelope.as_ref())
                .ignore();
        }
        let sent: redis::RedisResult<()> = pipe.query_async(&mut connection).await;
        if sent.is_ok() {
            continue;
        }
        sink.lost(batch.len() as u64);
        let mut wait = BACKOFF.0;
        connection = loop {
            // What queued up while the broker was away is lost to the other nodes.
            let mut dropped = 0;
            while rx.try_recv().is_ok() {
                dropped += 1;
            }
            sink.lost(dropped);
            if sink.is_closed() {
                return;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(BACKOFF.1);
            if let Ok(c) = client.get_multiplexed_async_connection().await {
                break c;
            }
        };
    }
}

/// Subscribes to the channel and delivers what arrives; when the connection drops, reports the
/// broker lost and resubscribes with backoff.
async fn subscriber(
    client: redis::Client,
    channel: String,
    state: watch::Sender<BackplaneState>,
    sink: EnvelopeSink,
) {
    let mut wait = BACKOFF.0;
    loop {
        if let Ok(mut pubsub) = client.get_async_pubsub().await {
            if pubsub.subscribe(&channel).await.is_ok() {
                wait = BACKOFF.0;
                state.send_replace(BackplaneState::Connected);
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    if !sink.deliver(message.get_payload_bytes()) {
                        return;
                    }
                }
            }
        }
        if sink.is_closed() {
            return;
        }
        if *state.borrow() == BackplaneState::Connected {
            tracing::info!("pubsub: lost the Redis broker; reconnecting");
        }
        state.send_replace(BackplaneState::Reconnecting);
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(BACKOFF.1);
    }
}
