//! The client side of the opening handshake against hand-written server answers: what `connect()`
//! accepts, what it refuses, and what it sends.

mod common;

use std::net::SocketAddr;

use common::*;
use coro_websocket::handshake::{accept_key, HandshakeError, RequestError};
use coro_websocket::{connect, Error, Options};
use tokio::io::AsyncWriteExt;

/// A server that reads one request and writes `answer(key)`, then (with `close`) closes TCP.
/// It reports the request head it read.
async fn answering(
    answer: fn(&str) -> Vec<u8>,
    close: bool,
) -> (SocketAddr, tokio::sync::oneshot::Receiver<String>) {
    let (l, addr) = listener().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let (mut peer, head, key) = read_upgrade_request(tcp).await;
        peer.tcp.write_all(&answer(&key)).await.unwrap();
        let _ = tx.send(head);
        if close {
            let _ = peer.tcp.shutdown().await;
        } else {
            // Keep the connection open until the client goes away.
            let _ = peer.next_frame().await;
        }
    });
    (addr, rx)
}

fn options(addr: SocketAddr) -> Options {
    Options {
        host: Some("127.0.0.1".into()),
        port: Some(addr.port()),
        ..Default::default()
    }
}

fn ok_101(key: &str) -> Vec<u8> {
    ok_101_with(key, "")
}

/// A valid 101 answer with extra header lines (each ending in CRLF).
fn ok_101_with(key: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_key(key)
    )
    .into_bytes()
}

#[tokio::test]
async fn request_has_the_rfc_headers() {
    let (addr, head) = answering(ok_101, false).await;
    let (_res, _read, _write) = connect(Options {
        pathname: "/p?q=1".into(),
        ..options(addr)
    })
    .await
    .unwrap();
    let head = soon(head).await.unwrap();
    assert!(head.starts_with("GET /p?q=1 HTTP/1.1\r\n"), "{head}");
    assert_eq!(
        head_header(&head, "host"),
        Some(format!("127.0.0.1:{}", addr.port()).as_str())
    );
    assert_eq!(head_header(&head, "upgrade"), Some("websocket"));
    assert_eq!(head_header(&head, "connection"), Some("Upgrade"));
    assert_eq!(head_header(&head, "sec-websocket-version"), Some("13"));
    let key = head_header(&head, "sec-websocket-key").unwrap();
    assert_eq!(key.len(), 24, "16 random bytes in base64");
}

#[tokio::test]
async fn each_connection_uses_a_fresh_key() {
    let (a, ha) = answering(ok_101, false).await;
    let (b, hb) = answering(ok_101, false).await;
    let _one = connect(options(a)).await.unwrap();
    let _two = connect(options(b)).await.unwrap();
    let (ha, hb) = (soon(ha).await.unwrap(), soon(hb).await.unwrap());
    assert_ne!(
        head_header(&ha, "sec-websocket-key"),
        head_header(&hb, "sec-websocket-key")
    );
}

#[tokio::test]
async fn caller_host_header_replaces_the_default() {
    let (addr, head) = answering(ok_101, false).await;
    let (_res, _read, _write) = connect(Options {
        headers: [("Host", "virtual.example")].into(),
        ..options(addr)
    })
    .await
    .unwrap();
    let head = soon(head).await.unwrap();
    let hosts: Vec<&str> = head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("host:"))
        .collect();
    assert_eq!(hosts, ["Host: virtual.example"]);
}

#[tokio::test]
async fn handshake_headers_cannot_be_overridden() {
    let (addr, _head) = answering(ok_101, false).await;
    let err = connect(Options {
        headers: [("Sec-WebSocket-Key", "x")].into(),
        ..options(addr)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Request(RequestError::ReservedHeader(h)) if h == "Sec-WebSocket-Key"),
        "{err:?}"
    );
    // The caller's mistake, not the server's.
    assert!(err.is_misuse() && !err.is_peer_fault());
}

#[tokio::test]
async fn wrong_accept_key_is_refused() {
    let (addr, _) = answering(|_| ok_101("dGhlIHNhbXBsZSBub25jZQ=="), false).await;
    let err = connect(options(addr)).await.unwrap_err();
    assert!(
        matches!(err, Error::Handshake(HandshakeError::InvalidAccept)),
        "{err:?}"
    );
}

#[tokio::test]
async fn unrequested_subprotocol_is_refused() {
    let (addr, _) = answering(
        |key| ok_101_with(key, "Sec-WebSocket-Protocol: sneaky\r\n"),
        false,
    )
    .await;
    let err = connect(Options {
        subprotocol: Some("chat".into()),
        ..options(addr)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Handshake(HandshakeError::UnexpectedSubprotocol(p)) if p == "sneaky"),
        "{err:?}"
    );
}

#[tokio::test]
async fn unrequested_extension_is_refused() {
    let (addr, _) = answering(
        |key| ok_101_with(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        false,
    )
    .await;
    let err = connect(options(addr)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Handshake(HandshakeError::UnexpectedExtension(_))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn refusal_without_content_length_reads_the_body_to_eof() {
    let (addr, _) = answering(
        |_| b"HTTP/1.1 404 Not Found\r\nX-Trace: 7\r\n\r\nno such socket".to_vec(),
        true,
    )
    .await;
    let err = connect(options(addr)).await.unwrap_err();
    assert_eq!(err.http_status(), Some(404));
    let Error::Handshake(HandshakeError::Rejected(r)) = err else {
        panic!("{err:?}");
    };
    assert_eq!(
        (r.reason.as_str(), &r.body[..]),
        ("Not Found", &b"no such socket"[..])
    );
    assert_eq!(r.headers.get("x-trace"), Some("7"));
}

#[tokio::test]
async fn refusal_body_stops_at_content_length() {
    let (addr, _) = answering(
        |_| b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nlogin and more".to_vec(),
        false,
    )
    .await;
    let err = connect(options(addr)).await.unwrap_err();
    let Error::Handshake(HandshakeError::Rejected(r)) = err else {
        panic!("{err:?}");
    };
    assert_eq!((r.status, &r.body[..]), (401, &b"login"[..]));
}

#[tokio::test]
async fn server_closing_during_the_handshake_is_incomplete() {
    let (addr, _) = answering(|_| b"HTTP/1.1 101 Switching".to_vec(), true).await;
    let err = connect(options(addr)).await.unwrap_err();
    assert!(
        matches!(err, Error::Handshake(HandshakeError::Incomplete)),
        "{err:?}"
    );
}

#[tokio::test]
async fn frames_sent_with_the_101_are_read() {
    let (addr, _) = answering(
        |key| {
            // The 101 and a first frame in one write.
            [ok_101(key), frame(true, 0, 1, None, b"welcome")].concat()
        },
        false,
    )
    .await;
    let (_res, mut read, _write) = connect(options(addr)).await.unwrap();
    let got = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(got.as_text(), Some("welcome"));
}

#[tokio::test]
async fn connection_refused_is_an_io_error() {
    let (_refusing, addr) = refusing_port();
    let err = connect(options(addr)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
}

#[tokio::test]
async fn ipv6_loopback() {
    let Ok(l) = tokio::net::TcpListener::bind("[::1]:0").await else {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    };
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let _ = tx.send(
            coro_websocket::accept(tcp, Default::default())
                .await
                .map(|(req, _, _)| req),
        );
    });
    let url = format!("ws://[::1]:{}/six", addr.port());
    let (res, _read, _write) = connect(Options::from_url(&url).unwrap()).await.unwrap();
    assert_eq!(res.socket.peer_addr(), Some(addr));
    let req = soon(rx).await.unwrap().unwrap();
    assert_eq!(
        req.headers.get("host"),
        Some(format!("[::1]:{}", addr.port()).as_str())
    );
    assert_eq!(req.path, "/six");
}
