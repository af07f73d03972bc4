//! Reconnection against real local servers that drop connections, refuse upgrades, or are not
//! there at all.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use coro_websocket::{
    reconnect::{Backoff, Reconnect},
    CloseCode, Error, Message, Options, Proxy, Rejection, ServerOptions,
};

fn fast() -> Backoff {
    Backoff {
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..Backoff::default()
    }
}

fn options(addr: std::net::SocketAddr) -> Options {
    Options {
        proxy: Proxy::None,
        ..Options::from_url(&format!("ws://{addr}/")).unwrap()
    }
}

/// A server whose connection `i` sends "conn i" and then: 0 and 1 vanish without a close frame,
/// 2 closes with 1011, 3 closes normally with 1000.
async fn dropping_server() -> (std::net::SocketAddr, Arc<AtomicU32>) {
    let (l, addr) = listener().await;
    let count = Arc::new(AtomicU32::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let i = seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut peer, _) = raw_server_handshake(tcp).await;
                peer.send_frame(true, 1, format!("conn {i}").as_bytes())
                    .await;
                match i {
                    0 | 1 => drop(peer),
                    2 => {
                        peer.send_frame(true, 8, &close_payload(1011, b"oops"))
                            .await;
                        peer.expect_close().await;
                    }
                    _ => {
                        peer.send_frame(true, 8, &close_payload(1000, b"bye")).await;
                        peer.expect_close().await;
                    }
                }
            });
        }
    });
    (addr, count)
}

#[tokio::test]
async fn reconnects_after_drops_and_abnormal_closes_until_a_normal_close() {
    let (addr, count) = dropping_server().await;
    let mut connections = Reconnect::new(options(addr), fast());
    let mut got = Vec::new();
    let mut errors = Vec::new();
    while let Some(attempt) = soon(connections.next()).await {
        let (_res, mut read, _write) = attempt.unwrap();
        loop {
            match soon(read.read_message()).await {
                Ok(Some(m)) => got.push(m.as_text().unwrap().to_owned()),
                Ok(None) => break,
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
        }
    }
    assert_eq!(got, ["conn 0", "conn 1", "conn 2", "conn 3"]);
    assert!(errors.iter().all(|e| matches!(e, Error::AbnormalClosure)));
    assert_eq!(errors.len(), 2);
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_normal_close_by_the_client_stops() {
    let addr = echo_server(ServerOptions::default()).await;
    let mut connections = Reconnect::new(options(addr), fast());
    let (_res, mut read, mut write) = connections.next().await.unwrap().unwrap();
    write.write(Message::text("x")).await.unwrap();
    assert_eq!(
        soon(read.read_message()).await.unwrap().unwrap().as_text(),
        Some("x")
    );
    write.close(CloseCode::NORMAL, "done").await.unwrap();
    assert!(soon(read.read_message()).await.unwrap().is_none());
    drop(read);
    assert!(connections.next().await.is_none());
}

#[tokio::test]
async fn a_4xx_refusal_stops_at_once() {
    let hits = Arc::new(AtomicU32::new(0));
    let counted = hits.clone();
    let addr = echo_server(ServerOptions {
        on_request: Some(Arc::new(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Err(Rejection::new(403, "go away"))
        })),
        ..Default::default()
    })
    .await;
    let mut connections = Reconnect::new(options(addr), fast());
    let err = connections.next().await.unwrap().unwrap_err();
    assert_eq!(err.http_status(), Some(403));
    assert!(connections.next().await.is_none());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_5xx_refusal_is_retried() {
    let hits = Arc::new(AtomicU32::new(0));
    let counted = hits.clone();
    let addr = echo_server(ServerOptions {
        on_request: Some(Arc::new(move |_| {
            if counted.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Rejection::new(503, "busy"))
            } else {
                Ok(())
            }
        })),
        ..Default::default()
    })
    .await;
    let mut connections = Reconnect::new(options(addr), fast());
    for _ in 0..2 {
        let err = soon(connections.next()).await.unwrap().unwrap_err();
        assert_eq!(err.http_status(), Some(503));
    }
    assert_eq!(connections.failures(), 2);
    let (_res, mut read, mut write) = soon(connections.next()).await.unwrap().unwrap();
    assert_eq!(connections.failures(), 0);
    write.write(Message::text("finally")).await.unwrap();
    assert_eq!(
        soon(read.read_message()).await.unwrap().unwrap().as_text(),
        Some("finally")
    );
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let (_refusing, addr) = refusing_port();
    let mut connections = Reconnect::new(
        options(addr),
        Backoff {
            max_attempts: Some(3),
            ..fast()
        },
    );
    let mut failures = 0;
    while let Some(attempt) = soon(connections.next()).await {
        assert!(matches!(attempt, Err(Error::Io(_))));
        failures += 1;
    }
    assert_eq!(failures, 3);
}

#[tokio::test]
async fn gives_up_after_max_elapsed() {
    let (_refusing, addr) = refusing_port();
    let mut connections = Reconnect::new(
        options(addr),
        Backoff {
            max_elapsed: Some(Duration::from_millis(100)),
            ..fast()
        },
    );
    let mut failures = 0;
    while let Some(attempt) = soon(connections.next()).await {
        assert!(attempt.is_err());
        failures += 1;
    }
    assert!(failures >= 2, "{failures}");
}
