//! Shared by the deflate tests: configs, compressing sessions, raw compressing peers on either
//! side, the failing-peer checks, and the RFC 7692 example bytes.

use std::net::SocketAddr;

use bytes::Bytes;
use coro_websocket::proto::deflate::{negotiate_client, negotiate_server, Deflate, Inflater};
use coro_websocket::{connect, CloseCode, DeflateConfig, Error, Message, Options, ServerOptions};

use crate::common::*;

pub const KIB: usize = 1 << 10;
pub const MIB: usize = 1 << 20;

/// A compression config: context takeover on or off, and both window limits.
pub fn deflate(takeover: bool, bits: Option<u8>) -> DeflateConfig {
    let mut c = DeflateConfig::default();
    c.server_no_context_takeover = !takeover;
    c.client_no_context_takeover = !takeover;
    c.server_max_window_bits = bits;
    c.client_max_window_bits = bits;
    c
}

pub fn compressing_server(config: Option<DeflateConfig>) -> ServerOptions {
    ServerOptions {
        compression: config,
        ..Default::default()
    }
}

pub fn compressing_client(addr: SocketAddr, config: Option<DeflateConfig>) -> Options {
    Options {
        compression: config,
        ..client_options(addr)
    }
}

/// A compressing echo server with `server`'s settings, and a client connected to it offering
/// `client`'s (`None`: no compression on that side).
pub async fn compressed_session(
    server: Option<DeflateConfig>,
    client: Option<DeflateConfig>,
) -> (
    coro_websocket::Response,
    coro_websocket::Reader,
    coro_websocket::Writer,
) {
    let addr = echo_server(compressing_server(server)).await;
    soon(connect(compressing_client(addr, client)))
        .await
        .unwrap()
}

/// Our client, offering the default permessage-deflate, connected to `addr`.
pub async fn connect_offering_default(
    addr: SocketAddr,
) -> (
    coro_websocket::Response,
    coro_websocket::Reader,
    coro_websocket::Writer,
) {
    soon(connect(compressing_client(
        addr,
        Some(DeflateConfig::default()),
    )))
    .await
    .unwrap()
}

/// A raw client that offers `offer` and completes the upgrade; returns the peer and the
/// server's `Sec-WebSocket-Extensions` answer, if any.
pub async fn raw_client_offering(addr: SocketAddr, offer: &str) -> (RawPeer, Option<String>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut peer = RawPeer {
        tcp,
        buf: Vec::new(),
        client: true,
    };
    let extra = if offer.is_empty() {
        String::new()
    } else {
        format!("Sec-WebSocket-Extensions: {offer}\r\n")
    };
    peer.send(upgrade_request("/", &extra).as_bytes()).await;
    let head = peer.read_head().await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let answer = head_header(&head, "sec-websocket-extensions").map(str::to_owned);
    (peer, answer)
}

/// A raw client that offers `offered` and gets it accepted: returns the peer and the agreement
/// from the client's side (for its own `Deflater` and `Inflater`).
pub async fn raw_compressing_client(
    addr: SocketAddr,
    offered: &DeflateConfig,
) -> (RawPeer, Deflate) {
    let (peer, answer) = raw_client_offering(addr, &offered.offer()).await;
    let answer = answer.expect("the server accepted permessage-deflate");
    let agreed = negotiate_client([answer.as_str()].into_iter(), offered)
        .unwrap()
        .expect("an agreement");
    (peer, agreed)
}

/// A listener whose first connection gets a raw server that answers the upgrade with
/// `answer(request_head)` as its `Sec-WebSocket-Extensions` (none if `None`).
pub async fn raw_server_answering(
    answer: impl FnOnce(&str) -> Option<String> + Send + 'static,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Receiver<(RawPeer, String)>,
) {
    let (l, addr) = listener().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let (mut peer, head, key) = read_upgrade_request(tcp).await;
        let key = key.as_str();
        let ext = answer(&head)
            .map(|a| format!("Sec-WebSocket-Extensions: {a}\r\n"))
            .unwrap_or_default();
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{ext}\r\n",
            coro_websocket::handshake::accept_key(key)
        );
        peer.send(response.as_bytes()).await;
        let _ = tx.send((peer, head));
    });
    (addr, rx)
}

/// A raw server that negotiates like ours would with `config`; returns the agreement from the
/// server's side along with the peer.
pub async fn raw_compressing_server(
    config: DeflateConfig,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Receiver<(RawPeer, Deflate)>,
) {
    let (agreed_tx, agreed_rx) = std::sync::mpsc::channel();
    let (addr, rx) = raw_server_answering(move |head| {
        let offer = head_header(head, "sec-websocket-extensions").expect("an offer");
        let (agreed, answer) = negotiate_server([offer].into_iter(), &config).expect("acceptable");
        agreed_tx.send(agreed).unwrap();
        Some(answer)
    })
    .await;
    let (tx, out) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (peer, _head) = rx.await.unwrap();
        let agreed = agreed_rx.recv().unwrap();
        let _ = tx.send((peer, agreed));
    });
    (addr, out)
}

/// The next data or control frame, skipping nothing; panics at EOF.
pub async fn frame_of(peer: &mut RawPeer) -> RawFrame {
    peer.next_frame().await.expect("a frame, not EOF")
}

/// Sends `msg` and checks that the echo is the same message.
pub async fn echo_check(
    read: &mut coro_websocket::Reader,
    write: &mut coro_websocket::Writer,
    msg: Message,
) {
    let (opcode, payload) = (msg.opcode, msg.payload.clone());
    soon(write.write(msg)).await.unwrap();
    let got = soon(read.read_message()).await.unwrap().expect("an echo");
    assert_eq!(got.opcode, opcode);
    assert_eq!(got.payload.len(), payload.len(), "{opcode:?}");
    assert!(got.payload == payload, "{opcode:?} of {} B", payload.len());
    assert!(
        !got.rsv1,
        "inflated messages are handed out with RSV1 clear"
    );
}

/// Closes normally and waits for the server's close to end the session.
pub async fn close_cleanly(read: &mut coro_websocket::Reader, write: &mut coro_websocket::Writer) {
    soon(write.close(CloseCode::NORMAL, "")).await.unwrap();
    assert!(soon(read.read_message()).await.unwrap().is_none());
}

/// Sends a raw client frame to our server and expects it to close with `code`.
pub async fn expect_server_closes_with(peer: &mut RawPeer, bytes: &[u8], code: u16) {
    peer.send(bytes).await;
    let close = peer.expect_close().await;
    assert_eq!(close.close_code(), Some(code), "{close:?}");
}

/// A message as the first one of a connection is compressed under the default agreement (every
/// deflater of that agreement, the client's or the server's, starts from the same empty window).
pub fn first_compressed(payload: &[u8]) -> Bytes {
    negotiate_server(
        ["permessage-deflate"].into_iter(),
        &DeflateConfig::default(),
    )
    .unwrap()
    .0
    .deflater()
    .compress(payload)
}

/// The failing-client check against our server: a raw client negotiates the default
/// permessage-deflate with the server at `addr`, sends `frames` in order, and expects our server
/// to fail the connection with a close frame of `code`.
pub async fn server_fails_on(addr: SocketAddr, frames: &[Vec<u8>], code: u16) {
    let (mut peer, _) = raw_compressing_client(addr, &DeflateConfig::default()).await;
    for f in frames {
        peer.send(f).await;
    }
    let close = peer.expect_close().await;
    assert_eq!(close.close_code(), Some(code), "{close:?}");
}

/// The same check against our client: it offers the default permessage-deflate to a raw server
/// that agrees to it (or, if `agree` is false, answers without the extension); the raw server
/// sends `frames`, our reader must fail, and the raw server must get a close frame of `code`.
/// Returns the reader's error.
pub async fn client_fails_on(agree: bool, frames: &[Vec<u8>], code: u16) -> Error {
    let (addr, rx) = raw_server_answering(move |head| {
        agree.then(|| {
            let offer = head_header(head, "sec-websocket-extensions").expect("an offer");
            negotiate_server([offer].into_iter(), &DeflateConfig::default())
                .expect("acceptable")
                .1
        })
    })
    .await;
    let (res, mut read, _write) = connect_offering_default(addr).await;
    assert_eq!(res.extensions.is_some(), agree, "{:?}", res.extensions);
    let (mut peer, _) = soon(rx).await.unwrap();
    for f in frames {
        peer.send(f).await;
    }
    let err = soon(read.read_message()).await.unwrap_err();
    assert_eq!(peer.expect_close().await.close_code(), Some(code));
    err
}

/// Inflates the two compressed copies of `block` a peer sent, with the inflater of the whole
/// connection (whose window is the agreed one), and checks the size of the second: a block that
/// `fits` in the window is mostly back-references to the first copy (under a quarter of its
/// size), one that does not fit cannot refer back to it (no smaller than the block).
pub fn check_second_copy(
    bits: u8,
    inflater: &mut Inflater,
    wire: &[Vec<u8>],
    block: &[u8],
    fits: bool,
) {
    for w in wire {
        // An inflater with the agreed (smaller) window fails with "distance too far back" if the
        // sender used a larger window than agreed.
        let out = inflater
            .inflate(w, true)
            .unwrap_or_else(|e| panic!("{bits} bits: {e}"));
        assert!(out == block, "{bits} bits");
    }
    let second = wire[1].len();
    if fits {
        assert!(second < block.len() / 4, "{bits} bits: {second}");
    } else {
        assert!(second >= block.len(), "{bits} bits: {second}");
    }
}

/// RFC 7692 §7.2.3: "Hello" compressed.
pub const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// RFC 7692 §7.2.3.3: "Hello" in a stored block.
pub const HELLO_STORED: [u8; 11] = [
    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
];
/// RFC 7692 §7.2.3.4: "Hello" in a block with BFINAL set (and one padding byte).
pub const HELLO_BFINAL: [u8; 8] = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
