//! Hostile peers over real sockets: slowloris clients, absurd frame lengths, frames trickled one
//! byte at a time or flooded in one write, peers that vanish mid-frame, and servers that break
//! the handshake or the protocol in ways `tests/client_handshake.rs` and `tests/rfc6455.rs` do
//! not already cover.
//!
//! Every wait is bounded (see [`PATIENCE`]); bounds are several times the configured timeouts so
//! that a loaded machine does not make them flaky, and nothing asserts a speed.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use coro_websocket::handshake::{accept_key, HandshakeError};
use coro_websocket::{
    connect,
    error::{ProtocolError, TimeoutKind},
    Config, Error, Message, Options, ServerOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------------
// Hostile clients against our server
// ---------------------------------------------------------------------------------------------

/// Connections that trickle an upgrade request one byte at a time, reconnecting whenever they are
/// dropped, must each be dropped at about `handshake_timeout` (the timeout bounds the whole
/// request, not the gap between bytes), while ordinary clients keep getting served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_tricklers_are_dropped_at_the_handshake_timeout_while_others_are_served() {
    const TRICKLERS: usize = 50;
    const ROUNDS: usize = 10;
    let timeout = Duration::from_millis(500);
    let mut config = Config::default();
    config.handshake_timeout = timeout;
    let (addr, mut outcomes) = echo_server_with_outcomes(ServerOptions {
        config,
        ..Default::default()
    })
    .await;
    // A client connected before the attack, echoing all through it.
    let (_res, mut held_read, mut held_write) = connect(client_options(addr)).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    // Tricklers that have been dropped at least once.
    let dropped_once = Arc::new(AtomicUsize::new(0));
    let request = upgrade_request("/", "").into_bytes();
    let mut tricklers = Vec::new();
    for i in 0..TRICKLERS {
        let (stop, dropped_once, request) = (stop.clone(), dropped_once.clone(), request.clone());
        tricklers.push(tokio::spawn(async move {
            // How long each of this trickler's connections lived, from connect to EOF/reset.
            let mut lifetimes = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let connected = Instant::now();
                // The request is never completed: its last byte is never sent.
                let mut sent = 0;
                let lifetime = loop {
                    if stop.load(Ordering::SeqCst) {
                        break None;
                    }
                    if sent + 1 < request.len() {
                        if tcp.write_all(&request[sent..=sent]).await.is_err() {
                            break Some(connected.elapsed());
                        }
                        sent += 1;
                    }
                    let mut buf = [0u8; 256];
                    // One byte every ~150 ms, watching for the server to drop us meanwhile.
                    match tokio::time::timeout(Duration::from_millis(150), tcp.read(&mut buf)).await
                    {
                        Ok(Ok(0) | Err(_)) => break Some(connected.elapsed()),
                        Ok(Ok(n)) => panic!(
                            "trickler {i} got an answer to half a request: {:?}",
                            String::from_utf8_lossy(&buf[..n])
                        ),
                        Err(_) => {}
                    }
                    assert!(
                        connected.elapsed() < timeout * 20,
                        "trickler {i} still connected after {:?} ({sent} bytes sent)",
                        connected.elapsed()
                    );
                };
                let Some(lifetime) = lifetime else { break };
                if lifetimes.is_empty() {
                    dropped_once.fetch_add(1, Ordering::SeqCst);
                }
                lifetimes.push(lifetime);
            }
            lifetimes
        }));
    }

    // Ordinary clients, served during the attack: the attack only stops once they are done and
    // every trickler has been dropped at least once, so the overlap does not depend on speed.
    let mut rounds = 0;
    while rounds < ROUNDS || dropped_once.load(Ordering::SeqCst) < TRICKLERS {
        echo_round_trip(addr, &format!("during the attack, round {rounds}")).await;
        let text = format!("held connection, round {rounds}");
        soon(held_write.write(Message::text(text.clone())))
            .await
            .unwrap();
        let echo = soon(held_read.read_message()).await.unwrap().unwrap();
        assert_eq!(echo.as_text(), Some(text.as_str()));
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);

    let mut lifetimes = Vec::new();
    for t in tricklers {
        lifetimes.extend(soon(t).await.unwrap());
    }
    assert!(lifetimes.len() >= TRICKLERS, "{lifetimes:?}");
    // The timer starts at accept(), after connect() returned to the trickler: no connection can
    // be dropped before the timeout (a little slack for timer granularity). The upper bound is
    // the timeout, plus up to one 150 ms read poll, plus a generous allowance for a loaded box.
    let early: Vec<_> = lifetimes
        .iter()
        .filter(|d| **d < timeout - Duration::from_millis(50))
        .collect();
    let late: Vec<_> = lifetimes.iter().filter(|d| **d > timeout * 10).collect();
    assert!(early.is_empty(), "dropped before the timeout: {early:?}");
    assert!(late.is_empty(), "dropped long after the timeout: {late:?}");

    // The server reports a handshake timeout for every trickler it dropped.
    let mut timeouts = 0;
    while timeouts < lifetimes.len() {
        match soon(outcomes.recv()).await.unwrap() {
            Err(Error::Timeout(TimeoutKind::Handshake, d)) => {
                assert_eq!(d, timeout);
                timeouts += 1;
            }
            // Round trips end cleanly; a trickler stopped by the test mid-request ends the
            // handshake early.
            Ok(()) | Err(Error::Handshake(_) | Error::Io(_)) => {}
            Err(other) => panic!("unexpected server outcome {other:?}"),
        }
    }
    // Still serving after the attack.
    echo_round_trip(addr, "after the attack").await;
}

/// The outcome of sending only a frame header announcing `len` bytes, with no payload: the
/// close code the server answers with, and the error its reader reports.
async fn refused_header(len: u64) -> (Option<u16>, Error, std::net::SocketAddr) {
    let (addr, mut outcomes) = echo_server_with_outcomes(ServerOptions::default()).await;
    let mut peer = raw_client(addr).await;
    // The 64-bit length is written raw, so that the top bit can be set too.
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(&KEY);
    bytes.extend_from_slice(&mask_from(b"just a few bytes", KEY, 0));
    peer.send(&bytes).await;
    // No more payload is ever sent: a server waiting for it (or allocating it) would not answer
    // within `soon`'s bound.
    let close = peer.expect_close().await;
    assert!(!close.masked);
    peer.expect_eof().await;
    let err = soon(outcomes.recv()).await.unwrap().unwrap_err();
    (close.close_code(), err, addr)
}

#[tokio::test]
async fn header_announcing_2_pow_63_minus_1_bytes_is_refused_at_once_with_1009() {
    let len = i64::MAX as u64;
    let (code, err, addr) = refused_header(len).await;
    assert_eq!(code, Some(1009));
    assert!(
        matches!(err, Error::Protocol(ProtocolError::FrameTooBig { len: l, max }) if l == len && max == 16 << 20),
        "{err:?}"
    );
    echo_round_trip(addr, "still serving").await;
}

#[tokio::test]
async fn header_with_the_length_top_bit_set_is_refused_at_once_with_1002() {
    let (code, err, addr) = refused_header(u64::MAX).await;
    assert_eq!(code, Some(1002));
    assert!(
        matches!(err, Error::Protocol(ProtocolError::LengthTopBit)),
        "{err:?}"
    );
    echo_round_trip(addr, "still serving").await;
}

/// A frame limit that admits anything must not let a huge header through: the message limit
/// refuses it before any payload is buffered.
#[tokio::test]
async fn huge_header_is_refused_by_the_message_limit_when_the_frame_limit_allows_it() {
    let mut config = Config::default();
    config.max_frame_size = usize::MAX as u64;
    config.max_message_size = 1 << 20;
    let (addr, accepted) = accept_one(ServerOptions {
        config,
        ..Default::default()
    })
    .await;
    let mut peer = raw_client(addr).await;
    let (_req, mut read, _write) = soon(accepted).await.unwrap().unwrap();
    peer.send(&header(true, 0, 2, Some(KEY), i64::MAX as u64))
        .await;
    let err = soon(read.read()).await.unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::MessageTooBig { max, .. }) if max == 1 << 20),
        "{err:?}"
    );
    assert_eq!(peer.expect_close().await.close_code(), Some(1009));
}

/// Sends `bytes` one at a time with a short pause after each, as separate TCP segments.
async fn trickle(tcp: &mut TcpStream, bytes: &[u8]) {
    for b in bytes {
        tcp.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn frames_trickled_one_byte_at_a_time_are_echoed() {
    let addr = echo_server(ServerOptions::default()).await;
    let mut peer = raw_client(addr).await;
    peer.tcp.set_nodelay(true).unwrap();
    let long: Vec<u8> = (0..300u16).map(|i| (i % 251) as u8).collect();
    let mut bytes = Vec::new();
    bytes.extend(frame(true, 0, 1, Some(KEY), "héllo, trickle".as_bytes()));
    bytes.extend(frame(
        true,
        0,
        2,
        Some([1, 2, 3, 4]),
        &[0, 1, 2, 0xff, 0xfe],
    ));
    // A fragmented text message with a ping between its fragments.
    bytes.extend(frame(false, 0, 1, Some(KEY), b"frag"));
    bytes.extend(frame(true, 0, 9, Some(KEY), b"ping!"));
    bytes.extend(frame(false, 0, 0, Some([9, 8, 7, 6]), b"men"));
    bytes.extend(frame(true, 0, 0, Some(KEY), b"ted"));
    // A 16-bit extended length, so that the length bytes are trickled too.
    bytes.extend(frame(true, 0, 2, Some(KEY), &long));
    bytes.extend(frame(true, 0, 8, Some(KEY), &close_payload(1000, b"")));
    soon(trickle(&mut peer.tcp, &bytes)).await;

    let mut got = Vec::new();
    while let Some(f) = peer.next_frame().await {
        assert!(!f.masked && f.fin, "{f:?}");
        got.push((f.opcode, f.payload));
    }
    let expected: Vec<(u8, Vec<u8>)> = vec![
        (1, "héllo, trickle".as_bytes().to_vec()),
        (2, vec![0, 1, 2, 0xff, 0xfe]),
        (0xA, b"ping!".to_vec()),
        (1, b"fragmented".to_vec()),
        (2, long),
        (8, close_payload(1000, b"")),
    ];
    assert_eq!(got, expected);
}

#[tokio::test]
async fn ten_thousand_small_frames_in_one_write_are_echoed_in_order() {
    const N: usize = 10_000;
    let addr = echo_server(ServerOptions::default()).await;
    let peer = raw_client(addr).await;
    let mut bytes = Vec::new();
    for i in 0..N {
        let key = (i as u32).to_be_bytes();
        bytes.extend(frame(true, 0, 1, Some(key), i.to_string().as_bytes()));
    }
    let RawPeer { tcp, buf, .. } = peer;
    assert!(buf.is_empty());
    let (mut rd, mut wr) = tcp.into_split();
    // Write from another task: the echoes must be read while the flood is still going out.
    let writer = tokio::spawn(async move {
        wr.write_all(&bytes).await.unwrap();
        wr
    });
    let mut pending = Vec::new();
    let mut next = 0;
    let deadline = tokio::time::Instant::now() + PATIENCE * 6;
    while next < N {
        while let Some((f, n)) = parse_frame(&pending) {
            pending.drain(..n);
            assert_eq!(
                (f.opcode, f.fin, f.masked),
                (1, true, false),
                "frame {next}"
            );
            assert_eq!(
                String::from_utf8(f.payload).unwrap(),
                next.to_string(),
                "echo out of order"
            );
            next += 1;
        }
        if next == N {
            break;
        }
        let n = tokio::time::timeout_at(deadline, rd.read_buf(&mut pending))
            .await
            .unwrap_or_else(|_| panic!("only {next} of {N} echoes arrived"))
            .unwrap();
        assert!(n > 0, "EOF after {next} of {N} echoes");
    }
    assert!(pending.is_empty());
    let mut wr = soon(writer).await.unwrap();
    wr.write_all(&frame(true, 0, 8, Some(KEY), &close_payload(1000, b"")))
        .await
        .unwrap();
    let mut rest = Vec::new();
    soon(rd.read_to_end(&mut rest)).await.unwrap();
    let (close, _) = parse_frame(&rest).expect("a close echo");
    assert_eq!(close.close_code(), Some(1000));
}

// ---------------------------------------------------------------------------------------------
// Peers that vanish
// ---------------------------------------------------------------------------------------------

/// What the raw client does to end its connection.
#[derive(Debug, Clone, Copy)]
enum Vanish {
    /// `shutdown(Write)` right after the handshake.
    HalfCloseAfterHandshake,
    /// `shutdown(Write)` after the header and part of a frame's payload.
    HalfCloseMidFrame,
    /// `SO_LINGER` 0 then close (a TCP reset) after part of a frame's payload.
    ResetMidFrame,
    /// A TCP reset right after the handshake.
    ResetAfterHandshake,
}

async fn vanish(how: Vanish) {
    let (addr, mut outcomes) = echo_server_with_outcomes(ServerOptions::default()).await;
    let mut peer = raw_client(addr).await;
    // A whole message first, so the session is demonstrably up.
    peer.send_frame(true, 1, b"before").await;
    let echo = peer.next_frame().await.unwrap();
    assert_eq!(echo.payload, b"before", "{how:?}");
    let mut partial = header(true, 0, 2, Some(KEY), 1000);
    partial.extend(mask_from(&[7; 100], KEY, 0));
    // The half-closed connection is kept to check that the server closes it too.
    let half_closed = match how {
        Vanish::HalfCloseAfterHandshake => {
            peer.tcp.shutdown().await.unwrap();
            Some(peer)
        }
        Vanish::HalfCloseMidFrame => {
            peer.send(&partial).await;
            peer.tcp.shutdown().await.unwrap();
            Some(peer)
        }
        Vanish::ResetMidFrame | Vanish::ResetAfterHandshake => {
            if matches!(how, Vanish::ResetMidFrame) {
                peer.send(&partial).await;
                // Let the partial frame reach the server's reader before the reset.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            #[allow(deprecated)]
            peer.tcp.set_linger(Some(Duration::ZERO)).unwrap();
            drop(peer);
            None
        }
    };
    let outcome = soon(outcomes.recv()).await.unwrap();
    match how {
        // A FIN without a close frame is an abnormal closure, mid-frame or not.
        Vanish::HalfCloseAfterHandshake | Vanish::HalfCloseMidFrame => assert!(
            matches!(outcome, Err(Error::AbnormalClosure)),
            "{how:?}: {outcome:?}"
        ),
        // A reset surfaces as an I/O error (or as the end of the stream, if the reset lost the
        // race with the read); either way the read returned.
        Vanish::ResetMidFrame | Vanish::ResetAfterHandshake => assert!(
            matches!(outcome, Err(Error::Io(_) | Error::AbnormalClosure)),
            "{how:?}: {outcome:?}"
        ),
    }
    if let Some(mut peer) = half_closed {
        // The server does not keep the half-closed connection open.
        assert!(
            ends_without_data(&mut peer.tcp, PATIENCE).await,
            "{how:?}: the server kept the connection open"
        );
    }
    echo_round_trip(addr, &format!("after {how:?}")).await;
}

#[tokio::test]
async fn half_close_after_the_handshake_ends_the_server_read() {
    vanish(Vanish::HalfCloseAfterHandshake).await;
}

#[tokio::test]
async fn half_close_in_the_middle_of_a_frame_ends_the_server_read() {
    vanish(Vanish::HalfCloseMidFrame).await;
}

#[tokio::test]
async fn reset_in_the_middle_of_a_frame_ends_the_server_read() {
    vanish(Vanish::ResetMidFrame).await;
}

#[tokio::test]
async fn reset_after_the_handshake_ends_the_server_read() {
    vanish(Vanish::ResetAfterHandshake).await;
}

/// A reader waiting in another task while the peer resets is woken, and the writer fails rather
/// than blocking.
#[tokio::test]
async fn reset_wakes_a_parked_server_reader_and_fails_the_writer() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let peer = raw_client(addr).await;
    let (_req, mut read, mut write) = soon(accepted).await.unwrap().unwrap();
    let parked = tokio::spawn(async move { read.read().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    #[allow(deprecated)]
    peer.tcp.set_linger(Some(Duration::ZERO)).unwrap();
    drop(peer);
    let result = soon(parked).await.unwrap();
    assert!(
        matches!(result, Err(Error::Io(_) | Error::AbnormalClosure)),
        "{result:?}"
    );
    // Writes to the reset connection fail (possibly only once the kernel has seen the reset).
    let mut failed = false;
    for _ in 0..100 {
        if soon(write.write(Message::binary(vec![0u8; 1024])))
            .await
            .is_err()
        {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(failed, "writes to a reset connection kept succeeding");
}

// ---------------------------------------------------------------------------------------------
// Hostile servers against our client
// ---------------------------------------------------------------------------------------------

/// A server that reads one upgrade request, then hands the raw connection and the client's key
/// to `act`.
async fn hostile_server<F, Fut>(act: F) -> std::net::SocketAddr
where
    F: FnOnce(RawPeer, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let (peer, _, key) = read_upgrade_request(tcp).await;
        act(peer, key).await;
    });
    addr
}

fn switching(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    )
    .into_bytes()
}

#[tokio::test]
async fn a_200_response_is_a_refusal_not_an_upgrade() {
    let addr = hostile_server(|mut peer, _key| async move {
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .await;
        let _ = peer.next_frame().await;
    })
    .await;
    let err = soon(connect(client_options(addr))).await.unwrap_err();
    assert_eq!(err.http_status(), Some(200), "{err:?}");
    let Error::Handshake(HandshakeError::Rejected(r)) = err else {
        panic!("{err:?}");
    };
    assert_eq!(&r.body[..], b"hello");
}

/// A refusal with an endless body: the client keeps at most 64 KiB of it and returns.
#[tokio::test]
async fn a_200_response_with_an_endless_body_is_cut_at_64_kib() {
    let addr = hostile_server(|mut peer, _key| async move {
        peer.send(b"HTTP/1.1 200 OK\r\n\r\n").await;
        let chunk = vec![b'x'; 16 << 10];
        while peer.tcp.write_all(&chunk).await.is_ok() {}
    })
    .await;
    let err = soon(connect(client_options(addr))).await.unwrap_err();
    let Error::Handshake(HandshakeError::Rejected(r)) = err else {
        panic!("{err:?}");
    };
    assert_eq!((r.status, r.body.len()), (200, 64 << 10));
}

/// A server that sends its 101 head one byte at a time, forever: `Options.timeout` bounds the
/// whole upgrade, not the gap between bytes. On the paused clock over a real socket: whenever the
/// clock jumps, the timer under test is the only one that can fire.
#[tokio::test(start_paused = true)]
async fn a_server_trickling_its_answer_is_given_up_on_at_the_timeout() {
    let addr = hostile_server(|mut peer, key| async move {
        let answer = switching(&key);
        // Never the last byte.
        for b in &answer[..answer.len() - 1] {
            if peer.tcp.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let started = tokio::time::Instant::now();
    let err = soon(connect(Options {
        timeout: Some(Duration::from_millis(500)),
        ..client_options(addr)
    }))
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutKind::Connect, d) if d == Duration::from_millis(500)),
        "{err:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_millis(500));
}

/// A server whose 101 head never ends: refused at `max_head_bytes`, not buffered forever.
#[tokio::test]
async fn a_server_answer_with_endless_headers_is_refused_at_the_head_limit() {
    let addr = hostile_server(|mut peer, key| async move {
        let mut head = switching(&key);
        head.truncate(head.len() - 2); // keep the head open
        if peer.tcp.write_all(&head).await.is_err() {
            return;
        }
        let line = format!("X-Filler: {}\r\n", "f".repeat(1000));
        while peer.tcp.write_all(line.as_bytes()).await.is_ok() {}
    })
    .await;
    let err = soon(connect(client_options(addr))).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Handshake(HandshakeError::HeadTooLarge(_) | HandshakeError::TooManyHeaders(_))
        ),
        "{err:?}"
    );
}

/// A server that sends a frame header announcing 2^63-1 bytes: our client closes with 1009 at
/// once, without waiting for (or allocating) the payload.
#[tokio::test]
async fn a_server_frame_announcing_2_pow_63_minus_1_bytes_is_refused_with_1009() {
    let (addr, raw) = raw_server().await;
    let (_res, mut read, _write) = connect(client_options(addr)).await.unwrap();
    let (mut peer, _) = soon(raw).await.unwrap();
    peer.send(&header(true, 0, 2, None, i64::MAX as u64)).await;
    let err = soon(read.read()).await.unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::FrameTooBig { .. })),
        "{err:?}"
    );
    let close = peer.expect_close().await;
    assert_eq!((close.close_code(), close.masked), (Some(1009), true));
}

/// The server drops TCP without a close frame: `Error::AbnormalClosure`, after the messages it
/// did send.
#[tokio::test]
async fn a_server_closing_tcp_without_a_close_frame_is_an_abnormal_closure() {
    let (addr, raw) = raw_server().await;
    let (_res, mut read, _write) = connect(client_options(addr)).await.unwrap();
    let (mut peer, _) = soon(raw).await.unwrap();
    peer.send_frame(true, 1, b"last words").await;
    peer.tcp.shutdown().await.unwrap();
    drop(peer);
    let msg = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(msg.as_text(), Some("last words"));
    let err = soon(read.read_message()).await.unwrap_err();
    assert!(matches!(err, Error::AbnormalClosure), "{err:?}");
    assert!(err.is_peer_fault());
}

/// The server drops TCP in the middle of a frame: also an abnormal closure, not a hang.
#[tokio::test]
async fn a_server_closing_tcp_mid_frame_is_an_abnormal_closure() {
    let (addr, raw) = raw_server().await;
    let (_res, mut read, _write) = connect(client_options(addr)).await.unwrap();
    let (mut peer, _) = soon(raw).await.unwrap();
    let mut bytes = header(true, 0, 1, None, 50);
    bytes.extend_from_slice(b"only part of it");
    peer.send(&bytes).await;
    drop(peer);
    let err = soon(read.read_message()).await.unwrap_err();
    assert!(matches!(err, Error::AbnormalClosure), "{err:?}");
}
