//! `serve --pubsub` (the CLI contract): topics by request path, other members only, and across
//! three `serve` processes on one real broker (Redis, NATS), including the broker going away and
//! coming back. The brokers are started here on free ports, as the library's tests start them.

#[path = "../../coro-websocket/tests/pubsub/brokers.rs"]
mod brokers;
mod common;

use std::time::Duration;

use brokers::{Broker, Kind};
use common::Server;
use coro_websocket::{Message, Options, Reader, Writer};

async fn join(server: &Server, path: &str) -> (Reader, Writer) {
    let (_, read, write) =
        coro_websocket::connect(Options::from_url(&format!("{}{path}", server.url)).unwrap())
            .await
            .unwrap();
    (read, write)
}

async fn next_text(read: &mut Reader) -> String {
    let msg = tokio::time::timeout(Duration::from_secs(10), read.read_message())
        .await
        .expect("a message in time")
        .unwrap()
        .unwrap();
    msg.as_text().expect("text").to_owned()
}

/// Sends from `clients[0]` until every other client has it: the members are subscribed (and,
/// across processes, the brokers' subscriptions are up). The message is read away.
async fn settle(clients: &mut [(Reader, Writer)]) {
    let (first, others) = clients.split_first_mut().unwrap();
    for (i, (read, _)) in others.iter_mut().enumerate() {
        let probe = format!("probe {i}");
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                first.1.write(Message::text(probe.clone())).await.unwrap();
                let got =
                    tokio::time::timeout(Duration::from_millis(100), read.read_message()).await;
                if let Ok(Ok(Some(m))) = got {
                    break m;
                }
            }
        })
        .await
        .expect("the member never got a message");
        assert!(got.as_text().unwrap().starts_with("probe"));
    }
    // Drain the extra probes the others may have got meanwhile.
    for (read, _) in others.iter_mut() {
        while let Ok(Ok(Some(_))) =
            tokio::time::timeout(Duration::from_millis(200), read.read_message()).await
        {}
    }
}

#[tokio::test]
async fn members_get_the_others_messages_with_their_type_and_not_their_own() {
    let server = Server::start(&["--pubsub", "--listen", "127.0.0.1:0"]);
    let mut room = vec![
        join(&server, "/rooms/lobby").await,
        join(&server, "/rooms/lobby").await,
    ];
    let (mut elsewhere, _e) = join(&server, "/rooms/other").await;
    settle(&mut room).await;
    room[0]
        .1
        .write(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    room[1].1.write(Message::text("from b")).await.unwrap();
    let b_got = tokio::time::timeout(Duration::from_secs(5), room[1].0.read_message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(b_got, Message::binary(vec![1, 2, 3]), "binary stays binary");
    assert_eq!(next_text(&mut room[0].0).await, "from b");
    let quiet = tokio::time::timeout(Duration::from_millis(200), elsewhere.read_message()).await;
    assert!(quiet.is_err(), "another room got it");
}

fn three_nodes(flag: &str, url: &str) -> Vec<Server> {
    (0..3)
        .map(|_| Server::start(&["--pubsub", flag, url, "--listen", "127.0.0.1:0"]))
        .collect()
}

async fn across_three_processes(kind: Kind, flag: &str) {
    let broker = Broker::start(kind);
    let nodes = three_nodes(flag, &broker.url());
    let mut clients = Vec::new();
    for i in 0..6 {
        clients.push(join(&nodes[i % 3], "/chat").await);
    }
    let (mut elsewhere, _e) = join(&nodes[1], "/elsewhere").await;
    settle(&mut clients).await;
    for (i, (_, write)) in clients.iter_mut().enumerate() {
        for n in 0..10 {
            write
                .write(Message::text(format!("{i}:{n}")))
                .await
                .unwrap();
        }
    }
    for (i, (read, _)) in clients.iter_mut().enumerate() {
        let mut got = Vec::new();
        for _ in 0..50 {
            got.push(next_text(read).await);
        }
        for sender in (0..6).filter(|s| *s != i) {
            let from: Vec<&String> = got
                .iter()
                .filter(|t| t.starts_with(&format!("{sender}:")))
                .collect();
            let want: Vec<String> = (0..10).map(|n| format!("{sender}:{n}")).collect();
            assert_eq!(
                from,
                want.iter().collect::<Vec<_>>(),
                "client {i} from {sender}"
            );
        }
    }
    let quiet = tokio::time::timeout(Duration::from_millis(200), elsewhere.read_message()).await;
    assert!(quiet.is_err(), "a message crossed into another topic");
}

#[tokio::test]
async fn three_serve_processes_on_redis_deliver_once_in_order() {
    across_three_processes(Kind::Redis, "--redis").await;
}

#[tokio::test]
async fn three_serve_processes_on_nats_deliver_once_in_order() {
    across_three_processes(Kind::Nats, "--nats").await;
}

async fn outage(kind: Kind, flag: &str) {
    let mut broker = Broker::start(kind);
    let mut nodes = three_nodes(flag, &broker.url());
    let mut here = vec![join(&nodes[0], "/r").await, join(&nodes[0], "/r").await];
    let mut there = vec![here.remove(0), join(&nodes[1], "/r").await];
    settle(&mut there).await;
    here.insert(0, there.remove(0));
    settle(&mut here).await;

    broker.kill();
    nodes[0].wait_for_stderr("lost the broker");
    // The node keeps delivering locally.
    here[0]
        .1
        .write(Message::text("local while away"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut here[1].0).await, "local while away");

    broker.restart();
    nodes[0].wait_for_stderr("reconnected to the broker");
    nodes[1].wait_for_stderr("reconnected to the broker");
    // Across nodes again, by itself.
    there.insert(0, here.remove(0));
    settle(&mut there).await;
}

#[tokio::test]
async fn redis_lost_and_back_mid_run() {
    outage(Kind::Redis, "--redis").await;
}

#[tokio::test]
async fn nats_lost_and_back_mid_run() {
    outage(Kind::Nats, "--nats").await;
}

#[test]
fn an_unreachable_broker_at_start_is_one_line_and_exit_1() {
    let (_held, addr) = common::refusing_port();
    for flag in ["--redis", "--nats"] {
        let scheme = &flag[2..];
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coro-websocket"))
            .args([
                "serve",
                "--pubsub",
                flag,
                &format!("{scheme}://{addr}"),
                "--listen",
                "127.0.0.1:0",
            ])
            .output()
            .unwrap();
        let (code, stdout, stderr) = common::outcome(out);
        assert_eq!(code, 1, "{flag}: {stderr}");
        assert!(stdout.is_empty(), "{flag}: started anyway: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{flag}: {stderr}");
        assert!(stderr.contains("cannot reach the"), "{flag}: {stderr}");
    }
}
