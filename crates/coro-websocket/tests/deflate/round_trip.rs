//! Our client with our server: negotiation as the response shows it, messages of every size,
//! fragments, context takeover and window sizes, a declining side, and the message limit.

use bytes::Bytes;
use coro_websocket::{Config, DeflateConfig, Message, Opcode, ServerOptions};

use crate::common::*;
use crate::helpers::*;

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
