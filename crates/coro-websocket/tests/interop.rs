//! Interoperability with tokio-tungstenite 0.30, in both directions: our client against its
//! server, its client against our `accept()` server.

mod common;

use common::*;
use coro_websocket::{accept, connect, CloseCode, Message, Opcode, Options, ServerOptions};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as TClose;
use tokio_tungstenite::tungstenite::Message as TMessage;

const MIB: usize = 1 << 20;

/// A tokio-tungstenite echo server for one connection; reports the close code it received.
/// With `close_first`, it closes with 1001 right after the handshake instead of echoing.
async fn tungstenite_server(close_first: bool) -> (std::net::SocketAddr, oneshot::Receiver<u16>) {
    let (l, addr) = listener().await;
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        if close_first {
            ws.close(Some(TClose {
                code: TCode::from(1001),
                reason: "going".into(),
            }))
            .await
            .unwrap();
        }
        while let Some(msg) = ws.next().await {
            match msg.unwrap() {
                m @ (TMessage::Text(_) | TMessage::Binary(_)) => ws.send(m).await.unwrap(),
                TMessage::Close(frame) => {
                    let _ = tx.send(frame.map_or(1005, |f| u16::from(f.code)));
                    break;
                }
                _ => {}
            }
        }
        // Drive the close handshake to its end (tungstenite echoes the close itself).
        while ws.next().await.is_some() {}
    });
    (addr, rx)
}

#[tokio::test]
async fn our_client_against_a_tungstenite_server() {
    let (addr, close_seen) = tungstenite_server(false).await;
    let (res, mut read, mut write) = connect(Options {
        host: Some("127.0.0.1".into()),
        port: Some(addr.port()),
        pathname: "/interop".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(res.code, 101);

    write.write(Message::text("héllo")).await.unwrap();
    let got = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!((got.opcode, got.as_text()), (Opcode::Text, Some("héllo")));

    write
        .write(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    let got = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(
        (got.opcode, &got.payload[..]),
        (Opcode::Binary, &[0u8, 1, 2, 255][..])
    );

    let big: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    write.write(Message::binary(big.clone())).await.unwrap();
    let got = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(got.payload.len(), MIB);
    assert_eq!(&got.payload[..], &big[..]);

    // A fragmented message, reassembled by tungstenite and echoed whole.
    write
        .write(Message {
            fin: false,
            ..Message::text("frag")
        })
        .await
        .unwrap();
    write
        .write(Message::new(Opcode::Continuation, "mented"))
        .await
        .unwrap();
    let got = soon(read.read()).await.unwrap().unwrap();
    assert_eq!((got.fin, got.as_text()), (true, Some("fragmented")));

    write.write(Message::ping("ping?")).await.unwrap();
    let pong = soon(read.read()).await.unwrap().unwrap();
    assert_eq!(
        (pong.opcode, &pong.payload[..]),
        (Opcode::Pong, &b"ping?"[..])
    );

    write.close(CloseCode(4000), "bye").await.unwrap();
    assert!(soon(read.read_message()).await.unwrap().is_none());
    assert_eq!(soon(close_seen).await.unwrap(), 4000);
    // tungstenite echoes the code it received.
    assert_eq!(read.close_frame().unwrap().code, CloseCode(4000));
}

#[tokio::test]
async fn tungstenite_server_close_reaches_our_client() {
    let (addr, _close_seen) = tungstenite_server(true).await;
    let (_res, mut read, _write) = connect(Options {
        host: Some("127.0.0.1".into()),
        port: Some(addr.port()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(soon(read.read_message()).await.unwrap().is_none());
    let got = read.close_frame().unwrap();
    assert_eq!(
        (got.code, got.reason.as_str()),
        (CloseCode::GOING_AWAY, "going")
    );
    // Our echo carried the same code.
    let closed = read.closed();
    assert_eq!(closed.sent.unwrap().code, CloseCode::GOING_AWAY);
}

#[tokio::test]
async fn tungstenite_client_against_our_server() {
    let (l, addr) = listener().await;
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let (req, mut read, mut write) = accept(
            tcp,
            ServerOptions {
                subprotocols: vec!["echo".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(req.path, "/from/tungstenite");
        while let Some(m) = read.read_message().await.unwrap() {
            write.write(m).await.unwrap();
        }
        let _ = tx.send(read.close_frame());
    });

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/from/tungstenite")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "echo".parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "echo"
    );

    ws.send(TMessage::text("héllo")).await.unwrap();
    assert_eq!(
        soon(ws.next()).await.unwrap().unwrap(),
        TMessage::text("héllo")
    );
    ws.send(TMessage::binary(vec![7u8, 8, 9])).await.unwrap();
    assert_eq!(
        soon(ws.next()).await.unwrap().unwrap(),
        TMessage::binary(vec![7u8, 8, 9])
    );
    let big: Vec<u8> = (0..MIB).map(|i| (i % 253) as u8).collect();
    ws.send(TMessage::binary(big.clone())).await.unwrap();
    match soon(ws.next()).await.unwrap().unwrap() {
        TMessage::Binary(b) => assert!(b[..] == big[..], "1 MiB echo differs"),
        other => panic!("expected binary, got {other:?}"),
    }
    ws.send(TMessage::Ping("are you there".into()))
        .await
        .unwrap();
    assert_eq!(
        soon(ws.next()).await.unwrap().unwrap(),
        TMessage::Pong("are you there".into())
    );

    ws.close(Some(TClose {
        code: TCode::from(4001),
        reason: "done".into(),
    }))
    .await
    .unwrap();
    // Our server echoes the code, then closes TCP: the stream ends.
    let mut echoed = None;
    while let Some(m) = soon(ws.next()).await {
        if let Ok(TMessage::Close(f)) = m {
            echoed = f.map(|f| u16::from(f.code));
        }
    }
    assert_eq!(echoed, Some(4001));
    let seen = soon(rx).await.unwrap().unwrap();
    assert_eq!((seen.code, seen.reason.as_str()), (CloseCode(4001), "done"));
}

#[tokio::test]
async fn our_server_close_reaches_a_tungstenite_client() {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let (_req, mut read, mut write) = accept(tcp, ServerOptions::default()).await.unwrap();
        write.write(Message::text("bye soon")).await.unwrap();
        write.close(CloseCode(4002), "server done").await.unwrap();
        // Read the client's echo; the server then closes TCP.
        while read.read().await.unwrap().is_some() {}
    });
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    assert_eq!(
        soon(ws.next()).await.unwrap().unwrap(),
        TMessage::text("bye soon")
    );
    match soon(ws.next()).await.unwrap().unwrap() {
        TMessage::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), 4002);
            assert_eq!(f.reason.as_str(), "server done");
        }
        other => panic!("expected a close, got {other:?}"),
    }
    // tungstenite answered; the connection then ends.
    while let Some(m) = soon(ws.next()).await {
        assert!(m.is_err() || matches!(m, Ok(TMessage::Close(_))), "{m:?}");
    }
}
