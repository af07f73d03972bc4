//! The incoming-frame decoder: bytes in, validated and unmasked frames out.
//!
//! It owns everything RFC 6455 says about the *sequence* of incoming frames: header syntax,
//! masking direction, reserved bits and opcodes, control-frame rules, fragmentation order, size
//! limits and UTF-8 of text. Limits are checked from the header, before a payload byte is buffered.
//! Text is validated while the payload arrives, so invalid UTF-8 fails the connection in the middle
//! of a frame. "Need more bytes" consumes nothing it cannot resume from.

use bytes::{Buf, BytesMut};

use super::close::CloseFrame;
use super::frame::{FrameHeader, Message, Opcode};
use super::mask::{apply_mask, unmask_small};
use super::utf8::Utf8Validator;
use super::{ProtocolError, Role};

/// Payloads up to this size are unmasked and tested for ASCII in one pass.
const SMALL: usize = 128;

/// Room made past the end of an incomplete frame, for the start of the next one.
pub(crate) const READ_AHEAD: usize = 4 << 10;

/// Incremental, validating frame decoder for one direction of one connection.
///
/// ```
/// use bytes::BytesMut;
/// use coro_websocket::proto::{FrameDecoder, Role};
/// use coro_websocket::Opcode;
/// let mut dec = FrameDecoder::new(Role::Client, 1 << 20, 1 << 20);
/// let mut buf = BytesMut::from(&b"\x01\x03Hel\x80\x02lo"[..]);
/// let first = dec.decode(&mut buf).unwrap().unwrap();
/// assert_eq!((first.opcode, first.fin, &first.payload[..]), (Opcode::Text, false, &b"Hel"[..]));
/// let last = dec.decode(&mut buf).unwrap().unwrap();
/// assert_eq!((last.opcode, last.fin, &last.payload[..]), (Opcode::Continuation, true, &b"lo"[..]));
/// assert!(dec.decode(&mut buf).unwrap().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    role: Role,
    max_frame_size: u64,
    max_message_size: u64,
    /// The header of the frame whose payload is arriving (its bytes already consumed).
    header: Option<FrameHeader>,
    /// Bytes at the front of the buffer already unmasked and validated.
    processed: usize,
    /// The opcode of the fragmented data message in progress.
    fragment: Option<Opcode>,
    /// Payload bytes of the data message in progress, including the current frame.
    message_len: u64,
    utf8: Utf8Validator,
    /// permessage-deflate was negotiated: RSV1 marks a compressed message.
    compression: bool,
    /// The data message in progress is compressed (its text is checked after inflating).
    compressed: bool,
}

impl FrameDecoder {
    /// A decoder for frames arriving at an endpoint of the given role.
    ///
    /// `max_frame_size` and `max_message_size` bound one frame's payload and one reassembled
    /// message's payload.
    pub fn new(role: Role, max_frame_size: u64, max_message_size: u64) -> FrameDecoder {
        FrameDecoder {
            role,
            max_frame_size,
            max_message_size,
            header: None,
            processed: 0,
            fragment: None,
            message_len: 0,
            utf8: Utf8Validator::default(),
            compression: false,
            compressed: false,
        }
    }

    /// Allows RSV1 on the first frame of a data message: permessage-deflate (RFC 7692 §6) was
    /// negotiated. Compressed text is then left for the inflating layer to check as UTF-8.
    pub fn with_compression(mut self, on: bool) -> FrameDecoder {
        self.compression = on;
        self
    }

    /// Bytes still missing from the frame being decoded, given `buffered` bytes of it in the
    /// buffer (0 before a header has been read): how much a reader should make room for.
    pub(crate) fn missing(&self, buffered: usize) -> usize {
        self.header
            .map_or(0, |h| (h.len as usize).saturating_sub(buffered))
    }

    /// The role this decoder receives for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Decodes the next frame from `buf`, consuming its bytes.
    ///
    /// Returns `Ok(None)` when `buf` does not yet hold a whole frame; call again with more bytes.
    /// A partial payload is unmasked and (for text) validated in place, so no work is redone.
    ///
    /// # Errors
    /// The [`ProtocolError`] the peer committed. The decoder must not be used after an error.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        if self.header.is_none() {
            if let Some(decoded) = self.decode_small(buf) {
                return decoded.map(Some);
            }
        }
        self.decode_general(buf)
    }

    /// Every frame, in whole or in pieces.
    fn decode_general(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        let header = match self.header {
            Some(h) => h,
            None => {
                let Some((h, n)) = FrameHeader::parse(buf)? else {
                    return Ok(None);
                };
                self.check_header(&h)?;
                if let Some(whole) = self.decode_whole(&h, n, buf)? {
                    return Ok(Some(whole));
                }
                buf.advance(n);
                self.header = Some(h);
                self.processed = 0;
                h
            }
        };
        // `len` fits in usize: check_header bounded it by max_frame_size (a usize-sized limit).
        let len = header.len as usize;
        let available = buf.len().min(len);
        if available > self.processed {
            let text = self.is_text(&header);
            let processed = self.processed;
            self.unmask_and_check(&mut buf[processed..available], header.mask, processed, text)?;
            self.processed = available;
        }
        if buf.len() < len {
            // Make room for the rest of this frame at once (bounded by max_frame_size, checked
            // from the header), so a large frame is read without the buffer growing step by step
            // and copying itself. The pages are only touched as bytes arrive. `READ_AHEAD`
            // more lets the read that ends this frame also bring the next frame's header.
            buf.reserve(len - buf.len() + READ_AHEAD);
            return Ok(None);
        }
        self.header = None;
        self.processed = 0;
        let payload = buf.split_to(len).freeze();
        let opcode = Opcode::from_u8(header.opcode).expect("checked in check_header");
        if opcode.is_data() && header.fin {
            // RFC 6455 §8.1: a text message must end on a code point boundary.
            let text = self.fragment.unwrap_or(opcode) == Opcode::Text && !self.compressed;
            if text && !self.utf8.is_complete() {
                return Err(ProtocolError::InvalidUtf8);
            }
            self.utf8.reset();
            self.fragment = None;
            self.message_len = 0;
        } else if opcode.is_data() && opcode != Opcode::Continuation {
            self.fragment = Some(opcode);
        } else if opcode == Opcode::Close {
            CloseFrame::parse(&payload)?;
        }
        Ok(Some(Message {
            fin: header.fin,
            rsv1: header.rsv & 4 != 0,
            rsv2: header.rsv & 2 != 0,
            rsv3: header.rsv & 1 != 0,
            opcode,
            mask: header.mask.is_some(),
            payload,
            compress: true,
        }))
    }

    /// The hottest case, decided from the first two bytes: a whole final text or binary frame
    /// of under 126 bytes, with no reserved bits, masked as the role requires, outside any
    /// fragmented message. `None` hands every other case (including every violation) to the
    /// general path, which checks it in full.
    #[inline]
    fn decode_small(&mut self, buf: &mut BytesMut) -> Option<Result<Message, ProtocolError>> {
        let [b0, b1] = *buf.first_chunk::<2>()?;
        let len = usize::from(b1 & 0x7f);
        let masked = b1 & 0x80 != 0;
        let head = if masked { 6 } else { 2 };
        let opcode = match b0 {
            0x81 => Opcode::Text,
            0x82 => Opcode::Binary,
            _ => return None,
        };
        if len >= 126
            || masked != (self.role == Role::Server)
            || self.fragment.is_some()
            || buf.len() < head + len
            || len as u64 > self.max_frame_size.min(self.max_message_size)
        {
            return None;
        }
        let key = if masked {
            buf.get(2..6).and_then(|k| <[u8; 4]>::try_from(k).ok())
        } else {
            None
        };
        Some(self.take_whole(buf, head, len, key, opcode))
    }

    /// The common case in one pass: a whole, unfragmented, uncompressed data message already in
    /// `buf` (header of `n` bytes included) is unmasked, checked and split off, with none of the
    /// bookkeeping a frame arriving in pieces needs. `None` leaves every other case to `decode`.
    fn decode_whole(
        &mut self,
        h: &FrameHeader,
        n: usize,
        buf: &mut BytesMut,
    ) -> Result<Option<Message>, ProtocolError> {
        let len = h.len as usize;
        let opcode = match h.opcode {
            1 => Opcode::Text,
            2 => Opcode::Binary,
            _ => return Ok(None),
        };
        if !h.fin || self.compressed || buf.len() - n < len {
            return Ok(None);
        }
        self.take_whole(buf, n, len, h.mask, opcode).map(Some)
    }

    /// Splits off a whole final data frame of an unfragmented, uncompressed message: `head`
    /// header bytes, then `len` payload bytes, all in `buf`. The payload is unmasked and text is
    /// checked as UTF-8 first.
    #[inline(always)]
    fn take_whole(
        &mut self,
        buf: &mut BytesMut,
        head: usize,
        len: usize,
        key: Option<[u8; 4]>,
        opcode: Opcode,
    ) -> Result<Message, ProtocolError> {
        let payload = &mut buf[head..head + len];
        let text = opcode == Opcode::Text;
        if len > super::BLOCK {
            self.check_large(payload, key, text)?;
        } else if len <= SMALL {
            let ascii = unmask_small(payload, key.unwrap_or_default());
            if text && !ascii && !super::utf8::is_valid(payload) {
                return Err(ProtocolError::InvalidUtf8);
            }
        } else {
            if let Some(key) = key {
                apply_mask(payload, key, 0);
            }
            if text && !super::utf8::is_valid(payload) {
                return Err(ProtocolError::InvalidUtf8);
            }
        }
        self.message_len = 0;
        self.compressed = false;
        Ok(Message {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: key.is_some(),
            payload: {
                // One split for header and payload; the header is then dropped from the front
                // of the frozen frame, which moves a pointer and nothing else.
                let mut frame = buf.split_to(head + len).freeze();
                frame.advance(head);
                frame
            },
            compress: true,
        })
    }

    /// A whole large payload: block by block, text checked across block boundaries. (Kept out of
    /// line: small frames are the hot path.)
    #[cold]
    fn check_large(
        &mut self,
        payload: &mut [u8],
        key: Option<[u8; 4]>,
        text: bool,
    ) -> Result<(), ProtocolError> {
        self.unmask_and_check(payload, key, 0, text)?;
        if text && !self.utf8.is_complete() {
            return Err(ProtocolError::InvalidUtf8);
        }
        self.utf8.reset();
        Ok(())
    }

    /// Unmasks `payload`, which starts `offset` bytes into its frame's payload, and (for text)
    /// feeds it to the incremental UTF-8 check, block by block so that each block is checked
    /// while it is still in cache.
    fn unmask_and_check(
        &mut self,
        payload: &mut [u8],
        key: Option<[u8; 4]>,
        offset: usize,
        text: bool,
    ) -> Result<(), ProtocolError> {
        let mut at = offset;
        for block in payload.chunks_mut(super::BLOCK) {
            if let Some(key) = key {
                apply_mask(block, key, at);
            }
            if text {
                self.utf8.feed(block)?;
            }
            at += block.len();
        }
        Ok(())
    }

    fn is_text(&self, header: &FrameHeader) -> bool {
        !self.compressed
            && (header.opcode == Opcode::Text as u8
                || (header.opcode == Opcode::Continuation as u8
                    && self.fragment == Some(Opcode::Text)))
    }

    /// Every check that the header alone decides, before any payload is buffered.
    fn check_header(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        // RFC 6455 §5.2: "MUST be 0 unless an extension is negotiated that defines meanings".
        // RFC 7692 §6: permessage-deflate defines RSV1 (only).
        if h.rsv & 0b011 != 0 || (h.rsv & 0b100 != 0 && !self.compression) {
            return Err(ProtocolError::ReservedBits);
        }
        // RFC 6455 §5.2: reserved opcodes fail the connection.
        let opcode = Opcode::from_u8(h.opcode).ok_or(ProtocolError::ReservedOpcode(h.opcode))?;
        // RFC 7692 §6.1: RSV1 only on the first frame of a data message.
        if h.rsv & 0b100 != 0 && (opcode.is_control() || opcode == Opcode::Continuation) {
            return Err(ProtocolError::CompressedControlOrContinuation);
        }
        // RFC 6455 §5.1: clients MUST mask; servers MUST NOT.
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if opcode.is_control() {
            // RFC 6455 §5.5: control frames MUST have a payload length of 125 bytes or less
            // and MUST NOT be fragmented.
            if h.len > 125 {
                return Err(ProtocolError::ControlFrameTooLong(h.len));
            }
            if !h.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            return Ok(());
        }
        // RFC 6455 §5.4: fragments of one message arrive in order, not interleaved.
        match (opcode, self.fragment) {
            (Opcode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (Opcode::Text | Opcode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation)
            }
            _ => {}
        }
        if opcode != Opcode::Continuation {
            self.compressed = h.rsv & 0b100 != 0;
        }
        if h.len > self.max_frame_size || h.len > usize::MAX as u64 {
            return Err(ProtocolError::FrameTooBig {
                len: h.len,
                max: self.max_frame_size,
            });
        }
        self.message_len += h.len;
        if self.message_len > self.max_message_size {
            return Err(ProtocolError::MessageTooBig {
                len: self.message_len,
                max: self.max_message_size,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
