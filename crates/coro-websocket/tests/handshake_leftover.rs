//! Regression: frames that arrive in the same read as the handshake head must not be lost, even
//! when the peer resets the connection right after sending them.

use std::time::Duration;

use coro_websocket::{accept, connect, handshake::accept_key, Message, Options, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn frames_sent_with_the_101_then_reset_are_still_read() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tcp.read(&mut buf).await.unwrap();
        let request = String::from_utf8_lossy(&buf[..n]).into_owned();
        let key = request
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .trim()
            .to_owned();
        // The 101, a text frame and a close, all in one write (as Autobahn's getCaseCount does).
        let mut out = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(&key)
        )
        .into_bytes();
        out.extend_from_slice(b"\x81\x03301\x88\x00");
        tcp.write_all(&out).await.unwrap();
        // Linger 0 makes the close a reset (with a zero linger, drop does not block).
        #[allow(deprecated)]
        tcp.set_linger(Some(Duration::ZERO)).unwrap();
        drop(tcp);
    });
    let (_res, mut reader, _writer) = connect(Options::from_url(&format!("ws://{addr}/")).unwrap())
        .await
        .unwrap();
    // Give the reset time to arrive before the first read.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first = reader.read().await.unwrap().unwrap();
    assert_eq!(first.as_text(), Some("301"));
    let close = reader.read().await.unwrap().unwrap();
    assert_eq!(close.opcode, coro_websocket::Opcode::Close);
    assert!(reader.read().await.unwrap().is_none());
}

#[tokio::test]
async fn frames_sent_with_the_upgrade_request_are_read_by_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (_req, mut reader, _writer) = accept(tcp, ServerOptions::default()).await.unwrap();
        reader.read_message().await.unwrap().unwrap()
    });
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    let mut frame = bytes::BytesMut::new();
    coro_websocket::proto::encode_frame(&Message::text("early"), Some([1, 2, 3, 4]), &mut frame);
    bytes.extend_from_slice(&frame);
    tcp.write_all(&bytes).await.unwrap();
    let got = server.await.unwrap();
    assert_eq!(got.as_text(), Some("early"));
}
