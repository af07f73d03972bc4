//! On the wire: what our server sends to a raw client (the same checks as `client_wire`).

use std::net::SocketAddr;

use coro_websocket::{DeflateConfig, Message, Opcode};

use crate::common::*;
use crate::helpers::*;

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
                check_second_copy(bits, &mut inflater, &wire, &block, fits);
            }
        }
    }
}
