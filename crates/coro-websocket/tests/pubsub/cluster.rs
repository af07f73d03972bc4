//! Three nodes (each a `Topics` with its own chat server and its own broker connection) on one
//! real broker: every client gets every other client's messages of its topic exactly once, in
//! per-sender order, and nothing from other topics; a broker killed and restarted mid-run.

use std::sync::Arc;

use coro_websocket::pubsub::{Backplane, BackplaneState, NatsBackplane, RedisBackplane, Topics};
use coro_websocket::Message;

use super::brokers::{Broker, Kind};
use super::{join, read_n, room_server, subscribed};

async fn backplane(kind: Kind, url: &str) -> Arc<dyn Backplane> {
    match kind {
        Kind::Redis => RedisBackplane::connect(url).await.unwrap(),
        Kind::Nats => NatsBackplane::connect(url).await.unwrap(),
    }
}

/// Three nodes attached to the broker; returns their topics, ports and backplanes.
async fn nodes(kind: Kind, url: &str) -> Vec<(Topics, u16, Arc<dyn Backplane>)> {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let topics = Topics::default();
        let plane = backplane(kind, url).await;
        assert!(topics.attach(plane.clone()));
        let port = room_server(topics.clone()).await;
        nodes.push((topics, port, plane));
    }
    nodes
}

async fn everyone_gets_everything_once(kind: Kind) {
    let broker = Broker::start(kind);
    let nodes = nodes(kind, &broker.url()).await;
    // Six clients of /chat, two per node, and one of /elsewhere.
    let mut clients = Vec::new();
    for i in 0..6 {
        clients.push(join(nodes[i % 3].1, "/chat").await);
    }
    let (mut elsewhere, _e) = join(nodes[0].1, "/elsewhere").await;
    for (topics, _, _) in &nodes {
        subscribed(topics, "/chat", 2).await;
    }
    // The brokers' subscriptions are up once a message goes round: wait for one.
    settle(&nodes, &mut clients).await;
    for (i, (_, write)) in clients.iter_mut().enumerate() {
        for n in 0..20 {
            write
                .write(Message::text(format!("{i}:{n}")))
                .await
                .unwrap();
        }
    }
    for (i, (read, _)) in clients.iter_mut().enumerate() {
        let got = read_n(read, 5 * 20).await;
        for sender in (0..6).filter(|s| *s != i) {
            let from: Vec<&str> = got
                .iter()
                .filter_map(|m| m.as_text())
                .filter(|t| t.starts_with(&format!("{sender}:")))
                .collect();
            let want: Vec<String> = (0..20).map(|n| format!("{sender}:{n}")).collect();
            assert_eq!(from, want, "client {i} from {sender}: once each, in order");
        }
    }
    let quiet = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        elsewhere.read_message(),
    );
    assert!(quiet.await.is_err(), "a message crossed into another topic");
}

/// Sends one message from client 0 until every other client has received it: the broker's
/// subscriptions are then in place. The message is read away.
async fn settle(
    nodes: &[(Topics, u16, Arc<dyn Backplane>)],
    clients: &mut [(coro_websocket::Reader, coro_websocket::Writer)],
) {
    for (_, _, plane) in nodes {
        let mut state = plane.state();
        super::common::soon(state.wait_for(|s| *s == BackplaneState::Connected))
            .await
            .unwrap();
    }
    clients[0].1.write(Message::text("hello")).await.unwrap();
    for (read, _) in clients.iter_mut().skip(1) {
        let got = read_n(read, 1).await;
        assert_eq!(got[0].as_text(), Some("hello"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_three_nodes_deliver_once_in_order() {
    everyone_gets_everything_once(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_three_nodes_deliver_once_in_order() {
    everyone_gets_everything_once(Kind::Nats).await;
}

async fn broker_goes_away_and_comes_back(kind: Kind) {
    let mut broker = Broker::start(kind);
    let nodes = nodes(kind, &broker.url()).await;
    let mut a = join(nodes[0].1, "/r").await; // node 0
    let mut b = join(nodes[0].1, "/r").await; // node 0 too
    let mut c = join(nodes[1].1, "/r").await; // node 1
    subscribed(&nodes[0].0, "/r", 2).await;
    subscribed(&nodes[1].0, "/r", 1).await;
    let mut clients = [a, b, c];
    settle(&nodes, &mut clients).await;
    [a, b, c] = clients;

    broker.kill();
    let mut state = nodes[0].2.state();
    super::common::soon(state.wait_for(|s| *s == BackplaneState::Reconnecting))
        .await
        .unwrap();
    // Local delivery goes on without the broker.
    a.1.write(Message::text("while away")).await.unwrap();
    assert_eq!(read_n(&mut b.0, 1).await[0].as_text(), Some("while away"));
    assert!(nodes[0].0.stats().lost >= 1, "the lost message is counted");

    broker.restart();
    for (_, _, plane) in &nodes {
        let mut state = plane.state();
        super::common::soon(state.wait_for(|s| *s == BackplaneState::Connected))
            .await
            .unwrap();
    }
    // Delivery across nodes resumes by itself (the first messages may still race the
    // resubscription: send until one arrives).
    let resumed = super::common::soon(async {
        loop {
            a.1.write(Message::text("back")).await.unwrap();
            let got =
                tokio::time::timeout(std::time::Duration::from_millis(200), c.0.read_message())
                    .await;
            if let Ok(Ok(Some(m))) = got {
                break m;
            }
        }
    })
    .await;
    assert_eq!(resumed.as_text(), Some("back"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_keeps_local_delivery_and_recovers() {
    broker_goes_away_and_comes_back(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_outage_keeps_local_delivery_and_recovers() {
    broker_goes_away_and_comes_back(Kind::Nats).await;
}
