//! Frames: the seed's `Message` structure, opcodes, and the RFC 6455 §5.2 wire format.
//!
//! This module owns the byte layout of a frame header and the encoder. It must not know about
//! connection state (fragmentation, closing): that lives in [`super::decoder`] and
//! [`super::connection`].

use bytes::{BufMut, Bytes, BytesMut};

use super::close::CloseCode;
use super::mask::apply_mask;

/// A frame opcode (RFC 6455 §5.2, "Opcode: 4 bits").
///
/// The numeric values are the wire values, so `Opcode::Binary as u8 == 2`, as in the seed where
/// `opcode` is a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Opcode {
    /// `0x0`: a continuation fragment of a text or binary message.
    Continuation = 0x0,
    /// `0x1`: the first (or only) frame of a UTF-8 text message.
    Text = 0x1,
    /// `0x2`: the first (or only) frame of a binary message. The seed encoder's default.
    #[default]
    Binary = 0x2,
    /// `0x8`: a close frame.
    Close = 0x8,
    /// `0x9`: a ping.
    Ping = 0x9,
    /// `0xA`: a pong. The seed's heartbeat sends unsolicited pongs.
    Pong = 0xA,
}

impl Opcode {
    /// Maps a wire value to an opcode; reserved values (3–7, 0xB–0xF) give `None`.
    ///
    /// ```
    /// use coro_websocket::Opcode;
    /// assert_eq!(Opcode::from_u8(10), Some(Opcode::Pong));
    /// assert_eq!(Opcode::from_u8(3), None);
    /// ```
    pub fn from_u8(value: u8) -> Option<Opcode> {
        Some(match value {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// Whether this is a control opcode (close, ping, pong): RFC 6455 §5.5, high bit set.
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }

    /// Whether this opcode carries message data (text, binary, continuation).
    pub fn is_data(self) -> bool {
        !self.is_control()
    }
}

/// One WebSocket frame, sent or received: the seed's `Message` structure.
///
/// The fields are those of the seed (and of RFC 6455 §5.2). Reading yields one `Message` per
/// frame; [`crate::Reader::read_message`] reassembles fragments into one.
///
/// A message built with `..Default::default()` is what the seed's encoder writes when a field is
/// left out: a final (`fin`) binary frame.
///
/// ```
/// use coro_websocket::{Message, Opcode};
/// let m = Message { payload: "Hello There!".into(), ..Default::default() };
/// assert_eq!(m.opcode, Opcode::Binary);
/// assert!(m.fin);
/// let t = Message::text("hi");
/// assert_eq!((t.opcode, t.len(), t.as_text()), (Opcode::Text, 2, Some("hi")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Whether this is the last fragment of a message (RFC 6455 §5.2 FIN).
    pub fin: bool,
    /// Reserved bit 1; only meaningful with a negotiated extension.
    pub rsv1: bool,
    /// Reserved bit 2; only meaningful with a negotiated extension.
    pub rsv2: bool,
    /// Reserved bit 3; only meaningful with a negotiated extension.
    pub rsv3: bool,
    /// How to interpret the payload.
    pub opcode: Opcode,
    /// Read only: whether the frame arrived masked. Ignored on write: the role decides, a client
    /// always masks and a server never does (RFC 6455 §5.1).
    pub mask: bool,
    /// The payload, unmasked (and, with permessage-deflate, inflated). The seed's `len` field is
    /// [`Message::len`], always `payload.len()`.
    pub payload: Bytes,
    /// Write only, not a wire field: whether this message may be compressed when
    /// permessage-deflate was negotiated (default `true`); `false` sends it as is.
    pub compress: bool,
}

impl Default for Message {
    fn default() -> Self {
        Message {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: Opcode::Binary,
            mask: false,
            payload: Bytes::new(),
            compress: true,
        }
    }
}

impl Message {
    /// The payload length in bytes: the seed's `len` field.
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// A final frame with the given opcode and payload.
    ///
    /// ```
    /// use coro_websocket::{Message, Opcode};
    /// let m = Message::new(Opcode::Ping, "are you there");
    /// assert_eq!(m.len(), 13);
    /// ```
    pub fn new(opcode: Opcode, payload: impl Into<Bytes>) -> Message {
        let payload = payload.into();
        Message {
            opcode,
            payload,
            ..Message::default()
        }
    }

    /// A final text frame.
    pub fn text(text: impl Into<String>) -> Message {
        Message::new(Opcode::Text, Bytes::from(text.into()))
    }

    /// A final binary frame.
    pub fn binary(data: impl Into<Bytes>) -> Message {
        Message::new(Opcode::Binary, data)
    }

    /// A ping with the given application data (at most 125 bytes).
    pub fn ping(data: impl Into<Bytes>) -> Message {
        Message::new(Opcode::Ping, data)
    }

    /// A pong with the given application data (at most 125 bytes).
    pub fn pong(data: impl Into<Bytes>) -> Message {
        Message::new(Opcode::Pong, data)
    }

    /// A close frame with a status code and a UTF-8 reason (RFC 6455 §5.5.1).
    ///
    /// ```
    /// use coro_websocket::{CloseCode, Message};
    /// let m = Message::close(CloseCode::NORMAL, "bye");
    /// assert_eq!(&m.payload[..], b"\x03\xe8bye");
    /// assert_eq!(m.close_frame().unwrap().reason, "bye");
    /// ```
    pub fn close(code: CloseCode, reason: &str) -> Message {
        let mut payload = BytesMut::with_capacity(2 + reason.len());
        payload.put_u16(code.0);
        payload.put_slice(reason.as_bytes());
        Message::new(Opcode::Close, payload.freeze())
    }

    /// A close frame with no body (no status code), which the peer reads as 1005.
    pub fn close_empty() -> Message {
        Message::new(Opcode::Close, Bytes::new())
    }

    /// The payload as text, if this is a text frame holding valid UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        match self.opcode {
            Opcode::Text | Opcode::Continuation => std::str::from_utf8(&self.payload).ok(),
            _ => None,
        }
    }

    /// For a close frame, its parsed code and reason; code 1005 for an empty close body.
    ///
    /// # Errors
    /// A body that RFC 6455 §5.5.1/§7.4 forbids (one byte, a code that may not be sent, a reason
    /// that is not UTF-8) gives the [`ProtocolError`](crate::error::ProtocolError) to close with.
    pub fn close_frame(&self) -> Result<super::close::CloseFrame, super::ProtocolError> {
        super::close::CloseFrame::parse(&self.payload)
    }
}

/// The fixed part of a frame: everything before the payload (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..3 as the low three bits (`rsv1 = 0b100`).
    pub rsv: u8,
    /// The raw 4-bit opcode (may be reserved; the decoder checks).
    pub opcode: u8,
    /// The masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub len: u64,
}

/// Why a header could not be parsed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// RFC 6455 §5.2: "the most significant bit MUST be 0" in the 64-bit length.
    LengthTopBit,
    /// RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length".
    NonMinimalLength,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed (nothing is consumed), otherwise the header
    /// and its size in bytes (2 to 14).
    ///
    /// # Errors
    /// A 64-bit length with its top bit set, or a non-minimal length encoding.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, HeaderError> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let b0 = buf[0];
        let b1 = buf[1];
        let masked = b1 & 0x80 != 0;
        let (len, mut pos) = match b1 & 0x7f {
            126 => {
                if buf.len() < 4 {
                    return Ok(None);
                }
                let len = u16::from_be_bytes([buf[2], buf[3]]) as u64;
                if len < 126 {
                    return Err(HeaderError::NonMinimalLength);
                }
                (len, 4)
            }
            127 => {
                if buf.len() < 10 {
                    return Ok(None);
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 {
                    return Err(HeaderError::LengthTopBit);
                }
                if len <= u16::MAX as u64 {
                    return Err(HeaderError::NonMinimalLength);
                }
                (len, 10)
            }
            n => (n as u64, 2),
        };
        let mask = if masked {
            if buf.len() < pos + 4 {
                return Ok(None);
            }
            let key = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
            pos += 4;
            Some(key)
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin: b0 & 0x80 != 0,
                rsv: (b0 >> 4) & 0x7,
                opcode: b0 & 0x0f,
                mask,
                len,
            },
            pos,
        )))
    }

    /// The header that frames `msg`'s payload, masked with `mask` if given.
    pub fn of(msg: &Message, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: msg.fin,
            rsv: (u8::from(msg.rsv1) << 2) | (u8::from(msg.rsv2) << 1) | u8::from(msg.rsv3),
            opcode: msg.opcode as u8,
            mask,
            len: msg.payload.len() as u64,
        }
    }

    /// Appends this header's wire form to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        // Laid out on the stack, then appended in one call (one capacity check, one copy).
        let mut head = [0u8; 14];
        let n = self.write_to(&mut head);
        dst.extend_from_slice(&head[..n]);
    }

    /// Writes this header's wire form (2 to 14 bytes) at the start of `head`; returns its length.
    pub fn write_to(&self, head: &mut [u8; 14]) -> usize {
        head[0] = (u8::from(self.fin) << 7) | ((self.rsv & 7) << 4) | (self.opcode & 0x0f);
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut n = if self.len < 126 {
            head[1] = mask_bit | self.len as u8;
            2
        } else if self.len <= u16::MAX as u64 {
            head[1] = mask_bit | 126;
            head[2..4].copy_from_slice(&(self.len as u16).to_be_bytes());
            4
        } else {
            head[1] = mask_bit | 127;
            head[2..10].copy_from_slice(&self.len.to_be_bytes());
            10
        };
        if let Some(key) = self.mask {
            head[n..n + 4].copy_from_slice(&key);
            n += 4;
        }
        n
    }
}

/// Appends the wire form of `msg` to `dst`, masking the payload with `mask` when given.
///
/// The header's length is `msg.payload.len()`; `msg.len` and `msg.mask` are not consulted (the
/// caller decides masking by role). This is the one place that lays out outgoing frames.
///
/// ```
/// use bytes::BytesMut;
/// use coro_websocket::{proto::encode_frame, Message};
/// let mut out = BytesMut::new();
/// encode_frame(&Message::text("Hello"), None, &mut out);
/// assert_eq!(&out[..], b"\x81\x05Hello"); // RFC 6455 §5.7
/// out.clear();
/// encode_frame(&Message::text("Hello"), Some([0x37, 0xfa, 0x21, 0x3d]), &mut out);
/// assert_eq!(&out[..], b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
/// ```
#[inline]
pub fn encode_frame(msg: &Message, mask: Option<[u8; 4]>, dst: &mut BytesMut) {
    if mask.is_none() && msg.payload.len() < 126 {
        encode_short(msg, dst);
    } else {
        encode_long(msg, mask, dst);
    }
}

/// [`encode_frame`] for the common small unmasked frame: a two-byte header, then the payload
/// (shorter than 126 bytes).
#[inline]
pub(crate) fn encode_short(msg: &Message, dst: &mut BytesMut) {
    debug_assert!(msg.payload.len() < 126);
    let b0 = (u8::from(msg.fin) << 7)
        | (u8::from(msg.rsv1) << 6)
        | (u8::from(msg.rsv2) << 5)
        | (u8::from(msg.rsv3) << 4)
        | (msg.opcode as u8);
    dst.reserve(2 + msg.payload.len());
    dst.put_u16(u16::from_be_bytes([b0, msg.payload.len() as u8]));
    dst.extend_from_slice(&msg.payload);
}

/// [`encode_frame`] for every other frame.
fn encode_long(msg: &Message, mask: Option<[u8; 4]>, dst: &mut BytesMut) {
    let header = FrameHeader::of(msg, mask);
    dst.reserve(14 + msg.payload.len());
    header.encode(dst);
    let Some(key) = mask else {
        dst.extend_from_slice(&msg.payload);
        return;
    };
    // Copy and mask block by block, so each block is masked while it is still in L1 cache.
    let mut offset = 0;
    for block in msg.payload.chunks(super::BLOCK) {
        let start = dst.len();
        dst.extend_from_slice(block);
        apply_mask(&mut dst[start..], key, offset);
        offset += block.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6455 §5.2: base framing protocol.
    #[test]
    fn parses_all_three_length_forms() {
        let (h, n) = FrameHeader::parse(b"\x82\x7d").unwrap().unwrap();
        assert_eq!((h.len, n, h.fin, h.opcode), (125, 2, true, 2));
        let (h, n) = FrameHeader::parse(b"\x02\x7e\x01\x00").unwrap().unwrap();
        assert_eq!((h.len, n, h.fin), (256, 4, false));
        let (h, n) = FrameHeader::parse(b"\x82\x7f\0\0\0\0\0\x01\0\0")
            .unwrap()
            .unwrap();
        assert_eq!((h.len, n), (65536, 10));
    }

    #[test]
    fn needs_more_bytes_consumes_nothing() {
        for partial in [
            &b"\x82"[..],
            b"\x82\x7e\x01",
            b"\x82\x7f\0\0\0",
            b"\x82\x85\x01\x02",
        ] {
            assert_eq!(FrameHeader::parse(partial), Ok(None));
        }
    }

    #[test]
    fn length_top_bit_is_refused() {
        let buf = b"\x82\x7f\x80\0\0\0\0\0\0\0";
        assert_eq!(FrameHeader::parse(buf), Err(HeaderError::LengthTopBit));
        // 2^63 - 1 parses (a limit refuses it later, before any allocation).
        let buf = b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff";
        assert_eq!(
            FrameHeader::parse(buf).unwrap().unwrap().0.len,
            (1u64 << 63) - 1
        );
    }

    #[test]
    fn non_minimal_lengths_are_refused() {
        assert_eq!(
            FrameHeader::parse(b"\x82\x7e\x00\x05"),
            Err(HeaderError::NonMinimalLength)
        );
        assert_eq!(
            FrameHeader::parse(b"\x82\x7f\0\0\0\0\0\0\x01\0"),
            Err(HeaderError::NonMinimalLength)
        );
    }

    #[test]
    fn encode_roundtrips_every_length_form() {
        for len in [0usize, 1, 125, 126, 65535, 65536, 70000] {
            let payload = vec![0xabu8; len];
            let msg = Message::binary(payload.clone());
            let mut out = BytesMut::new();
            encode_frame(&msg, Some([1, 2, 3, 4]), &mut out);
            let (h, n) = FrameHeader::parse(&out).unwrap().unwrap();
            assert_eq!(h.len as usize, len);
            assert_eq!(h.mask, Some([1, 2, 3, 4]));
            let mut body = out[n..].to_vec();
            apply_mask(&mut body, [1, 2, 3, 4], 0);
            assert_eq!(body, payload);
        }
    }

    #[test]
    fn opcode_classes() {
        assert!(Opcode::Ping.is_control());
        assert!(Opcode::Continuation.is_data());
        for v in (3..=7).chain(0xb..=0xf) {
            assert_eq!(Opcode::from_u8(v), None);
        }
    }
}
