//! The decoder's unit tests.
use super::*;
use crate::proto::encode_frame;

const MIB: u64 = 1 << 20;

fn server() -> FrameDecoder {
    FrameDecoder::new(Role::Server, MIB, 4 * MIB)
}
fn client() -> FrameDecoder {
    FrameDecoder::new(Role::Client, MIB, 4 * MIB)
}
fn wire(msg: &Message, mask: bool) -> BytesMut {
    let mut out = BytesMut::new();
    encode_frame(msg, mask.then_some([9, 8, 7, 6]), &mut out);
    out
}
fn decode_all(dec: &mut FrameDecoder, bytes: &[u8]) -> Result<Vec<Message>, ProtocolError> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(m) = dec.decode(&mut buf)? {
        out.push(m);
    }
    Ok(out)
}

// The two-byte fast path must decide exactly as the general path: same frames, same errors,
// same bytes left, for every first byte, lengths around the limits, both roles.
#[test]
fn small_frame_path_agrees_with_the_general_path() {
    let payloads: [&[u8]; 5] = [b"", b"hi", b"caf\xc3\xa9", b"bad \xff", &[b'a'; 125]];
    for role in [Role::Server, Role::Client] {
        for b0 in 0..=255u8 {
            for payload in payloads {
                for masked in [false, true] {
                    let mut wire = vec![b0, payload.len() as u8 | if masked { 0x80 } else { 0 }];
                    if masked {
                        wire.extend_from_slice(&[1, 2, 3, 4]);
                    }
                    wire.extend_from_slice(payload);
                    if masked {
                        let at = wire.len() - payload.len();
                        apply_mask(&mut wire[at..], [1, 2, 3, 4], 0);
                    }
                    wire.extend_from_slice(b"\x81\x01z"); // a next frame, left over
                    for max in [1 << 20, 3] {
                        let mut fast = FrameDecoder::new(role, max, max);
                        let mut slow = fast.clone();
                        let mut a = BytesMut::from(&wire[..]);
                        let mut b = a.clone();
                        let got = fast.decode(&mut a);
                        let want = slow.decode_general(&mut b);
                        let ok = got.is_ok();
                        assert_eq!(got, want, "role {role:?} b0 {b0:#x} {payload:?}");
                        if ok {
                            // (After an error the decoder is not used again.)
                            assert_eq!(a, b);
                            assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
                        }
                    }
                }
            }
        }
    }
}

// The one-pass path for whole frames must check exactly what the incremental path does.
#[test]
fn whole_frames_in_one_buffer_are_checked_like_partial_ones() {
    let bad = Message::new(Opcode::Text, &b"ok \xff"[..]);
    assert_eq!(
        decode_all(&mut server(), &wire(&bad, true)),
        Err(ProtocolError::InvalidUtf8)
    );
    let long = "é".repeat(100);
    let frames = decode_all(&mut server(), &wire(&Message::text(long.as_str()), true)).unwrap();
    assert_eq!(frames[0].as_text(), Some(long.as_str()));
    // A code point cut at the end of a final frame.
    let cut = Message::new(Opcode::Text, &"é".as_bytes()[..1]);
    assert_eq!(
        decode_all(&mut client(), &wire(&cut, false)),
        Err(ProtocolError::InvalidUtf8)
    );
    // Binary is never checked; the decoder resets between messages.
    let mut dec = server();
    let mut bytes = wire(&Message::binary(vec![0xff; 3]), true);
    bytes.extend_from_slice(&wire(&Message::text("next"), true));
    let frames = decode_all(&mut dec, &bytes).unwrap();
    assert_eq!((frames.len(), frames[1].as_text()), (2, Some("next")));
}

// RFC 6455 §5.1: masking direction.
#[test]
fn server_unmasks_client_frames() {
    let frames = decode_all(&mut server(), &wire(&Message::text("Hello"), true)).unwrap();
    assert_eq!(&frames[0].payload[..], b"Hello");
    assert!(frames[0].mask);
}

#[test]
fn server_refuses_unmasked_and_client_refuses_masked() {
    let unmasked = wire(&Message::text("x"), false);
    assert_eq!(
        decode_all(&mut server(), &unmasked),
        Err(ProtocolError::UnmaskedFrame)
    );
    let masked = wire(&Message::text("x"), true);
    assert_eq!(
        decode_all(&mut client(), &masked),
        Err(ProtocolError::MaskedFrame)
    );
}

// RFC 6455 §5.2: reserved bits and opcodes.
#[test]
fn reserved_bits_and_opcodes() {
    for rsv in [0x40u8, 0x20, 0x10] {
        assert_eq!(
            decode_all(&mut client(), &[0x81 | rsv, 0x00]),
            Err(ProtocolError::ReservedBits)
        );
    }
    for op in [3u8, 7, 0xb, 0xf] {
        assert_eq!(
            decode_all(&mut client(), &[0x80 | op, 0x00]),
            Err(ProtocolError::ReservedOpcode(op))
        );
    }
}

// RFC 6455 §5.5: control frames.
#[test]
fn control_frame_rules() {
    let mut long = vec![0x89, 0x7e, 0x00, 0x7e];
    long.extend(vec![0u8; 126]);
    assert_eq!(
        decode_all(&mut client(), &long),
        Err(ProtocolError::ControlFrameTooLong(126))
    );
    assert_eq!(
        decode_all(&mut client(), &[0x09, 0x00]),
        Err(ProtocolError::FragmentedControlFrame)
    );
    assert_eq!(
        decode_all(&mut client(), &[0x88, 0x01, 0x03]),
        Err(ProtocolError::InvalidCloseLength)
    );
}

// RFC 6455 §5.4: fragmentation.
#[test]
fn fragmentation_order() {
    assert_eq!(
        decode_all(&mut client(), b"\x80\x01a"),
        Err(ProtocolError::UnexpectedContinuation)
    );
    assert_eq!(
        decode_all(&mut client(), b"\x01\x01a\x81\x01b"),
        Err(ProtocolError::ExpectedContinuation)
    );
    // A ping may sit between fragments.
    let frames = decode_all(&mut client(), b"\x01\x01a\x89\x00\x80\x01b").unwrap();
    let ops: Vec<_> = frames.iter().map(|f| f.opcode).collect();
    assert_eq!(ops, [Opcode::Text, Opcode::Ping, Opcode::Continuation]);
}

// RFC 6455 §8.1: UTF-8, fail fast in mid-frame and across fragments.
#[test]
fn invalid_utf8_fails_before_the_frame_ends() {
    let mut dec = client();
    // Header announces 10 bytes; the first 4 arrive and include an invalid sequence.
    let mut buf = BytesMut::from(&b"\x81\x0aab\xed\xa0"[..]);
    assert_eq!(dec.decode(&mut buf), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn utf8_split_across_fragments() {
    // "€" = e2 82 ac split over two fragments.
    let frames = decode_all(&mut client(), b"\x01\x02a\xe2\x80\x02\x82\xac").unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(
        decode_all(&mut client(), b"\x01\x02a\xe2\x80\x01\x82"),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn binary_is_not_utf8_checked() {
    assert!(decode_all(&mut client(), b"\x82\x02\xff\xfe").is_ok());
}

#[test]
fn byte_at_a_time_decoding() {
    let bytes = wire(&Message::text("héllo wörld"), true);
    let mut dec = server();
    let mut buf = BytesMut::new();
    let mut got = None;
    for b in bytes.iter() {
        buf.extend_from_slice(&[*b]);
        if let Some(m) = dec.decode(&mut buf).unwrap() {
            got = Some(m);
        }
    }
    assert_eq!(got.unwrap().as_text(), Some("héllo wörld"));
}

// Limits: decided from the header, before buffering.
#[test]
fn limits_are_enforced_from_the_header() {
    let mut dec = FrameDecoder::new(Role::Client, 100, 150);
    assert_eq!(
        decode_all(&mut dec, b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"),
        Err(ProtocolError::FrameTooBig {
            len: (1 << 63) - 1,
            max: 100
        })
    );
    let mut dec = FrameDecoder::new(Role::Client, 100, 150);
    let mut bytes = vec![0x02, 100];
    bytes.extend([0u8; 100]);
    bytes.extend([0x80, 100]);
    assert_eq!(
        decode_all(&mut dec, &bytes),
        Err(ProtocolError::MessageTooBig { len: 200, max: 150 })
    );
}
