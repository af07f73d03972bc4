//! permessage-deflate (RFC 7692) over real sockets: our client and our server with each other,
//! and with raw peers that check the wire (RSV1, compressed bytes, window sizes, context
//! takeover) or misbehave (RSV1 without negotiation or in the wrong place, corrupt data, invalid
//! UTF-8, answers that were never offered).
//!
//! The decompression bomb has its own file, `deflate_bomb.rs`, so that its memory measurement
//! sees no other test.

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::*;
use coro_websocket::proto::deflate::{negotiate_client, negotiate_server, Deflate, Inflater};
use coro_websocket::{
    accept, connect, CloseCode, Config, DeflateConfig, Error, HandshakeError, Message, Opcode,
    Options, ProtocolError, ServerOptions,
};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A compression config: context takeover on or off, and both window limits.
fn deflate(takeover: bool, bits: Option<u8>) -> DeflateConfig {
    let mut c = DeflateConfig::default();
    c.server_no_context_takeover = !takeover;
    c.client_no_context_takeover = !takeover;
    c.server_max_window_bits = bits;
    c.client_max_window_bits = bits;
    c
}

fn compressing_server(config: Option<DeflateConfig>) -> ServerOptions {
    ServerOptions {
        compression: config,
        ..Default::default()
    }
}

fn compressing_client(addr: SocketAddr, config: Option<DeflateConfig>) -> Options {
    Options {
        compression: config,
        ..client_options(addr)
    }
}

/// A compressing echo server with `server`'s settings, and a client connected to it offering
/// `client`'s (`None`: no compression on that side).
async fn compressed_session(
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

/// A raw client that offers `offer` and completes the upgrade; returns the peer and the
/// server's `Sec-WebSocket-Extensions` answer, if any.
async fn raw_client_offering(addr: SocketAddr, offer: &str) -> (RawPeer, Option<String>) {
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
async fn raw_compressing_client(addr: SocketAddr, offered: &DeflateConfig) -> (RawPeer, Deflate) {
    let (peer, answer) = raw_client_offering(addr, &offered.offer()).await;
    let answer = answer.expect("the server accepted permessage-deflate");
    let agreed = negotiate_client([answer.as_str()].into_iter(), offered)
        .unwrap()
        .expect("an agreement");
    (peer, agreed)
}

/// A listener whose first connection gets a raw server that answers the upgrade with
/// `answer(request_head)` as its `Sec-WebSocket-Extensions` (none if `None`).
async fn raw_server_answering(
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
async fn raw_compressing_server(
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
async fn frame_of(peer: &mut RawPeer) -> RawFrame {
    peer.next_frame().await.expect("a frame, not EOF")
}

/// Sends `msg` and checks that the echo is the same message.
async fn echo_check(
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
async fn close_cleanly(read: &mut coro_websocket::Reader, write: &mut coro_websocket::Writer) {
    soon(write.close(CloseCode::NORMAL, "")).await.unwrap();
    assert!(soon(read.read_message()).await.unwrap().is_none());
}

/// Sends a raw client frame to our server and expects it to close with `code`.
async fn expect_server_closes_with(peer: &mut RawPeer, bytes: &[u8], code: u16) {
    peer.send(bytes).await;
    let close = peer.expect_close().await;
    assert_eq!(close.close_code(), Some(code), "{close:?}");
}

/// A message as the first one of a connection is compressed under the default agreement (every
/// deflater of that agreement, the client's or the server's, starts from the same empty window).
fn first_compressed(payload: &[u8]) -> Bytes {
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
async fn server_fails_on(addr: SocketAddr, frames: &[Vec<u8>], code: u16) {
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
async fn client_fails_on(agree: bool, frames: &[Vec<u8>], code: u16) -> Error {
    let (addr, rx) = raw_server_answering(move |head| {
        agree.then(|| {
            let offer = head_header(head, "sec-websocket-extensions").expect("an offer");
            negotiate_server([offer].into_iter(), &DeflateConfig::default())
                .expect("acceptable")
                .1
        })
    })
    .await;
    let (res, mut read, _write) = soon(connect(compressing_client(
        addr,
        Some(DeflateConfig::default()),
    )))
    .await
    .unwrap();
    assert_eq!(res.extensions.is_some(), agree, "{:?}", res.extensions);
    let (mut peer, _) = soon(rx).await.unwrap();
    for f in frames {
        peer.send(f).await;
    }
    let err = soon(read.read_message()).await.unwrap_err();
    assert_eq!(peer.expect_close().await.close_code(), Some(code));
    err
}

// ---------------------------------------------------------------------------------------------
// Our client with our server
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn negotiation_is_visible_in_response_extensions() {
    let (res, mut read, mut write) = compressed_session(
        Some(DeflateConfig::default()),
        Some(DeflateConfig::default()),
    )
    .await;
    assert_eq!(res.extensions.as_deref(), Some("permessage-deflate"));
    assert_eq!(
        res.headers.get("sec-websocket-extensions"),
        Some("permessage-deflate")
    );
    echo_check(&mut read, &mut write, Message::text("negotiated")).await;
    close_cleanly(&mut read, &mut write).await;

    // Every parameter, offered by the client and granted by the server.
    let (res, mut read, mut write) = compressed_session(
        Some(deflate(false, Some(15))),
        Some(deflate(false, Some(10))),
    )
    .await;
    assert_eq!(
        res.extensions.as_deref(),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=10"
        )
    );
    echo_check(&mut read, &mut write, Message::text(json_ish(4 * KIB, 0))).await;
    close_cleanly(&mut read, &mut write).await;
}

#[tokio::test]
async fn messages_of_every_size_round_trip() {
    let (res, mut read, mut write) = compressed_session(
        Some(DeflateConfig::default()),
        Some(DeflateConfig::default()),
    )
    .await;
    assert!(res.extensions.is_some());
    let json_1k = json_ish(KIB, 0);
    let json_1m = json_ish(MIB, 0);
    let messages = [
        Message::text(""),
        Message::binary(Bytes::new()),
        Message::text("ten bytes!"),
        Message::binary(&b"0123456789"[..]),
        Message::text(json_1k.clone()),
        Message::binary(json_1k.clone().into_bytes()),
        Message::text(json_1m.clone()),
        Message::binary(noise(MIB, 7)),
        Message::binary(vec![0u8; MIB]),
        // Twice more, so that context takeover has history to use.
        Message::text(json_1k),
        Message::text(json_1m),
        Message::text("héllo wörld, ünïcödé ✓ ".repeat(10)),
    ];
    for msg in messages {
        echo_check(&mut read, &mut write, msg).await;
    }
    close_cleanly(&mut read, &mut write).await;
}

#[tokio::test]
async fn fragmented_messages_written_by_the_app_round_trip() {
    let (_res, mut read, mut write) = compressed_session(
        Some(DeflateConfig::default()),
        Some(DeflateConfig::default()),
    )
    .await;
    let parts = [json_ish(2 * KIB, 0), json_ish(3 * KIB, 0), json_ish(100, 0)];
    let mut first = Message::text(parts[0].clone());
    first.fin = false;
    soon(write.write(first)).await.unwrap();
    let mut middle = Message::new(Opcode::Continuation, parts[1].clone());
    middle.fin = false;
    soon(write.write(middle)).await.unwrap();
    soon(write.write(Message::ping("in between")))
        .await
        .unwrap();
    soon(write.write(Message::new(Opcode::Continuation, parts[2].clone())))
        .await
        .unwrap();
    let got = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(got.as_text(), Some(parts.concat().as_str()));
    // A compressed message after the fragmented one still inflates with the shared context.
    echo_check(&mut read, &mut write, Message::text(json_ish(KIB, 0))).await;
    close_cleanly(&mut read, &mut write).await;
}

#[tokio::test]
async fn context_takeover_on_and_off_round_trip() {
    for server_takeover in [true, false] {
        for client_takeover in [true, false] {
            let (res, mut read, mut write) = compressed_session(
                Some(deflate(server_takeover, None)),
                Some(deflate(client_takeover, None)),
            )
            .await;
            let ext = res.extensions.unwrap();
            let off = !(server_takeover && client_takeover);
            assert_eq!(ext.contains("server_no_context_takeover"), off, "{ext}");
            assert_eq!(ext.contains("client_no_context_takeover"), off, "{ext}");
            let json = json_ish(8 * KIB, 0);
            for _ in 0..3 {
                echo_check(&mut read, &mut write, Message::text(json.clone())).await;
                echo_check(&mut read, &mut write, Message::binary(noise(KIB, 3))).await;
            }
            close_cleanly(&mut read, &mut write).await;
        }
    }
}

#[tokio::test]
async fn window_bits_9_12_15_on_each_side_round_trip() {
    for server_bits in [9u8, 12, 15] {
        for client_bits in [9u8, 12, 15] {
            // Once both limits set by the server, once both asked for by the client.
            for client_asks in [false, true] {
                let mut limits = DeflateConfig::default();
                limits.server_max_window_bits = Some(server_bits);
                limits.client_max_window_bits = Some(client_bits);
                let (server, client) = if client_asks {
                    (DeflateConfig::default(), limits)
                } else {
                    (limits, DeflateConfig::default())
                };
                let (res, mut read, mut write) =
                    compressed_session(Some(server), Some(client)).await;
                assert_eq!(
                    res.extensions.as_deref(),
                    Some(
                        format!(
                            "permessage-deflate; server_max_window_bits={server_bits}; \
                         client_max_window_bits={client_bits}"
                        )
                        .as_str()
                    )
                );
                // Repeats at distances both inside and beyond the smallest window.
                let block = noise(3000, u64::from(server_bits * 16 + client_bits));
                let repeated: Vec<u8> = block.iter().copied().cycle().take(64 * KIB).collect();
                for _ in 0..2 {
                    echo_check(&mut read, &mut write, Message::binary(repeated.clone())).await;
                    echo_check(&mut read, &mut write, Message::text(json_ish(20 * KIB, 0))).await;
                }
                close_cleanly(&mut read, &mut write).await;
            }
        }
    }
}

#[tokio::test]
async fn a_declining_server_leaves_traffic_uncompressed_and_working() {
    // The server does not do compression: the client's offer is declined.
    let (res, mut read, mut write) = compressed_session(None, Some(DeflateConfig::default())).await;
    assert_eq!(res.extensions, None);
    assert_eq!(res.headers.get("sec-websocket-extensions"), None);
    echo_check(&mut read, &mut write, Message::text(json_ish(64 * KIB, 0))).await;
    echo_check(&mut read, &mut write, Message::binary(vec![7u8; 1000])).await;
    close_cleanly(&mut read, &mut write).await;

    // The client offers nothing: a compressing server has nothing to accept.
    let (res, mut read, mut write) = compressed_session(Some(DeflateConfig::default()), None).await;
    assert_eq!(res.extensions, None);
    echo_check(&mut read, &mut write, Message::text(json_ish(64 * KIB, 0))).await;
    close_cleanly(&mut read, &mut write).await;

    // On the wire, a declining server sends RSV1 clear and the payload as is.
    let addr = echo_server(compressing_server(None)).await;
    let (mut peer, answer) = raw_client_offering(addr, &DeflateConfig::default().offer()).await;
    assert_eq!(answer, None);
    let json = json_ish(4 * KIB, 0);
    peer.send_frame(true, 1, json.as_bytes()).await;
    let echo = frame_of(&mut peer).await;
    assert_eq!((echo.rsv, echo.payload), (0, json.into_bytes()));
}

#[tokio::test]
async fn the_message_limit_applies_to_inflated_sizes() {
    let mut config = Config::default();
    config.max_message_size = MIB as u64;
    let (addr, _outcomes) = echo_server_with_outcomes(ServerOptions {
        compression: Some(DeflateConfig::default()),
        config,
        ..Default::default()
    })
    .await;
    // 2 MiB of zeros is a few KiB on the wire: far below the limit until inflated.
    let wire = first_compressed(&vec![0u8; 2 * MIB]);
    assert!(wire.len() < 8 * KIB, "{}", wire.len());
    server_fails_on(addr, &[frame(true, 4, 2, Some(KEY), &wire)], 1009).await;

    // The same split over frames: the limit counts the whole message.
    let (a, b) = wire.split_at(wire.len() / 2);
    server_fails_on(
        addr,
        &[
            frame(false, 4, 2, Some(KEY), a),
            frame(true, 0, 0, Some(KEY), b),
        ],
        1009,
    )
    .await;

    // Exactly at the limit is fine.
    let (mut peer, agreed) = raw_compressing_client(addr, &DeflateConfig::default()).await;
    let wire = agreed.deflater().compress(&vec![1u8; MIB]);
    peer.send(&frame(true, 4, 2, Some(KEY), &wire)).await;
    let echo = frame_of(&mut peer).await;
    assert_eq!(echo.rsv, 4);
    let back = agreed
        .inflater(MIB as u64)
        .inflate(&echo.payload, true)
        .unwrap();
    assert!(back.len() == MIB && back.iter().all(|&b| b == 1));
}

// ---------------------------------------------------------------------------------------------
// On the wire: what our client sends (to a raw server)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn client_wire_small_and_opted_out_messages_are_uncompressed() {
    let (addr, rx) = raw_compressing_server(DeflateConfig::default()).await;
    let (res, _read, mut write) = soon(connect(compressing_client(
        addr,
        Some(DeflateConfig::default()),
    )))
    .await
    .unwrap();
    assert_eq!(res.extensions.as_deref(), Some("permessage-deflate"));
    let (mut peer, agreed) = soon(rx).await.unwrap();
    let mut inflater = agreed.inflater(64 * MIB as u64);

    // Below the threshold (64 B by default): RSV1 clear, payload as is.
    for (opcode, payload) in [
        (Opcode::Text, ""),
        (Opcode::Binary, ""),
        (Opcode::Text, "ten bytes!"),
    ] {
        soon(write.write(Message::new(opcode, payload)))
            .await
            .unwrap();
        let f = frame_of(&mut peer).await;
        assert_eq!(
            (f.rsv, f.opcode, f.payload.as_slice()),
            (0, opcode as u8, payload.as_bytes())
        );
    }
    let just_below = "x".repeat(63);
    soon(write.write(Message::text(just_below.clone())))
        .await
        .unwrap();
    let f = frame_of(&mut peer).await;
    assert_eq!((f.rsv, f.payload), (0, just_below.into_bytes()));

    // At or above it: RSV1 set, and the payload inflates to the message.
    for payload in ["y".repeat(64), json_ish(KIB, 0)] {
        soon(write.write(Message::text(payload.clone())))
            .await
            .unwrap();
        let f = frame_of(&mut peer).await;
        assert_eq!((f.rsv, f.opcode, f.fin), (4, 1, true));
        assert!(f.payload.len() < payload.len());
        assert_eq!(
            &inflater.inflate(&f.payload, true).unwrap()[..],
            payload.as_bytes()
        );
    }

    // `compress: false`: sent as is even though it is large and compressible.
    let json = json_ish(KIB, 0);
    soon(write.write(Message {
        compress: false,
        ..Message::text(json.clone())
    }))
    .await
    .unwrap();
    let f = frame_of(&mut peer).await;
    assert_eq!((f.rsv, f.payload), (0, json.clone().into_bytes()));

    // Fragments written by the application: every frame sent as is, RSV1 clear.
    let mut first = Message::text(json.clone());
    first.fin = false;
    soon(write.write(first)).await.unwrap();
    soon(write.write(Message::ping(vec![b'p'; 100])))
        .await
        .unwrap();
    soon(write.write(Message::new(Opcode::Continuation, json.clone())))
        .await
        .unwrap();
    for (fin, opcode) in [(false, 1), (true, 9), (true, 0)] {
        let f = frame_of(&mut peer).await;
        assert_eq!((f.fin, f.rsv, f.opcode), (fin, 0, opcode));
    }

    // Control frames are never compressed.
    soon(write.write(Message::pong(vec![b'q'; 125])))
        .await
        .unwrap();
    let f = frame_of(&mut peer).await;
    assert_eq!((f.rsv, f.opcode, f.payload.len()), (0, 10, 125));

    // And compression resumes after all that, with the context intact.
    soon(write.write(Message::binary(json.clone().into_bytes())))
        .await
        .unwrap();
    let f = frame_of(&mut peer).await;
    assert_eq!((f.rsv, f.opcode), (4, 2));
    assert_eq!(
        &inflater.inflate(&f.payload, true).unwrap()[..],
        json.as_bytes()
    );
    soon(write.close(CloseCode::NORMAL, "")).await.unwrap();
    let f = frame_of(&mut peer).await;
    assert_eq!((f.rsv, f.close_code()), (0, Some(1000)));
}

#[tokio::test]
async fn client_wire_threshold_zero_compresses_even_empty_messages() {
    let mut config = DeflateConfig::default();
    config.threshold = 0;
    let (addr, rx) = raw_compressing_server(DeflateConfig::default()).await;
    let (_res, _read, mut write) = soon(connect(compressing_client(addr, Some(config))))
        .await
        .unwrap();
    let (mut peer, agreed) = soon(rx).await.unwrap();
    let mut inflater = agreed.inflater(MIB as u64);
    for payload in ["", "a", "ten bytes!"] {
        soon(write.write(Message::text(payload))).await.unwrap();
        let f = frame_of(&mut peer).await;
        assert_eq!(f.rsv, 4, "{payload:?}");
        assert!(!f.payload.is_empty());
        assert_eq!(
            &inflater.inflate(&f.payload, true).unwrap()[..],
            payload.as_bytes()
        );
    }
}

#[tokio::test]
async fn client_wire_context_takeover_on_and_off() {
    for takeover in [true, false] {
        let (addr, rx) = raw_compressing_server(deflate(takeover, None)).await;
        let (res, _read, mut write) = soon(connect(compressing_client(
            addr,
            Some(DeflateConfig::default()),
        )))
        .await
        .unwrap();
        assert_eq!(
            res.extensions
                .unwrap()
                .contains("client_no_context_takeover"),
            !takeover
        );
        let (mut peer, agreed) = soon(rx).await.unwrap();
        let mut inflater = agreed.inflater(MIB as u64);
        let json = json_ish(4 * KIB, 0);
        let mut sizes = Vec::new();
        let mut wires = Vec::new();
        for _ in 0..3 {
            soon(write.write(Message::text(json.clone())))
                .await
                .unwrap();
            let f = frame_of(&mut peer).await;
            assert_eq!(f.rsv, 4);
            assert_eq!(
                &inflater.inflate(&f.payload, true).unwrap()[..],
                json.as_bytes()
            );
            sizes.push(f.payload.len());
            wires.push(f.payload);
        }
        if takeover {
            // The repeat is back-references into the previous message: a few bytes per 258.
            assert!(sizes[1] < 64 && sizes[2] < 64, "{sizes:?}");
        } else {
            // Each message starts from an empty window: the same bytes every time.
            assert!(wires[0] == wires[1] && wires[1] == wires[2], "{sizes:?}");
            assert!(sizes[0] > 100, "{sizes:?}");
        }
    }
}

/// Inflates the two compressed copies of `block` a peer sent, with the inflater of the whole
/// connection (whose window is the agreed one), and returns the compressed size of the second.
fn second_copy_size(bits: u8, inflater: &mut Inflater, wire: &[Vec<u8>], block: &[u8]) -> usize {
    for w in wire {
        // An inflater with the agreed (smaller) window fails with "distance too far back" if the
        // sender used a larger window than agreed.
        let out = inflater
            .inflate(w, true)
            .unwrap_or_else(|e| panic!("{bits} bits: {e}"));
        assert!(out == block, "{bits} bits");
    }
    wire[1].len()
}

#[tokio::test]
async fn client_wire_window_bits_take_effect() {
    for bits in [9u8, 12, 15] {
        // The raw server limits the client's window (our client always allows that).
        let mut limit = DeflateConfig::default();
        limit.client_max_window_bits = Some(bits);
        let (addr, rx) = raw_compressing_server(limit).await;
        let (res, _read, mut write) = soon(connect(compressing_client(
            addr,
            Some(DeflateConfig::default()),
        )))
        .await
        .unwrap();
        assert_eq!(
            res.extensions.unwrap(),
            format!("permessage-deflate; client_max_window_bits={bits}")
        );
        let (mut peer, agreed) = soon(rx).await.unwrap();
        assert_eq!(agreed.remote_max_window_bits, bits);
        let mut inflater = agreed.inflater(MIB as u64);
        // zlib matches at most 262 bytes less than the window back: a quarter window fits.
        let window = 1usize << bits;
        for (block, fits) in [(noise(window / 4, 1), true), (noise(window * 2, 2), false)] {
            let mut wire = Vec::new();
            for _ in 0..2 {
                soon(write.write(Message::binary(block.clone())))
                    .await
                    .unwrap();
                let f = frame_of(&mut peer).await;
                assert_eq!(f.rsv, 4);
                wire.push(f.payload);
            }
            let second = second_copy_size(bits, &mut inflater, &wire, &block);
            if fits {
                assert!(second < block.len() / 4, "{bits} bits: {second}");
            } else {
                assert!(second >= block.len(), "{bits} bits: {second}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// On the wire: what our server sends (to a raw client)
// ---------------------------------------------------------------------------------------------

/// A server that accepts one connection with `config` and writes `messages` to it.
async fn server_writing(config: DeflateConfig, messages: Vec<Message>) -> SocketAddr {
    let (addr, rx) = accept_one(compressing_server(Some(config))).await;
    tokio::spawn(async move {
        let (_req, mut read, mut write) = rx.await.unwrap().unwrap();
        for m in messages {
            write.write(m).await.unwrap();
        }
        // Keep reading so the close handshake completes.
        while let Ok(Some(_)) = read.read_message().await {}
    });
    addr
}

#[tokio::test]
async fn server_wire_small_and_opted_out_messages_are_uncompressed() {
    let json = json_ish(KIB, 0);
    let mut first = Message::binary(json.clone().into_bytes());
    first.fin = false;
    let messages = vec![
        Message::text(""),
        Message::binary(&b"0123456789"[..]),
        Message::text(json.clone()),
        Message {
            compress: false,
            ..Message::text(json.clone())
        },
        first,
        Message::new(Opcode::Continuation, json.clone()),
        Message::ping(vec![0u8; 125]),
        Message::binary(json.clone().into_bytes()),
    ];
    let addr = server_writing(DeflateConfig::default(), messages).await;
    let (mut peer, agreed) = raw_compressing_client(addr, &DeflateConfig::default()).await;
    let mut inflater = agreed.inflater(MIB as u64);
    let mut expect = |fin: bool, rsv: u8, opcode: u8, payload: &[u8], f: RawFrame| {
        assert_eq!(
            (f.fin, f.rsv, f.opcode, f.masked),
            (fin, rsv, opcode, false)
        );
        let got = if rsv == 4 {
            assert!(f.payload.len() < payload.len());
            inflater.inflate(&f.payload, true).unwrap().to_vec()
        } else {
            f.payload
        };
        assert!(got == payload, "opcode {opcode}");
    };
    let j = json.as_bytes();
    expect(true, 0, 1, b"", frame_of(&mut peer).await);
    expect(true, 0, 2, b"0123456789", frame_of(&mut peer).await);
    expect(true, 4, 1, j, frame_of(&mut peer).await);
    expect(true, 0, 1, j, frame_of(&mut peer).await);
    expect(false, 0, 2, j, frame_of(&mut peer).await);
    expect(true, 0, 0, j, frame_of(&mut peer).await);
    expect(true, 0, 9, &[0u8; 125], frame_of(&mut peer).await);
    expect(true, 4, 2, j, frame_of(&mut peer).await);
}

#[tokio::test]
async fn server_wire_context_takeover_on_and_off() {
    for (takeover_asked, takeover_configured) in [(true, true), (false, true), (true, false)] {
        let json = json_ish(4 * KIB, 0);
        let addr = server_writing(
            deflate(takeover_configured, None),
            vec![Message::text(json.clone()); 3],
        )
        .await;
        let (mut peer, agreed) = raw_compressing_client(addr, &deflate(takeover_asked, None)).await;
        let takeover = takeover_asked && takeover_configured;
        assert_eq!(agreed.remote_no_context_takeover, !takeover);
        let mut inflater = agreed.inflater(MIB as u64);
        let mut wires = Vec::new();
        for _ in 0..3 {
            let f = frame_of(&mut peer).await;
            assert_eq!(f.rsv, 4);
            assert_eq!(
                &inflater.inflate(&f.payload, true).unwrap()[..],
                json.as_bytes()
            );
            wires.push(f.payload);
        }
        if takeover {
            assert!(
                wires[1].len() < 64 && wires[2].len() < 64,
                "{}",
                wires[1].len()
            );
        } else {
            assert!(wires[0] == wires[1] && wires[1] == wires[2]);
            assert!(wires[0].len() > 100);
        }
    }
}

#[tokio::test]
async fn server_wire_window_bits_take_effect() {
    for bits in [9u8, 12, 15] {
        // Once asked for by the client, once configured on the server.
        for asked in [true, false] {
            let window = 1usize << bits;
            let small = noise(window / 4, 11);
            let large = noise(window * 2, 12);
            let messages = vec![
                Message::binary(small.clone()),
                Message::binary(small.clone()),
                Message::binary(large.clone()),
                Message::binary(large.clone()),
            ];
            let (offer, config) = if asked {
                let mut offer = DeflateConfig::default();
                offer.server_max_window_bits = Some(bits);
                (offer, DeflateConfig::default())
            } else {
                let mut config = DeflateConfig::default();
                config.server_max_window_bits = Some(bits);
                (DeflateConfig::default(), config)
            };
            let addr = server_writing(config, messages).await;
            let (mut peer, agreed) = raw_compressing_client(addr, &offer).await;
            assert_eq!(agreed.remote_max_window_bits, bits);
            let mut inflater = agreed.inflater(MIB as u64);
            for (block, fits) in [(small, true), (large, false)] {
                let mut wire = Vec::new();
                for _ in 0..2 {
                    let f = frame_of(&mut peer).await;
                    assert_eq!(f.rsv, 4);
                    wire.push(f.payload);
                }
                let second = second_copy_size(bits, &mut inflater, &wire, &block);
                if fits {
                    assert!(second < block.len() / 4, "{bits} bits: {second}");
                } else {
                    assert!(second >= block.len(), "{bits} bits: {second}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What a compressing peer may send: fragments, stored and BFINAL blocks
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn server_inflates_compressed_fragments_with_control_frames_between() {
    let addr = echo_server(compressing_server(Some(DeflateConfig::default()))).await;
    let (mut peer, agreed) = raw_compressing_client(addr, &DeflateConfig::default()).await;
    let mut deflater = agreed.deflater();
    let mut inflater = agreed.inflater(MIB as u64);
    // Multi-byte UTF-8 split anywhere by the compressed stream's fragmentation.
    let text = "héllo wörld, ünïcödé ✓ — ".repeat(400);
    let wire = deflater.compress(text.as_bytes());
    let cuts = [
        0,
        1,
        wire.len() / 3,
        wire.len() / 2,
        wire.len() - 1,
        wire.len(),
    ];
    for (i, pair) in cuts.windows(2).enumerate() {
        let (fin, rsv, opcode) = match i {
            0 => (false, 4, 1),
            4 => (true, 0, 0),
            _ => (false, 0, 0),
        };
        peer.send(&frame(fin, rsv, opcode, Some(KEY), &wire[pair[0]..pair[1]]))
            .await;
        if i == 2 {
            peer.send(&frame(true, 0, 9, Some(KEY), b"ping")).await;
        }
    }
    let pong = frame_of(&mut peer).await;
    assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"ping"[..]));
    let echo = frame_of(&mut peer).await;
    assert_eq!((echo.rsv, echo.opcode), (4, 1));
    assert_eq!(
        &inflater.inflate(&echo.payload, true).unwrap()[..],
        text.as_bytes()
    );

    // An uncompressed message between compressed ones is taken as is.
    peer.send(&frame(true, 0, 2, Some(KEY), b"plain")).await;
    let echo = frame_of(&mut peer).await;
    assert_eq!((echo.rsv, echo.payload.as_slice()), (0, &b"plain"[..]));
    let wire = deflater.compress(text.as_bytes());
    peer.send(&frame(true, 4, 1, Some(KEY), &wire)).await;
    let echo = frame_of(&mut peer).await;
    assert_eq!(
        &inflater.inflate(&echo.payload, true).unwrap()[..],
        text.as_bytes()
    );
}

/// RFC 7692 §7.2.3: "Hello" compressed.
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// RFC 7692 §7.2.3.3: "Hello" in a stored block.
const HELLO_STORED: [u8; 11] = [
    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
];
/// RFC 7692 §7.2.3.4: "Hello" in a block with BFINAL set (and one padding byte).
const HELLO_BFINAL: [u8; 8] = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];

#[tokio::test]
async fn client_reads_the_rfc_examples_in_a_row() {
    let (addr, rx) = raw_compressing_server(DeflateConfig::default()).await;
    let (_res, mut read, _write) = soon(connect(compressing_client(
        addr,
        Some(DeflateConfig::default()),
    )))
    .await
    .unwrap();
    let (mut peer, _agreed) = soon(rx).await.unwrap();
    // §7.2.3.1 then §7.2.3.2 (the second "Hello" refers back into the first).
    peer.send(&frame(true, 4, 1, None, &HELLO)).await;
    peer.send(&frame(true, 4, 1, None, &[0xf2, 0x00, 0x11, 0x00, 0x00]))
        .await;
    peer.send(&frame(true, 4, 1, None, &HELLO_STORED)).await;
    // §7.2.3.4: a BFINAL block ends the DEFLATE stream; the next message starts a new one.
    peer.send(&frame(true, 4, 1, None, &HELLO_BFINAL)).await;
    peer.send(&frame(true, 4, 1, None, &HELLO)).await;
    peer.send(&frame(true, 4, 1, None, &HELLO_BFINAL)).await;
    peer.send(&frame(true, 4, 1, None, &HELLO_STORED)).await;
    for i in 0..7 {
        let m = soon(read.read_message())
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"))
            .unwrap();
        assert_eq!(m.as_text(), Some("Hello"), "message {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// Violations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rsv1_without_negotiation_is_1002() {
    for server in [None, Some(DeflateConfig::default())] {
        // No offer: nothing negotiated, whatever the server would accept.
        let addr = echo_server(compressing_server(server.clone())).await;
        let (mut peer, answer) = raw_client_offering(addr, "").await;
        assert_eq!(answer, None);
        let wire = first_compressed(json_ish(KIB, 0).as_bytes());
        expect_server_closes_with(&mut peer, &frame(true, 4, 1, Some(KEY), &wire), 1002).await;
    }
    // An offer the server declined.
    let addr = echo_server(compressing_server(None)).await;
    let (mut peer, answer) = raw_client_offering(addr, "permessage-deflate").await;
    assert_eq!(answer, None);
    expect_server_closes_with(&mut peer, &frame(true, 4, 2, Some(KEY), &HELLO), 1002).await;

    // Our client, when the server did not agree to compression.
    let err = client_fails_on(false, &[frame(true, 4, 1, None, &HELLO)], 1002).await;
    assert!(
        matches!(err, Error::Protocol(ProtocolError::ReservedBits)),
        "{err}"
    );
}

#[tokio::test]
async fn rsv2_and_rsv3_stay_forbidden_after_negotiation() {
    let addr = echo_server(compressing_server(Some(DeflateConfig::default()))).await;
    for rsv in [0b010, 0b001, 0b110] {
        server_fails_on(addr, &[frame(true, rsv, 1, Some(KEY), b"hi")], 1002).await;
    }
}

#[tokio::test]
async fn rsv1_on_a_continuation_or_control_frame_is_1002() {
    let addr = echo_server(compressing_server(Some(DeflateConfig::default()))).await;
    // A continuation of a compressed message.
    let wire = first_compressed(json_ish(KIB, 0).as_bytes());
    let (a, b) = wire.split_at(wire.len() / 2);
    server_fails_on(
        addr,
        &[
            frame(false, 4, 1, Some(KEY), a),
            frame(true, 4, 0, Some(KEY), b),
        ],
        1002,
    )
    .await;
    // A continuation of an uncompressed message.
    server_fails_on(
        addr,
        &[
            frame(false, 0, 1, Some(KEY), b"plain "),
            frame(true, 4, 0, Some(KEY), &HELLO),
        ],
        1002,
    )
    .await;
    // Control frames, alone or in the middle of a compressed message.
    for opcode in [9u8, 10, 8] {
        let payload = if opcode == 8 {
            vec![0x03, 0xe8]
        } else {
            HELLO.to_vec()
        };
        server_fails_on(addr, &[frame(true, 4, opcode, Some(KEY), &payload)], 1002).await;
    }
    server_fails_on(
        addr,
        &[
            frame(false, 4, 1, Some(KEY), &HELLO[..3]),
            frame(true, 4, 9, Some(KEY), b""),
        ],
        1002,
    )
    .await;

    // Our client holds a server to the same rules.
    for frames in [
        vec![
            frame(false, 4, 1, None, &HELLO[..3]),
            frame(true, 4, 0, None, &HELLO[3..]),
        ],
        vec![frame(true, 4, 9, None, b"")],
    ] {
        let err = client_fails_on(true, &frames, 1002).await;
        assert!(
            matches!(
                err,
                Error::Protocol(ProtocolError::CompressedControlOrContinuation)
            ),
            "{err}"
        );
    }
}

#[tokio::test]
async fn corrupt_compressed_data_is_1007() {
    let addr = echo_server(compressing_server(Some(DeflateConfig::default()))).await;
    let garbage: [&[u8]; 4] = [
        &[0xff, 0xff, 0xff],
        // A stored block whose length check fails.
        &[0x00, 0x05, 0x00, 0x00, 0x00, b'H', b'e', b'l', b'l', b'o'],
        // BTYPE 11 (reserved).
        &[0x07, 0x00],
        // A fixed-Huffman block whose first symbol copies from before the start of the stream.
        &[0x02, 0x02, 0x00],
    ];
    for bytes in garbage {
        for opcode in [1u8, 2] {
            server_fails_on(addr, &[frame(true, 4, opcode, Some(KEY), bytes)], 1007).await;
        }
    }
    // Our client, from a raw server.
    let err = client_fails_on(true, &[frame(true, 4, 2, None, &[0xff, 0xff, 0xff])], 1007).await;
    assert!(
        matches!(err, Error::Protocol(ProtocolError::InvalidCompressedData)),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_utf8_inside_compressed_text_is_1007() {
    let addr = echo_server(compressing_server(Some(DeflateConfig::default()))).await;
    let bad: [&[u8]; 3] = [
        b"\xff\xfe not UTF-8 at all",
        // Truncated at the end of the message: the last code point is incomplete.
        "valid until the end é".as_bytes().split_last().unwrap().1,
        // A surrogate.
        b"text with \xed\xa0\x80 a surrogate",
    ];
    for bytes in bad {
        let wire = first_compressed(bytes);
        // In one frame.
        server_fails_on(addr, &[frame(true, 4, 1, Some(KEY), &wire)], 1007).await;
        // Split over frames.
        let (a, b) = wire.split_at(wire.len() / 2);
        server_fails_on(
            addr,
            &[
                frame(false, 4, 1, Some(KEY), a),
                frame(true, 0, 0, Some(KEY), b),
            ],
            1007,
        )
        .await;
    }
    // The same bytes are fine in a compressed binary message.
    let (mut peer, agreed) = raw_compressing_client(addr, &DeflateConfig::default()).await;
    let wire = agreed.deflater().compress(bad[0]);
    peer.send(&frame(true, 4, 2, Some(KEY), &wire)).await;
    let echo = frame_of(&mut peer).await;
    assert_eq!(echo.opcode, 2);

    // Our client, from a raw server.
    let wire = first_compressed(bad[0]);
    let err = client_fails_on(true, &[frame(true, 4, 1, None, &wire)], 1007).await;
    assert!(
        matches!(err, Error::Protocol(ProtocolError::InvalidUtf8)),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// The client's check of the server's answer
// ---------------------------------------------------------------------------------------------

/// Connects our client, offering `offered`, to a raw server that answers `answer`.
async fn connect_to_answer(
    offered: Option<DeflateConfig>,
    answer: &'static str,
) -> Result<(), Error> {
    let (addr, _rx) = raw_server_answering(move |_| Some(answer.to_owned())).await;
    soon(connect(compressing_client(addr, offered)))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn client_rejects_answers_it_did_not_offer() {
    let mut narrow = DeflateConfig::default();
    narrow.server_max_window_bits = Some(10);
    narrow.client_max_window_bits = Some(10);
    for answer in [
        // A parameter that does not exist.
        "permessage-deflate; x_custom_param=1",
        "permessage-deflate; server_max_window_bits=10; mystery",
        // A window larger than the client allowed, for either side.
        "permessage-deflate; server_max_window_bits=12",
        "permessage-deflate; client_max_window_bits=11",
        // Broken values and repeats.
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_no_context_takeover=yes",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        // Extensions never offered, alone or besides the one that was.
        "x-webkit-deflate-frame",
        "permessage-deflate, x-webkit-deflate-frame",
        "permessage-deflate, permessage-deflate",
    ] {
        let err = connect_to_answer(Some(narrow.clone()), answer)
            .await
            .expect_err(answer);
        assert!(
            matches!(
                err,
                Error::Handshake(
                    HandshakeError::InvalidExtension(_) | HandshakeError::UnexpectedExtension(_)
                )
            ),
            "{answer}: {err}"
        );
    }
    // An answer to an offer that was never made.
    let err = connect_to_answer(None, "permessage-deflate")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Handshake(HandshakeError::UnexpectedExtension(_))
        ),
        "{err}"
    );
    // What the RFC lets a server add unasked is accepted.
    for answer in [
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=9",
        "permessage-deflate; client_max_window_bits=9",
        "permessage-deflate; server_max_window_bits=\"10\"",
    ] {
        connect_to_answer(Some(narrow.clone()), answer)
            .await
            .unwrap_or_else(|e| panic!("{answer}: {e}"));
    }
}

#[tokio::test]
async fn servers_decline_offers_they_cannot_accept_and_take_the_next() {
    let addr = echo_server(compressing_server(Some(DeflateConfig::default()))).await;
    for (offer, expected) in [
        ("permessage-deflate; unknown_param", None),
        ("permessage-deflate; server_max_window_bits=16", None),
        ("permessage-deflate; client_max_window_bits=7", None),
        ("x-webkit-deflate-frame", None),
        (
            "permessage-deflate; bogus, permessage-deflate; server_no_context_takeover",
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        (
            "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=9",
            Some("permessage-deflate; client_max_window_bits=9"),
        ),
    ] {
        let (mut peer, answer) = raw_client_offering(addr, offer).await;
        assert_eq!(answer.as_deref(), expected, "{offer}");
        // Either way, the connection works.
        peer.send_frame(true, 1, b"still here").await;
        let echo = frame_of(&mut peer).await;
        assert_eq!((echo.rsv, echo.payload.as_slice()), (0, &b"still here"[..]));
    }
}

#[tokio::test]
async fn invalid_settings_are_refused_before_connecting() {
    let mut bad = DeflateConfig::default();
    bad.client_max_window_bits = Some(16);
    let addr = echo_server(compressing_server(None)).await;
    let err = connect(compressing_client(addr, Some(bad.clone())))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeflateConfig(_)), "{err}");

    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        accept(tcp, compressing_server(Some(bad))).await.map(|_| ())
    });
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let err = soon(server).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::DeflateConfig(_)), "{err}");
}
