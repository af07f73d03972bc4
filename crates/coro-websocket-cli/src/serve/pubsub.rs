//! `serve --pubsub`: instead of echoing, each connection joins the topic named by its request
//! path, and what it sends goes to every other member, here and (with `--redis` or `--nats`)
//! on every `serve` attached to the same broker.

use std::sync::Arc;

use anyhow::{Context, Result};
use coro_websocket::pubsub::{Backplane, BackplaneState, NatsBackplane, RedisBackplane, Topics};
use coro_websocket::{Reader, Writer};

/// The topics of `--pubsub`, attached to the broker of `--redis` or `--nats` if given. A broker
/// that cannot be reached now is an error (the caller prints it and exits 1).
pub async fn topics(redis: Option<&str>, nats: Option<&str>) -> Result<Topics> {
    let topics = Topics::default();
    let attached: Option<(Arc<dyn Backplane>, &str)> = match (redis, nats) {
        (Some(url), _) => Some((
            RedisBackplane::connect(url)
                .await
                .with_context(|| format!("cannot reach the Redis broker at {url}"))?,
            url,
        )),
        (None, Some(url)) => Some((
            NatsBackplane::connect(url)
                .await
                .with_context(|| format!("cannot reach the NATS broker at {url}"))?,
            url,
        )),
        (None, None) => None,
    };
    if let Some((backplane, url)) = attached {
        report_outages(backplane.as_ref(), url.to_owned());
        topics.attach(backplane);
    }
    Ok(topics)
}

/// One stderr line when the broker is lost (local delivery goes on) and one when it is back.
fn report_outages(backplane: &dyn Backplane, url: String) {
    let mut state = backplane.state();
    tokio::spawn(async move {
        let mut lost = false;
        while state.changed().await.is_ok() {
            let now = *state.borrow_and_update();
            match now {
                BackplaneState::Reconnecting if !lost => {
                    lost = true;
                    eprintln!("pubsub: lost the broker at {url}; serving locally, reconnecting");
                }
                BackplaneState::Connected if lost => {
                    lost = false;
                    eprintln!("pubsub: reconnected to the broker at {url}");
                }
                _ => {}
            }
        }
    });
}

/// A member of `topic`: its messages go, with their type, to every other member.
pub async fn member(topics: Topics, topic: String, mut reader: Reader, writer: Writer) {
    topics.subscribe(&writer, &topic);
    loop {
        match reader.read_message().await {
            Ok(Some(message)) => topics.publish_except(&topic, message, &writer),
            Ok(None) => break,
            Err(e) => {
                tracing::debug!("connection ended: {e}");
                break;
            }
        }
    }
}
