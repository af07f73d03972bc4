//! The unsplit `WebSocket`: echo with corked replies over real sockets, pings, the close
//! handshake, violations, the heartbeat and the close timeout (paused clock, in-memory pipes),
//! `split()` in mid-stream, the `Sink`, and `Socket::shutdown`.

mod common;

use std::time::Duration;

use common::*;
use coro_websocket::error::TimeoutKind;
use coro_websocket::{
    CloseCode, Config, Error, Heartbeat, Message, Opcode, ServerOptions, WebSocket,
};
use futures_util::SinkExt;
use tokio::io::DuplexStream;

/// A server on a fresh port that echoes data frames with the README's loop, one `WebSocket` per
/// connection.
async fn unsplit_echo_server() -> std::net::SocketAddr {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            tokio::spawn(async move {
                let Ok((_req, mut ws)) = WebSocket::accept(tcp, ServerOptions::default()).await
                else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Our server as one `WebSocket` on one end of a pipe, a raw client on the other.
async fn unsplit_over_pipe(options: ServerOptions) -> (RawPeer<DuplexStream>, WebSocket) {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let server = tokio::spawn(WebSocket::accept(ours, options));
    let mut peer = RawPeer {
        tcp: theirs,
        buf: Vec::new(),
        client: true,
    };
    peer.send(upgrade_request("/", "").as_bytes()).await;
    let head = peer.read_head().await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let (_req, ws) = soon(server).await.unwrap().unwrap();
    (peer, ws)
}

#[tokio::test]
async fn client_and_server_unsplit_echo_in_order() {
    let addr = unsplit_echo_server().await;
    let (res, mut ws) = soon(WebSocket::connect(client_options(addr)))
        .await
        .unwrap();
    assert_eq!(res.code, 101);
    for i in 0..64u32 {
        ws.write(Message::binary(i.to_be_bytes().to_vec()))
            .await
            .unwrap();
    }
    for i in 0..64u32 {
        let echo = soon(ws.read_message()).await.unwrap().unwrap();
        assert_eq!(echo.opcode, Opcode::Binary);
        assert_eq!(&echo.payload[..], &i.to_be_bytes());
    }
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert!(soon(ws.read_message()).await.unwrap().is_none());
    assert_eq!(ws.close_frame().unwrap().code, CloseCode::NORMAL);
    assert!(ws.is_closed());
}

// A burst that arrives in one read is echoed with its replies corked: every reply must still
// go out, in order, once the burst is read (the flush before reading waits).
#[tokio::test]
async fn a_pipelined_burst_is_echoed_whole() {
    let addr = unsplit_echo_server().await;
    let mut peer = raw_client(addr).await;
    let mut burst = Vec::new();
    for i in 0..32u8 {
        burst.extend(frame(true, 0, 1, Some(KEY), format!("m{i}").as_bytes()));
    }
    peer.send(&burst).await;
    for i in 0..32u8 {
        let f = peer.next_frame().await.expect("an echo");
        assert_eq!((f.opcode, f.payload), (1, format!("m{i}").into_bytes()));
    }
}

#[tokio::test]
async fn pings_are_answered_and_the_close_is_echoed() {
    let (mut peer, mut ws) = unsplit_over_pipe(ServerOptions::default()).await;
    let reader = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(msg) = ws.read().await.unwrap() {
            frames.push(msg.opcode);
        }
        (frames, ws.close_frame())
    });
    peer.send_frame(true, 9, b"are you there").await;
    let pong = peer.next_frame().await.unwrap();
    assert_eq!(
        (pong.opcode, &pong.payload[..]),
        (10, &b"are you there"[..])
    );
    peer.send(&frame(true, 0, 8, Some(KEY), &close_payload(1001, b"away")))
        .await;
    let echo = peer.expect_close().await;
    assert_eq!(&echo.payload[..2], &1001u16.to_be_bytes());
    // A server ends TCP after the closing handshake.
    peer.expect_eof().await;
    let (frames, close) = soon(reader).await.unwrap();
    assert_eq!(frames, vec![Opcode::Ping, Opcode::Close]);
    assert_eq!(close.unwrap().code, CloseCode::GOING_AWAY);
}

#[tokio::test]
async fn an_unmasked_frame_fails_with_1002() {
    let (mut peer, mut ws) = unsplit_over_pipe(ServerOptions::default()).await;
    peer.send(&frame(true, 0, 1, None, b"naked")).await;
    let err = soon(ws.read()).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    let close = peer.expect_close().await;
    assert_eq!(&close.payload[..2], &1002u16.to_be_bytes());
    assert!(matches!(
        ws.write(Message::text("late")).await,
        Err(Error::ConnectionClosed(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn the_heartbeat_pings_while_reading_and_finds_a_dead_peer() {
    let (mut peer, mut ws) = unsplit_over_pipe(ServerOptions {
        heartbeat: Some(Heartbeat::ping(
            Duration::from_millis(100),
            Duration::from_millis(200),
        )),
        ..Default::default()
    })
    .await;
    let err = soon(ws.read()).await.unwrap_err();
    assert!(
        matches!(err, Error::PeerNotResponding(d) if d == Duration::from_millis(200)),
        "{err:?}"
    );
    assert_eq!(peer.next_frame().await.unwrap().opcode, 9);
}

#[tokio::test(start_paused = true)]
async fn the_heartbeat_spares_a_peer_that_answers() {
    let (mut peer, mut ws) = unsplit_over_pipe(ServerOptions {
        heartbeat: Some(Heartbeat::ping(
            Duration::from_millis(100),
            Duration::from_millis(50),
        )),
        ..Default::default()
    })
    .await;
    let reader = tokio::spawn(async move {
        let mut pongs = 0;
        while let Some(msg) = ws.read().await.unwrap() {
            if msg.opcode == Opcode::Pong {
                pongs += 1;
            }
        }
        pongs
    });
    for _ in 0..5 {
        let ping = peer.next_frame().await.unwrap();
        assert_eq!(ping.opcode, 9);
        peer.send_frame(true, 10, b"").await;
    }
    peer.send(&frame(true, 0, 8, Some(KEY), &close_payload(1000, b"")))
        .await;
    assert_eq!(soon(reader).await.unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_close_times_out() {
    let close_timeout = Duration::from_secs(2);
    let mut config = Config::default();
    config.close_timeout = close_timeout;
    let (mut peer, mut ws) = unsplit_over_pipe(ServerOptions {
        config,
        ..Default::default()
    })
    .await;
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(peer.expect_close().await.opcode, 8);
    let started = tokio::time::Instant::now();
    let err = soon(ws.read()).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutKind::Close, d) if d == close_timeout),
        "{err:?}"
    );
    assert_eq!(started.elapsed(), close_timeout);
}

// Frames already read into the buffer, and a reply corked behind them, survive a split.
#[tokio::test]
async fn split_keeps_buffered_frames_and_corked_writes() {
    let (mut peer, mut ws) = unsplit_over_pipe(ServerOptions::default()).await;
    let mut burst = Vec::new();
    for text in ["one", "two", "three"] {
        burst.extend(frame(true, 0, 1, Some(KEY), text.as_bytes()));
    }
    peer.send(&burst).await;
    let first = soon(ws.read_message()).await.unwrap().unwrap();
    assert_eq!(first.as_text(), Some("one"));
    ws.write(Message::text("reply")).await.unwrap();
    let (mut read, _write) = ws.split();
    for text in ["two", "three"] {
        let m = soon(read.read_message()).await.unwrap().unwrap();
        assert_eq!(m.as_text(), Some(text));
    }
    // Reading now waits for the socket, so the corked reply goes out.
    let waiting = tokio::spawn(async move { read.read_message().await });
    let reply = peer.next_frame().await.unwrap();
    assert_eq!((reply.opcode, &reply.payload[..]), (1, &b"reply"[..]));
    waiting.abort();
}

#[tokio::test]
async fn the_sink_flushes_each_send_and_closes_with_1000() {
    let (addr, handshake) = raw_server().await;
    let (_res, mut ws) = soon(WebSocket::connect(client_options(addr)))
        .await
        .unwrap();
    let (mut peer, _head) = soon(handshake).await.unwrap();
    SinkExt::send(&mut ws, Message::text("via sink"))
        .await
        .unwrap();
    let f = peer.next_frame().await.unwrap();
    assert_eq!((f.opcode, &f.payload[..]), (1, &b"via sink"[..]));
    SinkExt::close(&mut ws).await.unwrap();
    let close = peer.expect_close().await;
    assert_eq!(&close.payload[..2], &1000u16.to_be_bytes());
}

#[tokio::test]
async fn socket_shutdown_ends_reading_cleanly() {
    let addr = unsplit_echo_server().await;
    let (res, mut ws) = soon(WebSocket::connect(client_options(addr)))
        .await
        .unwrap();
    ws.write(Message::text("x")).await.unwrap();
    assert!(soon(ws.read()).await.unwrap().is_some());
    res.socket.shutdown();
    assert!(soon(ws.read()).await.unwrap().is_none());
    assert!(ws.write(Message::text("after")).await.is_err());
}

// A handler that replies and returns while the peer's next message is already buffered: the
// corked reply is written when the WebSocket is dropped, not lost.
#[tokio::test]
async fn a_corked_reply_is_written_when_the_websocket_is_dropped() {
    let (mut peer, mut ws) = unsplit_over_pipe(ServerOptions::default()).await;
    let mut burst = frame(true, 0, 1, Some(KEY), b"first");
    burst.extend(frame(true, 0, 1, Some(KEY), b"second"));
    peer.send(&burst).await;
    assert_eq!(
        soon(ws.read_message()).await.unwrap().unwrap().as_text(),
        Some("first")
    );
    ws.write(Message::text("only reply")).await.unwrap();
    drop(ws);
    let reply = peer.next_frame().await.unwrap();
    assert_eq!((reply.opcode, &reply.payload[..]), (1, &b"only reply"[..]));
}

// A batch read takes every message already here; the replies written after it go out when
// reading next waits.
#[tokio::test]
async fn a_batch_read_takes_what_is_here_and_its_replies_follow() {
    let (mut peer, mut ws) = unsplit_over_pipe(ServerOptions::default()).await;
    let mut burst = Vec::new();
    for i in 0..10u8 {
        burst.extend(frame(true, 0, 2, Some(KEY), &[i]));
    }
    peer.send(&burst).await;
    let mut batch = Vec::new();
    assert_eq!(soon(ws.read_batch(&mut batch)).await.unwrap(), 10);
    let got: Vec<u8> = batch.iter().map(|m| m.payload[0]).collect();
    assert_eq!(got, (0..10).collect::<Vec<u8>>());
    for msg in batch.drain(..) {
        ws.write(msg).await.unwrap();
    }
    let reading = tokio::spawn(async move {
        let mut batch = Vec::new();
        let n = ws.read_batch(&mut batch).await.unwrap();
        (n, ws.close_frame())
    });
    for i in 0..10u8 {
        let f = peer.next_frame().await.unwrap();
        assert_eq!((f.opcode, &f.payload[..]), (2, &[i][..]));
    }
    peer.send(&frame(true, 0, 8, Some(KEY), &close_payload(1000, b"")))
        .await;
    let (n, close) = soon(reading).await.unwrap();
    assert_eq!(n, 0);
    assert_eq!(close.unwrap().code, CloseCode::NORMAL);
}

// A violation behind some messages: the batch has the messages, the next call the error, and
// the peer its 1002 close.
#[tokio::test]
async fn a_batch_read_hands_out_the_messages_before_a_violation() {
    let (mut peer, mut ws) = unsplit_over_pipe(ServerOptions::default()).await;
    let mut burst = frame(true, 0, 1, Some(KEY), b"fine");
    burst.extend(frame(true, 0, 1, Some(KEY), b"also fine"));
    burst.extend(frame(true, 0, 1, None, b"unmasked"));
    peer.send(&burst).await;
    let mut batch = Vec::new();
    assert_eq!(soon(ws.read_batch(&mut batch)).await.unwrap(), 2);
    assert_eq!(batch[1].as_text(), Some("also fine"));
    let err = soon(ws.read_batch(&mut batch)).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    let close = peer.expect_close().await;
    assert_eq!(&close.payload[..2], &1002u16.to_be_bytes());
}
