//! Many WebSockets on one HTTP/2 connection, flow control as backpressure, and how a stream
//! ends: END_STREAM after the closing handshake, RST_STREAM as an abnormal closure with its code.

use std::time::Duration;

use bytes::Bytes;
use coro_websocket::error::Http2Error;
use coro_websocket::http2::Http2Client;
use coro_websocket::{Error, Http, Message};

use super::apps::hyper_server;
use super::common::{close_payload, frame, listener, parse_frame, soon};
use super::options;

#[tokio::test]
async fn a_hundred_websockets_share_one_connection_and_a_stalled_one_stalls_alone() {
    let addr = hyper_server(true, None).await;
    let client = Http2Client::connect(options(addr, "/", Http::Http2))
        .await
        .unwrap();
    // One stream whose server never reads: our writes to it must stop on flow control.
    let (_res, _stalled_read, mut stalled_write) = client.open("/stall").await.unwrap();
    let flooding = tokio::spawn(async move {
        let chunk = Message::binary(vec![7u8; 64 << 10]);
        for _ in 0..1024 {
            // 64 MiB in all: far more than the stream's window and every buffer on the way.
            if stalled_write.write(chunk.clone()).await.is_err() {
                return;
            }
        }
    });
    let mut sessions = Vec::new();
    for i in 0..100 {
        let (res, read, write) = client.open(&format!("/echo?n={i}")).await.unwrap();
        assert_eq!(res.version, http::Version::HTTP_2);
        sessions.push((read, write));
    }
    let mut echoes = Vec::new();
    for (i, (mut read, mut write)) in sessions.into_iter().enumerate() {
        echoes.push(tokio::spawn(async move {
            for round in 0..10 {
                let text = format!("stream {i} round {round}");
                write.write(Message::text(text.clone())).await.unwrap();
                let back = read.read_message().await.unwrap().unwrap();
                assert_eq!(back.as_text(), Some(text.as_str()));
            }
        }));
    }
    for echo in echoes {
        soon(echo).await.unwrap();
    }
    // Every other stream finished while the flood still waits for window.
    assert!(
        !flooding.is_finished(),
        "64 MiB went out to a peer that reads nothing"
    );
    flooding.abort();
}

/// A bare h2 server (no WebSocket library): answers the extended CONNECT with 200, then runs
/// `then` on the stream.
async fn bare_h2_server<F, Fut>(then: F) -> std::net::SocketAddr
where
    F: FnOnce(h2::RecvStream, h2::SendStream<Bytes>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut conn = h2::server::Builder::new()
            .enable_connect_protocol()
            .handshake::<_, Bytes>(tcp)
            .await
            .unwrap();
        let (request, mut respond) = conn.accept().await.unwrap().unwrap();
        assert_eq!(request.method(), http::Method::CONNECT);
        let response = http::Response::builder().status(200).body(()).unwrap();
        let send = respond.send_response(response, false).unwrap();
        tokio::spawn(async move { while conn.accept().await.is_some() {} });
        then(request.into_body(), send).await;
    });
    addr
}

#[tokio::test]
async fn a_reset_stream_is_an_abnormal_closure_with_its_code() {
    let addr = bare_h2_server(|_recv, mut send| async move {
        // In the middle of the session, not with the answer.
        tokio::time::sleep(Duration::from_millis(200)).await;
        send.send_reset(h2::Reason::INTERNAL_ERROR);
        tokio::time::sleep(Duration::from_secs(1)).await;
    })
    .await;
    let (_res, mut read, _write) = coro_websocket::connect(options(addr, "/", Http::Http2))
        .await
        .unwrap();
    let err = soon(read.read()).await.unwrap_err();
    assert!(
        matches!(err, Error::Http2(Http2Error::Reset(0x2))),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_closing_handshake_ends_with_end_stream() {
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let addr = bare_h2_server(|mut recv, mut send| async move {
        // Read our client's close frame, answer it, and end our side of the stream.
        let mut buf = Vec::new();
        let close = loop {
            let data = recv.data().await.unwrap().unwrap();
            let _ = recv.flow_control().release_capacity(data.len());
            buf.extend_from_slice(&data);
            if let Some((f, _)) = parse_frame(&buf) {
                break f;
            }
        };
        assert_eq!(close.opcode, 8);
        assert!(close.masked, "client frames are masked over HTTP/2 too");
        let echo = frame(true, 0, 8, None, &close_payload(1000, b""));
        send.send_data(Bytes::from(echo), true).unwrap();
        // After the closing handshake, the client ends its side: END_STREAM, with no more data
        // (h2 hands the flag over as an empty DATA frame).
        let nothing_more = match recv.data().await {
            None => true,
            Some(Ok(data)) => data.is_empty(),
            Some(Err(_)) => false,
        };
        let _ = seen_tx.send((nothing_more, recv.is_end_stream()));
    })
    .await;
    let (_res, mut read, mut write) = coro_websocket::connect(options(addr, "/", Http::Http2))
        .await
        .unwrap();
    write
        .close(coro_websocket::CloseCode::NORMAL, "")
        .await
        .unwrap();
    assert!(soon(read.read_message()).await.unwrap().is_none());
    let (ended, end_stream) = soon(seen_rx).await.unwrap();
    assert!(
        ended && end_stream,
        "no END_STREAM after the closing handshake"
    );
}
