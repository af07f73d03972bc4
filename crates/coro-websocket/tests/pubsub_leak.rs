//! Disconnecting removes every subscription and leaks nothing: 10,000 cycles of a session that
//! subscribes to topics, receives a publication, and goes away, with the process's resident
//! memory flat from the first thousand cycles to the last. Alone in its binary, so that no other
//! test's allocations count.

mod common;

use coro_websocket::pubsub::Topics;
use coro_websocket::{Config, Message};

use common::{client_over_pipe, proc_memory};

async fn cycles(topics: &Topics, n: usize) {
    for i in 0..n {
        // A session (the subscriber) and its raw peer, over a pipe.
        let (mut peer, reader, writer) = client_over_pipe(Config::default(), None);
        topics.subscribe(&writer, "news");
        topics.subscribe(&writer, &format!("user-{}", i % 100));
        topics.publish("news", Message::text("tick"));
        // The publication reaches the session's peer: the subscription worked.
        let frame = peer.next_frame().await.expect("the publication");
        assert_eq!(frame.payload, b"tick");
        drop((reader, writer, peer));
    }
    // The subscriptions of the last session are gone too.
    common::soon(async {
        while topics.subscribers("news") != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn ten_thousand_connect_subscribe_drop_cycles_leak_nothing() {
    let topics = Topics::default();
    cycles(&topics, 1_000).await;
    let warm = proc_memory("VmRSS");
    cycles(&topics, 10_000).await;
    let after = proc_memory("VmRSS");
    for i in 0..100 {
        assert_eq!(topics.subscribers(&format!("user-{i}")), 0);
    }
    assert_eq!(topics.stats().delivered, 11_000);
    let grown = after.saturating_sub(warm);
    eprintln!("resident memory: {warm} B after 1,000 cycles, {after} B after 11,000 (+{grown} B)");
    assert!(grown < 1 << 20, "grew by {grown} B over 10,000 cycles");
}
