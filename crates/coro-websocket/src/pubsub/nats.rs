//! The NATS backplane: NATS core pub/sub (`async-nats`), one subject for every topic (the topic
//! travels in the envelope), one connection per node. The client reconnects and resubscribes
//! by itself. Feature `nats`.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::backplane::{Backplane, BackplaneState, EnvelopeSink, Outbox};
use crate::error::Error;

/// The subject every node publishes on and subscribes to, unless told otherwise.
pub const DEFAULT_SUBJECT: &str = "coro-websocket";
/// Envelopes waiting for the client; more are lost (and counted).
const QUEUE: usize = 4096;

/// Topics across processes through NATS core pub/sub.
///
/// ```no_run
/// use coro_websocket::pubsub::{NatsBackplane, Topics};
/// # #[tokio::main] async fn main() -> Result<(), coro_websocket::Error> {
/// let topics = Topics::default();
/// topics.attach(NatsBackplane::connect("nats://127.0.0.1:4222").await?);
/// # Ok(()) }
/// ```
pub struct NatsBackplane {
    client: async_nats::Client,
    subject: String,
    outbox: Outbox,
}

impl std::fmt::Debug for NatsBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBackplane")
            .field("subject", &self.subject)
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

impl NatsBackplane {
    /// Connects to the NATS server at `url` (`nats://HOST:PORT`), on [`DEFAULT_SUBJECT`].
    ///
    /// # Errors
    /// [`Error::Broker`] if the server cannot be reached now.
    pub async fn connect(url: &str) -> Result<Arc<NatsBackplane>, Error> {
        NatsBackplane::connect_on(url, DEFAULT_SUBJECT).await
    }

    /// [`NatsBackplane::connect`] on a subject of one's own.
    ///
    /// # Errors
    /// As [`NatsBackplane::connect`].
    pub async fn connect_on(url: &str, subject: &str) -> Result<Arc<NatsBackplane>, Error> {
        let state = watch::channel(BackplaneState::Connected).0;
        let events = state.clone();
        let client = async_nats::ConnectOptions::new()
            .event_callback(move |event| {
                let events = events.clone();
                async move {
                    match event {
                        async_nats::Event::Disconnected => {
                            tracing::info!("pubsub: lost the NATS broker; reconnecting");
                            events.send_replace(BackplaneState::Reconnecting);
                        }
                        async_nats::Event::Connected => {
                            events.send_replace(BackplaneState::Connected);
                        }
                        _ => {}
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|e| Error::Broker(Box::new(e)))?;
        Ok(Arc::new(NatsBackplane {
            client,
            subject: subject.to_owned(),
            outbox: Outbox::new(QUEUE, state),
        }))
    }
}

impl Backplane for NatsBackplane {
    fn publish(&self, envelope: Bytes) -> bool {
        self.outbox.publish(envelope)
    }

    fn start(&self, sink: EnvelopeSink) {
        let Some(mut rx) = self.outbox.take_queue() else {
            return;
        };
        let (client, subject) = (self.client.clone(), self.subject.clone());
        let publish_sink = sink.clone();
        tokio::spawn(async move {
            while let Some(envelope) = rx.recv().await {
                if client.publish(subject.clone(), envelope).await.is_err() {
                    publish_sink.lost(1);
                }
            }
        });
        let (client, subject) = (self.client.clone(), self.subject.clone());
        tokio::spawn(async move {
            let Ok(mut messages) = client.subscribe(subject).await else {
                tracing::warn!("pubsub: cannot subscribe on the NATS broker");
                return;
            };
            while let Some(message) = messages.next().await {
                if !sink.deliver(&message.payload) {
                    return;
                }
            }
        });
    }

    fn state(&self) -> watch::Receiver<BackplaneState> {
        self.outbox.state.subscribe()
    }
}
