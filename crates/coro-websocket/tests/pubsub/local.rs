//! Topics inside one process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coro_websocket::pubsub::{SlowSubscriber, Topics, TopicsConfig};
use coro_websocket::{Message, Opcode, Reader};

use super::common::{proc_memory, soon};
use super::{join, read_n, room_server, subscribed};

#[tokio::test]
async fn members_get_every_other_members_messages_once_and_in_order() {
    let topics = Topics::default();
    let port = room_server(topics.clone()).await;
    let mut room = Vec::new();
    for _ in 0..3 {
        room.push(join(port, "/rooms/lobby").await);
    }
    let (mut other_read, _other_write) = join(port, "/rooms/other").await;
    subscribed(&topics, "/rooms/lobby", 3).await;
    subscribed(&topics, "/rooms/other", 1).await;
    for (i, (_, write)) in room.iter_mut().enumerate() {
        for n in 0..5 {
            write
                .write(Message::text(format!("{i}:{n}")))
                .await
                .unwrap();
        }
        write.write(Message::binary(vec![i as u8])).await.unwrap();
    }
    for (i, (read, _)) in room.iter_mut().enumerate() {
        // 6 messages from each of the two others, none of its own.
        let got = read_n(read, 12).await;
        for sender in (0..3).filter(|s| *s != i) {
            let from: Vec<&Message> = got
                .iter()
                .filter(|m| match m.opcode {
                    Opcode::Text => m.as_text().unwrap().starts_with(&format!("{sender}:")),
                    _ => m.payload[..] == [sender as u8],
                })
                .collect();
            let texts: Vec<&str> = from.iter().filter_map(|m| m.as_text()).collect();
            let want: Vec<String> = (0..5).map(|n| format!("{sender}:{n}")).collect();
            assert_eq!(texts, want, "member {i}, from {sender}: in order, once");
            assert_eq!(from.len(), 6, "member {i}, from {sender}, binary kept");
        }
    }
    // Nothing crossed into the other topic.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), other_read.read_message())
            .await
            .is_err()
    );
    assert_eq!(topics.stats().published, 18);
    assert_eq!(topics.stats().delivered, 36);
}

#[tokio::test]
async fn publish_reaches_the_publisher_unless_excluded() {
    let topics = Topics::default();
    let port = room_server(topics.clone()).await;
    let (mut read, _write) = join(port, "/t").await;
    subscribed(&topics, "/t", 1).await;
    // From outside any connection (a timer, an HTTP handler): everyone gets it.
    topics.publish("/t", Message::text("server news"));
    assert_eq!(read_n(&mut read, 1).await[0].as_text(), Some("server news"));
}

/// Publishes `messages` of `size` bytes on `topic` at the pace of `healthy` readers (each
/// message goes out once all of them have the one before the last): what a publisher that
/// healthy subscribers keep up with looks like. Returns once every healthy reader has them all.
async fn publish_paced(
    topics: &Topics,
    topic: &str,
    healthy: Vec<Reader>,
    messages: usize,
    size: usize,
) {
    let counts: Vec<Arc<AtomicUsize>> = healthy.iter().map(|_| Arc::default()).collect();
    let readers: Vec<_> = healthy
        .into_iter()
        .zip(counts.clone())
        .map(|(mut read, count)| {
            tokio::spawn(async move {
                for _ in 0..messages {
                    read.read_message().await.unwrap().unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let payload = vec![b'x'; size];
    for k in 0..messages {
        topics.publish(topic, Message::binary(payload.clone()));
        // At most two messages in flight to each healthy reader.
        soon(async {
            while counts.iter().any(|c| c.load(Ordering::Relaxed) + 1 < k) {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
    for r in readers {
        soon(r).await.unwrap();
    }
}

const MESSAGES: usize = 640;

/// A stalled subscriber (its client never reads) among `healthy` others that read everything.
async fn stalled_among(healthy: usize, policy: SlowSubscriber) -> (Topics, Reader) {
    let mut config = TopicsConfig::default();
    config.slow_subscriber = policy;
    let topics = Topics::new(config);
    let port = room_server(topics.clone()).await;
    // (A client's session lives while its reader does: the writers may go.)
    let (stalled_read, _) = join(port, "/feed").await;
    let mut readers = Vec::new();
    for _ in 0..healthy {
        readers.push(join(port, "/feed").await.0);
    }
    subscribed(&topics, "/feed", healthy + 1).await;
    // 640 messages of 16 KiB: 10 MiB, beyond every buffer on the way to the stalled one (the
    // loopback socket buffers alone can hold several MiB).
    publish_paced(&topics, "/feed", readers, MESSAGES, 16 << 10).await;
    (topics, stalled_read)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_skipped_and_counted_while_a_thousand_keep_up() {
    let before = proc_memory("VmRSS");
    let (topics, mut stalled) = stalled_among(1000, SlowSubscriber::Drop).await;
    let stats = topics.stats();
    // Every healthy subscriber got them all (or `stalled_among` would not have returned); the
    // stalled one got what fit in its budget and the buffers, and the rest was dropped.
    let total = MESSAGES as u64;
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(stats.delivered + stats.dropped, total * 1001, "{stats:?}");
    // Reading at last, it finds exactly the messages queued for it, in one piece.
    let for_stalled = total - stats.dropped;
    let got = super::read_n(&mut stalled, for_stalled as usize).await;
    assert!(got.iter().all(|m| m.payload.len() == 16 << 10));
    let more = tokio::time::timeout(Duration::from_millis(100), stalled.read_message()).await;
    assert!(more.is_err(), "more than was queued");
    // The payload is shared: 1,001 subscribers of 6.4 MiB did not cost 6.4 GiB.
    let grown = proc_memory("VmRSS").saturating_sub(before);
    assert!(grown < 512 << 20, "grew by {grown} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_closed_with_1013_under_the_close_policy() {
    let (topics, mut stalled) = stalled_among(10, SlowSubscriber::Close).await;
    let stats = topics.stats();
    assert_eq!((stats.closed, stats.dropped), (1, 0), "{stats:?}");
    // The stalled client, once it reads, finds what was queued before, then the 1013 close.
    let end = soon(async {
        while let Ok(Some(_)) = stalled.read_message().await {}
        stalled.close_frame()
    })
    .await;
    assert_eq!(end.map(|f| f.code.0), Some(1013));
    // Closed, it was unsubscribed (as the healthy ones were when their clients went).
    subscribed(&topics, "/feed", 0).await;
}
