//! WebSockets inside hyper and axum, and over HTTP/2 (RFC 8441) in both roles, against real
//! servers on ephemeral ports: an axum application serving HTTP/1.1 and HTTP/2 on one port, our
//! client over both, tokio-tungstenite over HTTP/1.1, permessage-deflate over both; the client's
//! fallbacks and errors; many streams on one connection with one stalled reader; resets and
//! END_STREAM against a bare h2 server.

#[path = "../common/mod.rs"]
mod common;

mod apps;
mod client_modes;
mod streams;

use coro_websocket::{DeflateConfig, Http, Message, Opcode, Options};

use apps::axum_app;
use common::soon;

fn options(addr: std::net::SocketAddr, path: &str, http: Http) -> Options {
    Options {
        host: Some("127.0.0.1".into()),
        port: Some(addr.port()),
        pathname: path.into(),
        http,
        ..Default::default()
    }
}

/// Sends a text and a binary message and expects both back, types kept.
async fn echo_both(read: &mut coro_websocket::Reader, write: &mut coro_websocket::Writer) {
    write
        .write(Message::text("héllo over the stream"))
        .await
        .unwrap();
    write
        .write(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    let a = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(
        (a.opcode, a.as_text()),
        (Opcode::Text, Some("héllo over the stream"))
    );
    let b = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(
        (b.opcode, &b.payload[..]),
        (Opcode::Binary, &[0u8, 1, 2, 255][..])
    );
}

#[tokio::test]
async fn axum_serves_our_client_over_http1_and_http2_on_one_port() {
    let addr = axum_app().await;
    for http in [Http::Http1, Http::Http2] {
        let (res, mut read, mut write) = coro_websocket::connect(options(addr, "/echo", http))
            .await
            .unwrap();
        let (code, version) = match http {
            Http::Http1 => (101, http::Version::HTTP_11),
            _ => (200, http::Version::HTTP_2),
        };
        assert_eq!((res.code, res.version), (code, version), "{http:?}");
        echo_both(&mut read, &mut write).await;
        write
            .close(coro_websocket::CloseCode::NORMAL, "bye")
            .await
            .unwrap();
        assert!(
            soon(read.read_message()).await.unwrap().is_none(),
            "{http:?}"
        );
        assert_eq!(
            read.close_frame().map(|f| f.code),
            Some(coro_websocket::CloseCode::NORMAL)
        );
    }
}

#[tokio::test]
async fn axum_serves_tokio_tungstenite_over_http1() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as TMessage;
    let addr = axum_app().await;
    let (mut ws, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo"))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    ws.send(TMessage::text("from tungstenite")).await.unwrap();
    let got = soon(ws.next()).await.unwrap().unwrap();
    assert_eq!(got, TMessage::text("from tungstenite"));
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn permessage_deflate_over_http1_and_http2() {
    let addr = axum_app().await;
    for http in [Http::Http1, Http::Http2] {
        let (res, mut read, mut write) = coro_websocket::connect(Options {
            compression: Some(DeflateConfig::default()),
            ..options(addr, "/echo-deflate", http)
        })
        .await
        .unwrap();
        let agreed = res.extensions.unwrap_or_default();
        assert!(
            agreed.starts_with("permessage-deflate"),
            "{http:?}: {agreed}"
        );
        let text = common::json_ish(64 << 10, 7);
        write.write(Message::text(text.clone())).await.unwrap();
        let back = soon(read.read_message()).await.unwrap().unwrap();
        assert_eq!(back.as_text(), Some(text.as_str()), "{http:?}");
        echo_both(&mut read, &mut write).await;
    }
}

#[tokio::test]
async fn axum_refuses_a_bad_request_with_the_status_accept_gives() {
    let addr = axum_app().await;
    // HTTP/1.1 with the wrong version: 426 and the version we speak.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    raw.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = soon(raw.read(&mut answer)).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 426"), "{answer}");
    assert!(answer.contains("sec-websocket-version: 13"), "{answer}");
    // The request hook's refusal, over HTTP/2 too.
    for http in [Http::Http1, Http::Http2] {
        let err = coro_websocket::connect(options(addr, "/guarded", http))
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), Some(403), "{http:?}: {err}");
    }
}
