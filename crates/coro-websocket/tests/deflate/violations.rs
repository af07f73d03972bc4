//! Violations: RSV1 without negotiation or on the wrong frame, RSV2/RSV3, corrupt compressed
//! data, invalid UTF-8 inside compressed text; each side fails the connection with the right code.

use coro_websocket::{error::ProtocolError, DeflateConfig, Error};

use crate::common::*;
use crate::helpers::*;

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
