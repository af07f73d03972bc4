//! On the wire: what our client sends to a raw server (RSV1, the threshold, opting out,
//! fragments and control frames, context takeover, window bits).

use coro_websocket::{connect, CloseCode, DeflateConfig, Message, Opcode};

use crate::common::*;
use crate::helpers::*;

#[tokio::test]
async fn client_wire_small_and_opted_out_messages_are_uncompressed() {
    let (addr, rx) = raw_compressing_server(DeflateConfig::default()).await;
    let (res, _read, mut write) = connect_offering_default(addr).await;
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
        let (res, _read, mut write) = connect_offering_default(addr).await;
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

#[tokio::test]
async fn client_wire_window_bits_take_effect() {
    for bits in [9u8, 12, 15] {
        // The raw server limits the client's window (our client always allows that).
        let mut limit = DeflateConfig::default();
        limit.client_max_window_bits = Some(bits);
        let (addr, rx) = raw_compressing_server(limit).await;
        let (res, _read, mut write) = connect_offering_default(addr).await;
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
            check_second_copy(bits, &mut inflater, &wire, &block, fits);
        }
    }
}
