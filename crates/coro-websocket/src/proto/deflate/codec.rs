//! The compressor and the bounded decompressor (RFC 7692 §7.2).

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{Deflate, TAIL};
use crate::proto::{Message, Opcode, ProtocolError, Utf8Validator};

///
/// The zlib state (about 2^(bits+2) bytes plus 64 KiB of hash tables) is created on the first
/// compressed message, and released after each message when this end does not keep its context.
pub struct Deflater {
    compress: Option<Compress>,
    level: u32,
    window_bits: u8,
    enabled: bool,
    reset_each: bool,
    threshold: usize,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    pub(super) fn new(agreed: &Deflate) -> Deflater {
        // zlib cannot compress with a 256-byte window (8 bits): with that agreement this end
        // sends every message uncompressed, which RFC 7692 always allows.
        let enabled = agreed.local_max_window_bits >= 9;
        Deflater {
            compress: None,
            level: agreed.level,
            window_bits: agreed.local_max_window_bits.max(9),
            enabled,
            reset_each: agreed.local_no_context_takeover,
            threshold: agreed.threshold,
        }
    }

    /// Whether a message of `len` bytes should be compressed.
    pub fn wants(&self, len: usize) -> bool {
        self.enabled && len >= self.threshold
    }

    /// Compresses one whole message payload (RFC 7692 §7.2.1).
    pub fn compress(&mut self, payload: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let (level, bits) = (self.level, self.window_bits);
        let compress = self.compress.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, bits)
        });
        let start = compress.total_in();
        loop {
            let consumed = (compress.total_in() - start) as usize;
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            // Compressing our own valid stream into a Vec cannot fail.
            let _ = compress.compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync);
            let all_in = (compress.total_in() - start) as usize == payload.len();
            // The sync flush is complete once a call leaves output room unused.
            if all_in && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.is_empty() {
            // An empty message: one empty fixed-Huffman block.
            out.push(0);
        }
        if self.reset_each {
            // No context to keep: free the zlib state until the next message.
            self.compress = None;
        }
        Bytes::from(out)
    }
}

/// Decompresses incoming messages, one frame at a time.
///
/// Its zlib state (about 2^bits bytes of window plus 7 KiB) is created on the first compressed
/// message, and released after each message when the peer does not keep its context.
pub struct Inflater {
    decompress: Option<Decompress>,
    window_bits: u8,
    reset_each: bool,
    max_message_size: u64,
    /// Inflated bytes of the message in progress.
    produced: u64,
    /// Compressed bytes of the message in progress, inflated so far.
    taken: u64,
    /// `produced` past `ratio_floor` may be at most `max_ratio` times `taken`.
    max_ratio: u64,
    ratio_floor: u64,
    /// The message in progress ended its DEFLATE stream (a BFINAL block): the rest of it, and
    /// the tail appended to it, are ignored.
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    pub(super) fn new(agreed: &Deflate, max_message_size: u64) -> Inflater {
        Inflater {
            decompress: None,
            // A window at least as large as the peer's inflates its data correctly; 8 bits is
            // served by zlib's smallest, 9.
            window_bits: agreed.remote_max_window_bits.max(9),
            reset_each: agreed.remote_no_context_takeover,
            max_message_size,
            produced: 0,
            taken: 0,
            max_ratio: u64::from(agreed.max_ratio),
            ratio_floor: agreed.ratio_floor as u64,
            ended: false,
        }
    }

    /// Inflates one frame of a compressed message; `fin` marks its last frame.
    ///
    /// # Errors
    /// [`ProtocolError::MessageTooBig`] as soon as the message inflates past the limit (nothing
    /// more is inflated), [`ProtocolError::InvalidCompressedData`] for a corrupt stream.
    pub fn inflate(&mut self, input: &[u8], fin: bool) -> Result<Bytes, ProtocolError> {
        let mut out = Vec::new();
        let mut progress = Progress::default();
        self.inflate_step(input, fin, &mut out, &mut progress, usize::MAX)?;
        Ok(Bytes::from(out))
    }

    /// Inflates more of one frame into `out`, stopping once `out` has grown by about `step`
    /// bytes; `progress` carries the position in `input` from one call to the next. Returns
    /// `true` once the frame is done (then `progress` is back at its start).
    ///
    /// # Errors
    /// As [`Inflater::inflate`].
    pub fn inflate_step(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        progress: &mut Progress,
        step: usize,
    ) -> Result<bool, ProtocolError> {
        let limit = out.len().saturating_add(step);
        if !progress.input_done {
            let (read, done) = self.feed(&input[progress.consumed..], out, limit)?;
            progress.consumed += read;
            if !done {
                return Ok(false);
            }
            progress.input_done = true;
        }
        if fin {
            let (_, done) = self.feed(&TAIL, out, usize::MAX)?;
            debug_assert!(done, "the tail flushes what is left");
            self.produced = 0;
            self.taken = 0;
            self.ended = false;
            if self.reset_each {
                self.decompress = None;
            }
        }
        *progress = Progress::default();
        Ok(true)
    }

    /// Inflates `input` into `out` until all of it is taken (`true`) or `out` reaches `limit`
    /// bytes (`false`); returns how much of `input` was taken.
    fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(usize, bool), ProtocolError> {
        if self.ended {
            return Ok((input.len(), true));
        }
        let mut scratch = [0u8; 16 << 10];
        let mut consumed = 0;
        let bits = self.window_bits;
        let decompress = self
            .decompress
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        loop {
            // Never ask for more than one byte past the limit: a bomb stops right there.
            let room = self.max_message_size.saturating_sub(self.produced) + 1;
            let cap = usize::try_from(room)
                .unwrap_or(usize::MAX)
                .min(scratch.len());
            let (before_in, before_out) = (decompress.total_in(), decompress.total_out());
            let status = decompress
                .decompress(
                    &input[consumed..],
                    &mut scratch[..cap],
                    FlushDecompress::Sync,
                )
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            let read = (decompress.total_in() - before_in) as usize;
            let written = (decompress.total_out() - before_out) as usize;
            consumed += read;
            out.extend_from_slice(&scratch[..written]);
            self.produced += written as u64;
            self.taken += read as u64;
            if self.produced > self.max_message_size {
                return Err(ProtocolError::MessageTooBig {
                    len: self.produced,
                    max: self.max_message_size,
                });
            }
            // Amplification: past the floor, at most `max_ratio` times what came in.
            if self.produced > self.ratio_floor
                && self.produced > self.taken.saturating_mul(self.max_ratio)
            {
                return Err(ProtocolError::CompressionRatio {
                    inflated: self.produced,
                    compressed: self.taken,
                });
            }
            if status == Status::StreamEnd {
                // RFC 7692 §7.2.3.4: a block with BFINAL ends the stream; what follows (our
                // appended tail) is ignored and the next message starts a new stream.
                self.decompress = None;
                self.ended = true;
                return Ok((input.len(), true));
            }
            if consumed == input.len() && written < cap {
                return Ok((consumed, true));
            }
            if read == 0 && written == 0 {
                return Err(ProtocolError::InvalidCompressedData);
            }
            if out.len() >= limit {
                return Ok((consumed, false));
            }
        }
    }
}

/// Where [`Inflater::inflate_step`] stands in a frame it has not finished.
#[derive(Debug, Default, Clone, Copy)]
pub struct Progress {
    /// Bytes of the frame's payload taken so far.
    consumed: usize,
    /// The payload is all taken; the tail (for the last frame) is left.
    input_done: bool,
}

/// The receiving side of permessage-deflate for one connection: inflates each compressed
/// message frame by frame, and checks inflated text as UTF-8 (RFC 7692 §6.2; the frame decoder
/// can check only uncompressed text).
///
/// A frame can be inflated whole ([`MessageInflater::inflate`]) or in bounded steps
/// ([`MessageInflater::inflate_part`]), so that a large one does not hold up whatever else the
/// caller has to do.
#[derive(Debug)]
pub struct MessageInflater {
    inflater: Inflater,
    /// `Some(is_text)` while a compressed message is being inflated.
    inflating: Option<bool>,
    /// UTF-8 state of the inflated text so far.
    utf8: Utf8Validator,
    /// The output and position of a frame inflated in steps, between two steps.
    partial: Option<(Vec<u8>, Progress)>,
}

impl MessageInflater {
    /// Inflates the peer's messages with `inflater`.
    pub fn new(inflater: Inflater) -> MessageInflater {
        MessageInflater {
            inflater,
            inflating: None,
            utf8: Utf8Validator::default(),
            partial: None,
        }
    }

    /// Replaces a data frame's payload by its inflated bytes and clears `rsv1`, if it belongs
    /// to a compressed message (the first frame has `rsv1` set); other frames pass unchanged.
    ///
    /// # Errors
    /// [`ProtocolError::InvalidCompressedData`] or [`ProtocolError::MessageTooBig`] from the
    /// inflater; [`ProtocolError::InvalidUtf8`] for inflated text that is not UTF-8.
    pub fn inflate(&mut self, frame: &mut Message) -> Result<(), ProtocolError> {
        let done = self.inflate_part(frame, usize::MAX)?;
        debug_assert!(done);
        Ok(())
    }

    /// As [`MessageInflater::inflate`], one bounded step at a time: inflates about `step` more
    /// bytes of `frame` and returns `false` if there is more to do (call again with the same
    /// frame), or `true` once the frame's payload has been replaced.
    ///
    /// # Errors
    /// As [`MessageInflater::inflate`]; text is checked as it is inflated, so invalid UTF-8 is
    /// found at the step that produced it.
    pub fn inflate_part(
        &mut self,
        frame: &mut Message,
        step: usize,
    ) -> Result<bool, ProtocolError> {
        if self.partial.is_none() && frame.rsv1 {
            self.inflating = Some(frame.opcode == Opcode::Text);
            self.utf8.reset();
        }
        let Some(is_text) = self.inflating else {
            return Ok(true);
        };
        let (mut out, mut progress) = self.partial.take().unwrap_or_default();
        let checked = out.len();
        let done =
            self.inflater
                .inflate_step(&frame.payload, frame.fin, &mut out, &mut progress, step)?;
        if is_text {
            // RFC 6455 §8.1: text must be UTF-8; checked on the inflated bytes.
            self.utf8.feed(&out[checked..])?;
        }
        if !done {
            self.partial = Some((out, progress));
            return Ok(false);
        }
        if is_text && frame.fin && !self.utf8.is_complete() {
            return Err(ProtocolError::InvalidUtf8);
        }
        frame.payload = Bytes::from(out);
        frame.rsv1 = false;
        if frame.fin {
            self.inflating = None;
        }
        Ok(true)
    }

    /// Bytes inflated so far of the frame being inflated in steps.
    pub fn pending_output(&self) -> usize {
        self.partial.as_ref().map_or(0, |(out, _)| out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::deflate::{negotiate_server, DeflateConfig};

    fn agreed() -> Deflate {
        negotiate_server(
            ["permessage-deflate"].into_iter(),
            &DeflateConfig::default(),
        )
        .unwrap()
        .0
    }

    #[test]
    fn rfc_example_hello() {
        let mut inf = agreed().inflater(1 << 20);
        let out = inf
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true)
            .unwrap();
        assert_eq!(&out[..], b"Hello");
        // And our compressor produces exactly the RFC's bytes.
        let mut def = agreed().deflater();
        assert_eq!(
            &def.compress(b"Hello")[..],
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
    }

    // RFC 7692 §7.2.3.2: a second "Hello" using the shared sliding window.
    #[test]
    fn rfc_example_sliding_window() {
        let mut inf = agreed().inflater(1 << 20);
        inf.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true)
            .unwrap();
        let out = inf.inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], true).unwrap();
        assert_eq!(&out[..], b"Hello");
        let mut def = agreed().deflater();
        def.compress(b"Hello");
        assert_eq!(&def.compress(b"Hello")[..], &[0xf2, 0x00, 0x11, 0x00, 0x00]);
    }

    // RFC 7692 §7.2.3.3: DEFLATE block with no compression.
    #[test]
    fn rfc_example_stored_block() {
        let mut inf = agreed().inflater(1 << 20);
        let out = inf
            .inflate(
                &[
                    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
                ],
                true,
            )
            .unwrap();
        assert_eq!(&out[..], b"Hello");
    }

    // RFC 7692 §7.2.3.4: DEFLATE block with BFINAL set.
    #[test]
    fn rfc_example_bfinal() {
        let mut inf = agreed().inflater(1 << 20);
        let out = inf
            .inflate(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00], true)
            .unwrap();
        assert_eq!(&out[..], b"Hello");
        // The stream ended with that block: the tail appended to it must not leak into the next
        // message, which starts a new stream, whatever frames the BFINAL message came in.
        let out = inf
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true)
            .unwrap();
        assert_eq!(&out[..], b"Hello");
        let a = inf.inflate(&[0xf3, 0x48, 0xcd], false).unwrap();
        let b = inf.inflate(&[0xc9, 0xc9, 0x07, 0x00], false).unwrap();
        let c = inf.inflate(&[0x00, 0x00], true).unwrap();
        assert_eq!([&a[..], &b[..], &c[..]].concat(), b"Hello");
        let out = inf
            .inflate(
                &[
                    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
                ],
                true,
            )
            .unwrap();
        assert_eq!(&out[..], b"Hello");
    }

    #[test]
    fn fragments_inflate_across_frames() {
        let mut inf = agreed().inflater(1 << 20);
        let data = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let a = inf.inflate(&data[..3], false).unwrap();
        let b = inf.inflate(&data[3..], true).unwrap();
        assert_eq!([&a[..], &b[..]].concat(), b"Hello");
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let mut def = agreed().deflater();
        let zeros = vec![0u8; 8 << 20];
        let small = def.compress(&zeros);
        assert!(small.len() < 20_000, "{}", small.len());
        let mut inf = agreed().inflater(1 << 20);
        assert!(matches!(
            inf.inflate(&small, true),
            Err(ProtocolError::MessageTooBig { max: 1048576, .. })
        ));
    }

    #[test]
    fn corrupt_data_is_refused() {
        let mut inf = agreed().inflater(1 << 20);
        assert_eq!(
            inf.inflate(&[0xff, 0xff, 0xff], true),
            Err(ProtocolError::InvalidCompressedData)
        );
    }

    // The amplification bound: past the floor, at most `max_ratio` times the compressed size.
    #[test]
    fn inflating_past_the_floor_is_bounded_by_the_ratio() {
        let config = DeflateConfig {
            ratio_floor: 64 << 10,
            max_ratio: 16,
            ..Default::default()
        };
        let agreed = negotiate_server(["permessage-deflate"].into_iter(), &config)
            .unwrap()
            .0;
        let compress = |data: &[u8]| agreed.mirrored().deflater().compress(data);
        // 32 KiB of zeros: past any ratio, but under the floor.
        let small = compress(&[0u8; 32 << 10]);
        assert!(agreed.inflater(1 << 30).inflate(&small, true).is_ok());
        // 1 MiB of zeros: about 1,000 times smaller compressed, so refused past the floor.
        let bomb = compress(&vec![0u8; 1 << 20]);
        let err = agreed.inflater(1 << 30).inflate(&bomb, true).unwrap_err();
        let ProtocolError::CompressionRatio {
            inflated,
            compressed,
        } = err
        else {
            panic!("{err:?}");
        };
        assert!(inflated > 64 << 10 && inflated > 16 * compressed && inflated < 1 << 20);
        // Noise barely compresses: 1 MiB of it inflates fine.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..1 << 20)
            .map(|_| {
                // xorshift64: bytes deflate cannot shrink.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let packed = compress(&noise);
        assert_eq!(
            agreed.inflater(1 << 30).inflate(&packed, true).unwrap(),
            noise
        );
    }
}
