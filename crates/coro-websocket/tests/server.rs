//! The server side: `accept()` with `ServerOptions`, its HTTP answers to bad upgrade requests,
//! the `on_request` hook and the handshake timeout, over real sockets; the timeout and heartbeat
//! tests run on tokio's paused clock over in-memory pipes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use coro_websocket::handshake::HandshakeError;
use coro_websocket::{
    connect, error::TimeoutKind, CloseCode, Config, Error, Heartbeat, Message, Options, Rejection,
    ServerOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Sends `request` to a fresh `accept()` server; returns the raw HTTP answer (read to EOF) and
/// what `accept()` returned.
async fn answer_to(request: Vec<u8>) -> (String, Error) {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading everything; later writes may then fail.
    let _ = tcp.write_all(&request).await;
    let mut answer = Vec::new();
    // Read to EOF; a reset after the answer still leaves what was read.
    let _ = soon(tcp.read_to_end(&mut answer)).await;
    let err = match soon(accepted).await.unwrap() {
        Ok(_) => panic!("the server accepted a bad request"),
        Err(e) => e,
    };
    (String::from_utf8_lossy(&answer).into_owned(), err)
}

fn status_of(answer: &str) -> Option<u16> {
    answer.split(' ').nth(1)?.parse().ok()
}

/// A bad request: its name, its bytes, the status it must get and the error `accept()` reports.
type BadRequest = (&'static str, String, u16, fn(&HandshakeError) -> bool);

#[tokio::test]
async fn bad_requests_get_the_right_http_status() {
    let good = upgrade_request("/", "");
    let big = format!("X-Big: {}\r\n", "a".repeat(20 << 10));
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<BadRequest> = vec![
        (
            "missing Sec-WebSocket-Key",
            good.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            400,
            |e| matches!(e, HandshakeError::InvalidKey),
        ),
        (
            "Sec-WebSocket-Version: 8",
            good.replace("Version: 13", "Version: 8"),
            426,
            |e| matches!(e, HandshakeError::UnsupportedVersion(v) if v == "8"),
        ),
        (
            "POST",
            good.replacen("GET", "POST", 1),
            405,
            |e| matches!(e, HandshakeError::MethodNotGet(m) if m == "POST"),
        ),
        (
            "missing Upgrade",
            good.replace("Upgrade: websocket\r\n", ""),
            426,
            |e| matches!(e, HandshakeError::MissingUpgrade),
        ),
        (
            "missing Connection: Upgrade",
            good.replace("Connection: Upgrade\r\n", ""),
            400,
            |e| matches!(e, HandshakeError::MissingConnectionUpgrade),
        ),
        ("20 KiB header", upgrade_request("/", &big), 431, |e| {
            matches!(e, HandshakeError::HeadTooLarge(16384))
        }),
        ("150 headers", upgrade_request("/", &many), 431, |e| {
            matches!(e, HandshakeError::TooManyHeaders(100))
        }),
    ];
    let mut failures = Vec::new();
    for (name, request, status, is_expected) in cases {
        let (answer, err) = answer_to(request.into_bytes()).await;
        if status_of(&answer) != Some(status) {
            failures.push(format!("{name}: answered {answer:?}, expected {status}"));
        }
        match &err {
            Error::Handshake(e) if is_expected(e) && e.status() == status => {}
            other => failures.push(format!("{name}: accept() returned {other:?}")),
        }
        if status == 426 && !answer.contains("Sec-WebSocket-Version: 13\r\n") {
            failures.push(format!("{name}: 426 without Sec-WebSocket-Version: 13"));
        }
        if status == 405 && head_header(&answer, "allow") != Some("GET") {
            failures.push(format!("{name}: 405 without Allow: GET"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn on_request_hook_refusal_reaches_the_client_with_status_and_body() {
    let (addr, accepted) = accept_one(ServerOptions {
        on_request: Some(Arc::new(|req| {
            if req.headers.get("authorization").is_some() {
                Ok(())
            } else {
                let mut r = Rejection::new(403, "no token, no socket");
                r.headers.push("X-Why", "unauthorised");
                Err(r)
            }
        })),
        ..Default::default()
    })
    .await;
    let err = connect(Options {
        host: Some("127.0.0.1".into()),
        port: Some(addr.port()),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(err.http_status(), Some(403));
    let Error::Handshake(HandshakeError::Rejected(r)) = err else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(r.status, 403);
    assert_eq!(r.reason, "Forbidden");
    assert_eq!(&r.body[..], b"no token, no socket");
    assert_eq!(r.headers.get("x-why"), Some("unauthorised"));
    let server_err = soon(accepted).await.unwrap().unwrap_err();
    assert!(
        matches!(&server_err, Error::Handshake(HandshakeError::Rejected(r)) if r.status == 403 && r.headers.get("x-why") == Some("unauthorised")),
        "{server_err:?}"
    );
}

#[tokio::test]
async fn on_request_hook_accepting_sees_the_request() {
    let (addr, accepted) = accept_one(ServerOptions {
        on_request: Some(Arc::new(|req| {
            if req.headers.get("authorization") == Some("Bearer t0k3n") {
                Ok(())
            } else {
                Err(Rejection::new(401, "login first"))
            }
        })),
        ..Default::default()
    })
    .await;
    let (res, _read, _write) = connect(Options {
        host: Some("127.0.0.1".into()),
        port: Some(addr.port()),
        headers: [("Authorization", "Bearer t0k3n")].into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(res.code, 101);
    let (req, _, _) = soon(accepted).await.unwrap().unwrap();
    assert_eq!(req.headers.get("Authorization"), Some("Bearer t0k3n"));
}

#[tokio::test(start_paused = true)]
async fn handshake_timeout_drops_a_silent_client() {
    let mut config = Config::default();
    config.handshake_timeout = Duration::from_millis(300);
    // A client that connects and never sends its request.
    let (ours, mut client) = tokio::io::duplex(PIPE_BUFFER);
    let started = Instant::now();
    let accepted = tokio::spawn(coro_websocket::accept(
        ours,
        ServerOptions {
            config,
            ..Default::default()
        },
    ));
    let err = soon(accepted).await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutKind::Handshake, d) if d == Duration::from_millis(300)),
        "{err:?}"
    );
    // On the paused clock, the timeout fires when due, not a moment sooner or later.
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    // The connection is dropped: the client reads EOF, not an answer.
    let mut rest = Vec::new();
    let _ = soon(client.read_to_end(&mut rest)).await;
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[tokio::test]
async fn server_response_carries_configured_headers_and_subprotocol() {
    let (addr, accepted) = accept_one(ServerOptions {
        subprotocols: vec!["v2.chat".into(), "v1.chat".into()],
        headers: [("X-Server", "coro"), ("Set-Cookie", "a=1")].into(),
        ..Default::default()
    })
    .await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = upgrade_request(
        "/room/7?x=y",
        "Sec-WebSocket-Protocol: v0, v1.chat, v2.chat\r\n",
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut peer = RawPeer {
        tcp,
        buf: Vec::new(),
        client: true,
    };
    let head = peer.read_head().await;
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    // The client's first preference that the server speaks.
    assert_eq!(
        head_header(&head, "sec-websocket-protocol"),
        Some("v1.chat")
    );
    let x = head.find("X-Server: coro").unwrap();
    let c = head.find("Set-Cookie: a=1").unwrap();
    assert!(x < c, "headers keep their order");
    let (req, _r, _w) = soon(accepted).await.unwrap().unwrap();
    assert_eq!(req.path, "/room/7?x=y");
    assert_eq!(req.subprotocol.as_deref(), Some("v1.chat"));
    assert_eq!(req.offered_subprotocols(), ["v0", "v1.chat", "v2.chat"]);
}

#[tokio::test]
async fn frames_sent_right_after_the_request_are_not_lost() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut bytes = upgrade_request("/", "").into_bytes();
    bytes.extend(frame(true, 0, 1, Some(KEY), b"early bird"));
    tcp.write_all(&bytes).await.unwrap();
    let (_req, mut read, _w) = soon(accepted).await.unwrap().unwrap();
    let msg = soon(read.read()).await.unwrap().unwrap();
    assert_eq!(msg.as_text(), Some("early bird"));
}

// Regression: a server (which has no OS socket handle) whose heartbeat found the peer dead ended
// its reader but kept TCP open for as long as the application held the writer.
#[tokio::test(start_paused = true)]
async fn server_heartbeat_drops_tcp_to_a_dead_client_while_the_writer_is_held() {
    // A client that completes the handshake and then never answers.
    let (mut peer, mut read, _write) = server_over_pipe(ServerOptions {
        heartbeat: Some(Heartbeat::ping(
            Duration::from_millis(100),
            Duration::from_millis(200),
        )),
        ..Default::default()
    })
    .await;
    let err = soon(read.read()).await.unwrap_err();
    assert!(
        matches!(err, Error::PeerNotResponding(d) if d == Duration::from_millis(200)),
        "{err:?}"
    );
    // The client saw the pings, then the end of the connection.
    let first = peer.next_frame().await.unwrap();
    assert_eq!(first.opcode, 9);
    while let Some(f) = peer.next_frame().await {
        assert_eq!(f.opcode, 9, "only pings before EOF");
    }
}

#[tokio::test]
async fn server_writer_close_reaches_our_client() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let (_res, mut read, mut write) = connect(Options {
        host: Some("127.0.0.1".into()),
        port: Some(addr.port()),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_req, mut sread, mut swrite) = soon(accepted).await.unwrap().unwrap();
    // The server's reader must run for it to see the echo and close TCP.
    let server_side = tokio::spawn(async move {
        let end = sread.read_message().await;
        (end.map(|m| m.is_none()), sread.closed().received)
    });
    swrite.write(Message::text("hi")).await.unwrap();
    swrite
        .close(CloseCode::GOING_AWAY, "restart")
        .await
        .unwrap();
    assert_eq!(
        soon(read.read_message()).await.unwrap().unwrap().as_text(),
        Some("hi")
    );
    assert!(soon(read.read_message()).await.unwrap().is_none());
    let got = read.close_frame().unwrap();
    assert_eq!(
        (got.code, got.reason.as_str()),
        (CloseCode::GOING_AWAY, "restart")
    );
    // The client echoed; the server saw the echo and ended cleanly.
    let (ended, received) = soon(server_side).await.unwrap();
    assert!(ended.unwrap());
    assert_eq!(
        received,
        Some(coro_websocket::CloseFrame {
            code: CloseCode::GOING_AWAY,
            reason: String::new()
        })
    );
    assert!(matches!(
        write.write(Message::text("late")).await,
        Err(Error::ConnectionClosed(_))
    ));
}

// A dead client (it stopped reading, so its receive window is full) must not leave the server's
// writer blocked forever once the heartbeat has given up on it.
#[tokio::test(start_paused = true)]
async fn server_heartbeat_unblocks_a_writer_stuck_on_a_dead_client() {
    // A client that completes the handshake and then neither reads nor answers.
    let (_peer, mut read, mut write) = server_over_pipe(ServerOptions {
        heartbeat: Some(Heartbeat::ping(
            Duration::from_millis(100),
            Duration::from_millis(200),
        )),
        ..Default::default()
    })
    .await;
    let reader = tokio::spawn(async move { read.read().await });
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        let chunk = vec![0u8; 1 << 20];
        loop {
            if let Err(e) = write.write(Message::binary(chunk.clone())).await {
                return e;
            }
        }
    });
    let err = soon(writer).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(300), "{err:?}");
    assert!(matches!(err, Error::PeerNotResponding(_)), "{err:?}");
    let read_err = soon(reader).await.unwrap().unwrap_err();
    assert!(
        matches!(read_err, Error::PeerNotResponding(_)),
        "{read_err:?}"
    );
}
