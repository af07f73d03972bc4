//! Raw peers over one HTTP/2 stream (RFC 8441), for running the frame-level tests over HTTP/2:
//! the extended CONNECT done by hand with the h2 crate, then the stream as a byte stream.

use std::net::SocketAddr;

use bytes::Bytes;
use coro_websocket::http2::Http2Stream;
use tokio::net::TcpStream;

use super::{listener, RawPeer};

/// Connects a raw client over HTTP/2 (prior knowledge) to `addr` and opens a WebSocket stream to
/// `/` by extended CONNECT.
pub async fn raw_client_h2(addr: SocketAddr) -> RawPeer<Http2Stream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (send, mut connection) = h2::client::handshake(tcp).await.unwrap();
    let mut ping = connection.ping_pong().unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    // The server's SETTINGS (with extended CONNECT) are read once our PING comes back.
    ping.ping(h2::Ping::opaque()).await.unwrap();
    let mut send = send.ready().await.unwrap();
    assert!(send.is_extended_connect_protocol_enabled());
    let request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{addr}/"))
        .extension(h2::ext::Protocol::from_static("websocket"))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    let (answer, stream) = send.send_request(request, false).unwrap();
    let answer = answer.await.unwrap();
    assert_eq!(answer.status(), 200);
    RawPeer {
        tcp: Http2Stream::new(stream, answer.into_body()),
        buf: Vec::new(),
        client: true,
    }
}

/// A listener whose first connection is answered as an HTTP/2 server announcing extended
/// CONNECT; its first WebSocket stream (answered 200) is handed to the test as a raw server peer.
pub async fn raw_server_h2() -> (
    SocketAddr,
    tokio::sync::oneshot::Receiver<RawPeer<Http2Stream>>,
) {
    let (l, addr) = listener().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut connection = h2::server::Builder::new()
            .enable_connect_protocol()
            .handshake::<_, Bytes>(tcp)
            .await
            .unwrap();
        let (request, mut respond) = connection.accept().await.unwrap().unwrap();
        assert_eq!(request.method(), http::Method::CONNECT);
        let answer = http::Response::builder().status(200).body(()).unwrap();
        let send = respond.send_response(answer, false).unwrap();
        let _ = tx.send(RawPeer {
            tcp: Http2Stream::new(send, request.into_body()),
            buf: Vec::new(),
            client: false,
        });
        while connection.accept().await.is_some() {}
    });
    (addr, rx)
}
