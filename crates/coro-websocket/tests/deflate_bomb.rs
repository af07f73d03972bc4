//! A permessage-deflate decompression bomb: about 1 MiB on the wire that inflates to 1 GiB of
//! zeros. With the default settings the receiver closes with 1009 once the message inflates past
//! 16 times its compressed size (`DeflateConfig::max_ratio`, past a 1 MiB floor), and the
//! process grows by less than 16 MiB. With the ratio limit off, the message limit (64 MiB) stops
//! it, and memory stays near that limit, far below 1 GiB.
//!
//! This file holds a single test so that the process's peak RSS (`VmHWM`) measures the bomb and
//! nothing else.

mod common;

use std::time::Duration;

use common::*;
use coro_websocket::proto::deflate::{negotiate_client, negotiate_server};
use coro_websocket::{connect, error::ProtocolError, DeflateConfig, Error, Options, ServerOptions};

const MIB: usize = 1 << 20;
/// The inflated size of the bomb.
const BOMB_INFLATED: usize = 1 << 30;
/// A bound on the growth of peak RSS with the default settings (the target: one 1 MiB
/// bomb costs `serve --compress` less than 16 MiB).
const MAX_DEFAULT_GROWTH_KIB: u64 = 16 << 10;
/// A bound on the growth of peak RSS with the ratio limit off: the 64 MiB limit, the Vec growing
/// towards it, the frame buffers and slack. An unbounded inflater would need 1 GiB.
const MAX_GROWTH_KIB: u64 = 256 << 10;
/// Inflating 64 MiB in an unoptimized test build on a busy machine can take a while.
const BOMB_PATIENCE: Duration = Duration::from_secs(60);

/// The raw DEFLATE stream (as sent, without the final 00 00 ff ff that the receiver appends) of
/// one message of `BOMB_INFLATED` zeros, built without ever holding more than 1 MiB of zeros.
///
/// Compressing 1 MiB of zeros twice with a shared context gives a head (whose window starts
/// empty) and a body (whose window is all zeros). Every later MiB compresses to the same body,
/// so the stream is the head and 1023 bodies, joined by the sync-flush tails that the compressor
/// strips.
fn bomb() -> Vec<u8> {
    let agreed = negotiate_server(["permessage-deflate"].into_iter(), &{
        let mut c = DeflateConfig::default();
        c.level = 9;
        c
    })
    .unwrap()
    .0;
    let zeros = vec![0u8; MIB];
    let mut deflater = agreed.deflater();
    let head = deflater.compress(&zeros);
    let body = deflater.compress(&zeros);
    assert_eq!(deflater.compress(&zeros), body, "the body repeats");

    // Check the pieces: each inflates to exactly 1 MiB of zeros, the body with a window of zeros.
    let mut inflater = agreed.inflater(MIB as u64);
    for piece in [&head, &body, &body] {
        let out = inflater.inflate(piece, true).unwrap();
        assert!(out.len() == MIB && out.iter().all(|&b| b == 0));
    }

    const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
    let copies = BOMB_INFLATED / MIB;
    let mut stream = Vec::with_capacity(head.len() + copies * (body.len() + 4));
    stream.extend_from_slice(&head);
    for _ in 1..copies {
        stream.extend_from_slice(&TAIL);
        stream.extend_from_slice(&body);
    }
    stream
}

/// Waits for a close frame from the peer, longer than the other tests do.
async fn close_code(peer: &mut RawPeer) -> Option<u16> {
    tokio::time::timeout(BOMB_PATIENCE, peer.expect_close())
        .await
        .expect("a close frame in time")
        .close_code()
}

#[tokio::test]
async fn a_decompression_bomb_closes_with_1009_and_memory_stays_bounded() {
    let bomb = bomb();
    // About 1 MiB on the wire for 1 GiB inflated (DEFLATE tops out near 1032:1).
    assert!(
        bomb.len() > 900 << 10 && bomb.len() < 3 * MIB / 2,
        "{} bytes",
        bomb.len()
    );
    let before = proc_memory("VmHWM") >> 10;

    // 1. Our server, default limits, the bomb in one frame from a raw client.
    let (addr, mut outcomes) = echo_server_with_outcomes(ServerOptions {
        compression: Some(DeflateConfig::default()),
        ..Default::default()
    })
    .await;
    let offered = DeflateConfig::default();
    let connect_raw = || async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut peer = RawPeer {
            tcp,
            buf: Vec::new(),
            client: true,
        };
        let extra = format!("Sec-WebSocket-Extensions: {}\r\n", offered.offer());
        peer.send(upgrade_request("/", &extra).as_bytes()).await;
        let head = peer.read_head().await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        let answer = head_header(&head, "sec-websocket-extensions").unwrap();
        assert!(negotiate_client([answer].into_iter(), &offered).is_ok());
        peer
    };
    let mut peer = connect_raw().await;
    peer.send(&frame(true, 4, 2, Some(KEY), &bomb)).await;
    assert_eq!(close_code(&mut peer).await, Some(1009));
    let outcome = tokio::time::timeout(BOMB_PATIENCE, outcomes.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            outcome,
            Err(Error::Protocol(ProtocolError::CompressionRatio { inflated, .. }))
                if inflated < 2 * MIB as u64
        ),
        "{outcome:?}"
    );

    // 2. The same bomb in 64 fragments of 16 KiB (RSV1 on the first only).
    let mut peer = connect_raw().await;
    let chunks: Vec<&[u8]> = bomb.chunks(bomb.len().div_ceil(64)).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let (rsv, opcode) = if i == 0 { (4, 2) } else { (0, 0) };
        let fin = i + 1 == chunks.len();
        // The server may close before the last fragment: ignore write errors after that.
        let bytes = frame(fin, rsv, opcode, Some(KEY), chunk);
        if tokio::io::AsyncWriteExt::write_all(&mut peer.tcp, &bytes)
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(close_code(&mut peer).await, Some(1009));
    let default_growth = (proc_memory("VmHWM") >> 10).saturating_sub(before);
    assert!(
        default_growth < MAX_DEFAULT_GROWTH_KIB,
        "with the default settings, peak RSS grew by {default_growth} KiB"
    );

    // 3. Our client, the ratio limit off (the message limit applies), the bomb from a raw server.
    let (l, addr) = listener().await;
    let bomb_for_server = bomb.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let (mut peer, head, key) = read_upgrade_request(tcp).await;
        let key = key.as_str();
        let offer = head_header(&head, "sec-websocket-extensions").unwrap();
        let (_, answer) = negotiate_server([offer].into_iter(), &DeflateConfig::default()).unwrap();
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: {answer}\r\n\r\n",
            coro_websocket::handshake::accept_key(key)
        );
        peer.send(response.as_bytes()).await;
        peer.send(&frame(true, 4, 2, None, &bomb_for_server)).await;
        close_code(&mut peer).await
    });
    let mut no_ratio = DeflateConfig::default();
    no_ratio.max_ratio = u32::MAX;
    let (_res, mut read, _write) = connect(Options {
        compression: Some(no_ratio),
        ..client_options(addr)
    })
    .await
    .unwrap();
    let err = tokio::time::timeout(BOMB_PATIENCE, read.read_message())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::MessageTooBig { max, .. }) if max == 64 << 20
        ),
        "{err}"
    );
    assert_eq!(server.await.unwrap(), Some(1009));

    let after = proc_memory("VmHWM") >> 10;
    let growth = after.saturating_sub(before);
    eprintln!(
        "bomb: {} bytes on the wire for {} MiB inflated; VmHWM {before} KiB -> {after} KiB \
         (+{growth} KiB)",
        bomb.len(),
        BOMB_INFLATED / MIB
    );
    assert!(
        growth < MAX_GROWTH_KIB,
        "peak RSS grew by {growth} KiB, more than {MAX_GROWTH_KIB} KiB"
    );
}
