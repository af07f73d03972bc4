//! `frame_decoder`: arbitrary bytes into `FrameDecoder`, for both roles, with small limits.
//!
//! Input layout (so seeds can be written by hand):
//! - byte 0: `max_frame_size / 4` (255 means 128 KiB, so 64-bit lengths can pass the limit);
//! - byte 1: `max_message_size / 8`;
//! - byte 2: bit 7 turns on permessage-deflate (`with_compression`: RSV1 allowed on the first frame
//!   of a data message); bits 0-3 are `n`, then `n` bytes of chunk lengths (each byte + 1), used in
//!   a cycle to split the wire bytes; `n == 0` feeds everything at once;
//! - the rest: the wire bytes.
//!
//! Checks, for each role: no panic; feeding in chunks yields the same frames and the same error
//! as feeding everything at once; every frame re-encodes (`encode_frame`, with its own mask key)
//! to exactly the bytes it was decoded from (the decoder accepts only minimal length encodings, and
//! no RSV bits but RSV1 under compression, so the wire form is unique); a second decoder that sees
//! the re-encoded stream yields the same frame.
#![no_main]

use bytes::BytesMut;
use coro_websocket::error::ProtocolError;
use coro_websocket::proto::{encode_frame, FrameDecoder, FrameHeader, Role};
use coro_websocket::Message;
use libfuzzer_sys::fuzz_target;

struct Input<'a> {
    compression: bool,
    max_frame: u64,
    max_message: u64,
    chunks: Vec<usize>,
    wire: &'a [u8],
}

fn parse(data: &[u8]) -> Option<Input<'_>> {
    let (&[frame, message, n], rest) = data.split_first_chunk::<3>()?;
    let compression = n & 0x80 != 0;
    let n = usize::from(n & 0x0f);
    if rest.len() < n {
        return None;
    }
    let (chunks, wire) = rest.split_at(n);
    Some(Input {
        compression,
        max_frame: if frame == 255 {
            128 << 10
        } else {
            u64::from(frame) * 4
        },
        max_message: u64::from(message) * 8,
        chunks: chunks.iter().map(|&c| usize::from(c) + 1).collect(),
        wire,
    })
}

type Outcome = (Vec<Message>, Option<ProtocolError>);

/// Feeds `input.wire` in chunks, checking every frame's round trip.
fn decode_chunked(role: Role, input: &Input<'_>) -> Outcome {
    let mut dec = FrameDecoder::new(role, input.max_frame, input.max_message)
        .with_compression(input.compression);
    // Sees the re-encoded frames, in order, so it has the same fragmentation state as `dec`.
    let mut shadow = dec.clone();
    let mut buf = BytesMut::new();
    let (mut fed, mut frame_start) = (0usize, 0usize);
    let mut frames = Vec::new();
    let mut sizes = input.chunks.iter().copied().cycle();
    let mut rest = input.wire;
    while !rest.is_empty() {
        let take = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(msg)) => {
                    let consumed = fed - buf.len();
                    round_trip(&msg, &input.wire[frame_start..consumed], &mut shadow);
                    frame_start = consumed;
                    frames.push(msg);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fn round_trip(msg: &Message, original: &[u8], shadow: &mut FrameDecoder) {
    let (header, n) = FrameHeader::parse(original)
        .expect("a decoded frame's header parses")
        .expect("a decoded frame's header is complete");
    assert_eq!(n + msg.payload.len(), original.len());
    assert_eq!(header.mask.is_some(), msg.mask);
    let mut out = BytesMut::new();
    encode_frame(msg, header.mask, &mut out);
    assert_eq!(
        &out[..],
        original,
        "re-encoding differs from the wire bytes"
    );
    let again = shadow
        .decode(&mut out)
        .expect("a re-encoded frame decodes")
        .expect("a re-encoded frame is complete");
    assert_eq!(&again, msg);
    assert!(out.is_empty());
}

fn decode_whole(role: Role, input: &Input<'_>) -> Outcome {
    let mut dec = FrameDecoder::new(role, input.max_frame, input.max_message)
        .with_compression(input.compression);
    let mut buf = BytesMut::from(input.wire);
    let mut frames = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(msg)) => frames.push(msg),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = parse(data) else { return };
    for role in [Role::Client, Role::Server] {
        let chunked = decode_chunked(role, &input);
        let whole = decode_whole(role, &input);
        assert_eq!(
            chunked, whole,
            "chunked and whole decoding differ ({role:?})"
        );
        if let Some(e) = &chunked.1 {
            // The mapping to close codes must never panic and must give a sendable code.
            assert!(e.close_code().is_sendable());
            let _ = (e.close_reason(), e.to_string());
        }
    }
});
