//! Topics in one process and across processes through real Redis and NATS brokers: delivery to
//! every other member exactly once and in order, nothing from other topics, slow subscribers
//! under both policies among many healthy ones, no leak after many connect/subscribe/drop
//! cycles, and a broker that goes away and comes back.

#[path = "../common/mod.rs"]
mod common;

mod brokers;
mod cluster;
mod local;

use coro_websocket::pubsub::Topics;
use coro_websocket::{accept, Message, Reader, ServerOptions, Writer};

use common::listener;

/// A chat server on `topics`: each connection joins the topic named by its request path, and
/// what it sends goes to the other members. Returns its port.
pub async fn room_server(topics: Topics) -> u16 {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                return;
            };
            let topics = topics.clone();
            tokio::spawn(async move {
                let Ok((req, read, write)) = accept(tcp, ServerOptions::default()).await else {
                    return;
                };
                member(topics, req.path, read, write).await;
            });
        }
    });
    addr.port()
}

async fn member(topics: Topics, topic: String, mut read: Reader, write: Writer) {
    topics.subscribe(&write, &topic);
    while let Ok(Some(msg)) = read.read_message().await {
        topics.publish_except(&topic, msg, &write);
    }
}

/// A client of the room `path` on `port`.
pub async fn join(port: u16, path: &str) -> (Reader, Writer) {
    let (_, read, write) = coro_websocket::connect(coro_websocket::Options {
        port: Some(port),
        pathname: path.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    (read, write)
}

/// Waits (by yielding, no clock) until `topics` has `n` subscribers on `topic`.
pub async fn subscribed(topics: &Topics, topic: &str, n: usize) {
    common::soon(async {
        while topics.subscribers(topic) != n {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// Reads `n` data messages.
pub async fn read_n(read: &mut Reader, n: usize) -> Vec<Message> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        got.push(common::soon(read.read_message()).await.unwrap().unwrap());
    }
    got
}
