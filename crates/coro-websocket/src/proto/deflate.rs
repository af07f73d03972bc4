//! permessage-deflate (RFC 7692): negotiation and the per-message compressor and decompressor.
//!
//! Sans-I/O like the rest of `proto`: the handshake layer asks [`negotiate_server`] or
//! [`negotiate_client`] for the agreed [`Deflate`] parameters, and the session runs a
//! [`Deflater`] on outgoing messages and an [`Inflater`] on incoming ones. Decompression is
//! bounded: it stops as soon as a message passes the size limit, so a "bomb" costs at most the
//! limit in memory.

use std::fmt::Write as _;

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{ProtocolError, Role};

/// The extension's registered name.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// RFC 7692 §7.2.1: the four octets a sync flush ends with, removed on send and restored on
/// receive.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// permessage-deflate settings: what a client offers, or what a server accepts (RFC 7692 §7).
///
/// `server_*` parameters govern what the server sends, `client_*` what the client sends, as in the
/// RFC, whichever end this configures.
///
/// ```
/// use coro_websocket::DeflateConfig;
/// let mut small = DeflateConfig::default();
/// small.client_max_window_bits = Some(9);
/// small.server_max_window_bits = Some(9);
/// small.client_no_context_takeover = true;
/// small.server_no_context_takeover = true;
/// assert!(small.validate().is_ok());
/// small.server_max_window_bits = Some(16);
/// assert!(small.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// The server resets its compression context after each message (saves the server's window
    /// memory between messages, costs ratio).
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The largest LZ77 window (2^bits bytes, 8–15) the server may use. A client asks for it; a
    /// server applies it to itself.
    pub server_max_window_bits: Option<u8>,
    /// The largest window the client may use. A client offers it (and always says it accepts a
    /// limit); a server imposes it when the client allows.
    pub client_max_window_bits: Option<u8>,
    /// Messages with fewer payload bytes than this are sent uncompressed (default 64, below which
    /// deflate rarely saves anything).
    pub threshold: usize,
    /// The zlib compression level, 0–9 (default 6).
    pub level: u32,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
            threshold: 64,
            level: 6,
        }
    }
}

/// A [`DeflateConfig`] value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid permessage-deflate setting: {0}")]
pub struct DeflateConfigError(&'static str);

impl DeflateConfig {
    /// Checks the window bits (8–15) and the level (0–9).
    ///
    /// # Errors
    /// [`DeflateConfigError`] naming the bad setting.
    pub fn validate(&self) -> Result<(), DeflateConfigError> {
        for bits in [self.server_max_window_bits, self.client_max_window_bits]
            .into_iter()
            .flatten()
        {
            if !(8..=15).contains(&bits) {
                return Err(DeflateConfigError("window bits must be from 8 to 15"));
            }
        }
        if self.level > 9 {
            return Err(DeflateConfigError("level must be from 0 to 9"));
        }
        Ok(())
    }

    /// The client's offer, for `Sec-WebSocket-Extensions`.
    ///
    /// ```
    /// use coro_websocket::DeflateConfig;
    /// assert_eq!(DeflateConfig::default().offer(), "permessage-deflate; client_max_window_bits");
    /// ```
    pub fn offer(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            let _ = write!(s, "; server_max_window_bits={bits}");
        }
        // Always tell the server it may limit our window (RFC 7692 §7.1.2.2).
        match self.client_max_window_bits {
            Some(bits) => {
                let _ = write!(s, "; client_max_window_bits={bits}");
            }
            None => s.push_str("; client_max_window_bits"),
        }
        s
    }
}

/// The parameters both ends agreed on, seen from one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deflate {
    /// This end resets its compressor after each message.
    pub local_no_context_takeover: bool,
    /// The peer resets its compressor after each message.
    pub remote_no_context_takeover: bool,
    /// This end's window bits (8–15).
    pub local_max_window_bits: u8,
    /// The peer's window bits (8–15).
    pub remote_max_window_bits: u8,
    /// Smaller messages are sent uncompressed.
    pub threshold: usize,
    /// Compression level.
    pub level: u32,
}

/// A parameter of an extension offer or answer (RFC 6455 §9.1).
type Params<'a> = Vec<(&'a str, Option<String>)>;

/// Splits `Sec-WebSocket-Extensions` values into extensions and their parameters.
///
/// Returns `None` if the syntax is broken.
fn parse_extensions<'a>(
    values: impl Iterator<Item = &'a str>,
) -> Option<Vec<(&'a str, Params<'a>)>> {
    let mut out = Vec::new();
    for value in values {
        for element in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let mut parts = element.split(';').map(str::trim);
            let name = parts.next().filter(|n| is_token(n))?;
            let mut params = Vec::new();
            for part in parts {
                let (key, val) = match part.split_once('=') {
                    Some((k, v)) => {
                        let v = v.trim();
                        let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                            Some(inner) => inner.to_owned(),
                            None => v.to_owned(),
                        };
                        if !is_token(&v) {
                            return None;
                        }
                        (k.trim(), Some(v))
                    }
                    None => (part, None),
                };
                if !is_token(key) {
                    return None;
                }
                params.push((key, val));
            }
            out.push((name, params));
        }
    }
    Some(out)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Window bits in an offer or answer: 8–15, digits only.
fn window_bits(value: &str) -> Option<u8> {
    if value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) || value.starts_with('0') {
        return None;
    }
    value.parse().ok().filter(|b| (8..=15).contains(b))
}

/// The parameters of one permessage-deflate element, checked (RFC 7692 §7.1).
#[derive(Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

fn check_params(params: &Params<'_>) -> Option<Parsed> {
    let mut p = Parsed::default();
    let mut seen = Vec::new();
    for (key, value) in params {
        let key = key.to_ascii_lowercase();
        // RFC 7692 §7: a parameter appearing more than once makes the element invalid.
        if seen.contains(&key) {
            return None;
        }
        match (key.as_str(), value) {
            ("server_no_context_takeover", None) => p.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => p.client_no_context_takeover = true,
            ("server_max_window_bits", Some(v)) => p.server_max_window_bits = Some(window_bits(v)?),
            ("client_max_window_bits", None) => p.client_max_window_bits = Some(None),
            ("client_max_window_bits", Some(v)) => {
                p.client_max_window_bits = Some(Some(window_bits(v)?))
            }
            _ => return None,
        }
        seen.push(key);
    }
    Some(p)
}

/// A server's answer to the client's offers: the first acceptable permessage-deflate offer wins.
///
/// Returns the agreed parameters (from the server's side) and the `Sec-WebSocket-Extensions`
/// value to answer with, or `None` to decline (no offer, or none acceptable).
///
/// ```
/// use coro_websocket::{proto::deflate::negotiate_server, DeflateConfig};
/// let offers = ["permessage-deflate; client_max_window_bits=10; server_max_window_bits=12"];
/// let (agreed, answer) = negotiate_server(offers.into_iter(), &DeflateConfig::default()).unwrap();
/// assert_eq!(answer, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10");
/// assert_eq!((agreed.local_max_window_bits, agreed.remote_max_window_bits), (12, 10));
/// ```
pub fn negotiate_server<'a>(
    offers: impl Iterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(Deflate, String)> {
    let extensions = parse_extensions(offers)?;
    for (name, params) in extensions {
        if !name.eq_ignore_ascii_case(EXTENSION_NAME) {
            continue;
        }
        // An invalid offer is declined; the next one may still be accepted (RFC 7692 §5).
        let Some(offer) = check_params(&params) else {
            continue;
        };
        let server_nct = offer.server_no_context_takeover || config.server_no_context_takeover;
        let client_nct = offer.client_no_context_takeover || config.client_no_context_takeover;
        let server_bits = match (offer.server_max_window_bits, config.server_max_window_bits) {
            (Some(o), Some(c)) => Some(o.min(c)),
            (o, c) => o.or(c),
        };
        // The server may limit the client's window only if the client said it accepts that.
        let client_bits = match (offer.client_max_window_bits, config.client_max_window_bits) {
            (Some(o), Some(c)) => Some(o.map_or(c, |o| o.min(c))),
            (Some(Some(o)), None) => Some(o),
            _ => None,
        };
        let mut answer = String::from(EXTENSION_NAME);
        if server_nct {
            answer.push_str("; server_no_context_takeover");
        }
        if client_nct {
            answer.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = server_bits {
            let _ = write!(answer, "; server_max_window_bits={bits}");
        }
        if let Some(bits) = client_bits {
            let _ = write!(answer, "; client_max_window_bits={bits}");
        }
        let agreed = Deflate {
            local_no_context_takeover: server_nct,
            remote_no_context_takeover: client_nct,
            local_max_window_bits: server_bits.unwrap_or(15),
            remote_max_window_bits: client_bits.unwrap_or(15),
            threshold: config.threshold,
            level: config.level,
        };
        return Some((agreed, answer));
    }
    None
}

/// A client's check of the server's answer to its offer (RFC 7692 §5, §7.1).
///
/// `answer` is every `Sec-WebSocket-Extensions` value of the response. Returns `Ok(None)` when
/// the server declined, the agreed parameters when it accepted.
///
/// # Errors
/// An answer the client cannot accept: another extension, more than one element, an unknown or
/// repeated parameter, a window larger than offered, or a client window limit never allowed.
/// The string names what was wrong.
pub fn negotiate_client<'a>(
    answer: impl Iterator<Item = &'a str>,
    offered: &DeflateConfig,
) -> Result<Option<Deflate>, &'static str> {
    let extensions = parse_extensions(answer).ok_or("malformed Sec-WebSocket-Extensions")?;
    let Some((name, params)) = extensions.first() else {
        return Ok(None);
    };
    if extensions.len() > 1 || !name.eq_ignore_ascii_case(EXTENSION_NAME) {
        return Err("the server selected extensions that were not offered");
    }
    let p = check_params(params).ok_or("invalid permessage-deflate parameters")?;
    if let (Some(got), Some(asked)) = (p.server_max_window_bits, offered.server_max_window_bits) {
        if got > asked {
            return Err("server_max_window_bits larger than offered");
        }
    }
    let client_bits = match p.client_max_window_bits {
        Some(None) => return Err("client_max_window_bits without a value in the answer"),
        Some(Some(bits)) => {
            if offered
                .client_max_window_bits
                .is_some_and(|asked| bits > asked)
            {
                return Err("client_max_window_bits larger than offered");
            }
            bits
        }
        None => offered.client_max_window_bits.unwrap_or(15),
    };
    Ok(Some(Deflate {
        local_no_context_takeover: p.client_no_context_takeover,
        remote_no_context_takeover: p.server_no_context_takeover,
        local_max_window_bits: client_bits,
        remote_max_window_bits: p.server_max_window_bits.unwrap_or(15),
        threshold: offered.threshold,
        level: offered.level,
    }))
}

impl Deflate {
    /// The agreement with the roles swapped: what the other end agreed to.
    pub fn mirrored(self) -> Deflate {
        Deflate {
            local_no_context_takeover: self.remote_no_context_takeover,
            remote_no_context_takeover: self.local_no_context_takeover,
            local_max_window_bits: self.remote_max_window_bits,
            remote_max_window_bits: self.local_max_window_bits,
            ..self
        }
    }

    /// The compressor for this end's messages.
    pub fn deflater(&self) -> Deflater {
        // zlib cannot compress with a 256-byte window (8 bits): with that agreement this end
        // sends every message uncompressed, which RFC 7692 always allows.
        let enabled = self.local_max_window_bits >= 9;
        Deflater {
            compress: None,
            level: self.level,
            window_bits: self.local_max_window_bits.max(9),
            enabled,
            reset_each: self.local_no_context_takeover,
            threshold: self.threshold,
        }
    }

    /// The decompressor for the peer's messages, bounded by `max_message_size`.
    pub fn inflater(&self, max_message_size: u64) -> Inflater {
        Inflater {
            decompress: None,
            // A window at least as large as the peer's inflates its data correctly; 8 bits is
            // served by zlib's smallest, 9.
            window_bits: self.remote_max_window_bits.max(9),
            reset_each: self.remote_no_context_takeover,
            max_message_size,
            produced: 0,
            ended: false,
        }
    }
}

/// Compresses outgoing messages.
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
    produced: u64,
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
    /// Inflates one frame of a compressed message; `fin` marks its last frame.
    ///
    /// # Errors
    /// [`ProtocolError::MessageTooBig`] as soon as the message inflates past the limit (nothing
    /// more is inflated), [`ProtocolError::InvalidCompressedData`] for a corrupt stream.
    pub fn inflate(&mut self, input: &[u8], fin: bool) -> Result<Bytes, ProtocolError> {
        let mut out = Vec::new();
        self.feed(input, &mut out)?;
        if fin {
            self.feed(&TAIL, &mut out)?;
            self.produced = 0;
            self.ended = false;
            if self.reset_each {
                self.decompress = None;
            }
        }
        Ok(Bytes::from(out))
    }

    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        if self.ended {
            return Ok(());
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
            if self.produced > self.max_message_size {
                return Err(ProtocolError::MessageTooBig {
                    len: self.produced,
                    max: self.max_message_size,
                });
            }
            if status == Status::StreamEnd {
                // RFC 7692 §7.2.3.4: a block with BFINAL ends the stream; what follows (our
                // appended tail) is ignored and the next message starts a new stream.
                self.decompress = None;
                self.ended = true;
                return Ok(());
            }
            if consumed == input.len() && written < cap {
                return Ok(());
            }
            if read == 0 && written == 0 {
                return Err(ProtocolError::InvalidCompressedData);
            }
        }
    }
}

/// Which end compresses what: the agreement from the point of view of `role`.
pub fn for_role(agreed_by_server: Deflate, role: Role) -> Deflate {
    match role {
        Role::Server => agreed_by_server,
        Role::Client => agreed_by_server.mirrored(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreed() -> Deflate {
        negotiate_server(
            ["permessage-deflate"].into_iter(),
            &DeflateConfig::default(),
        )
        .unwrap()
        .0
    }

    // RFC 7692 §7.2.3.1: "Hello" compressed.
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

    #[test]
    fn roundtrip_every_window_and_context_mode() {
        let text = b"the quick brown fox jumps over the lazy dog; ".repeat(200);
        for bits in 8..=15u8 {
            for nct in [false, true] {
                let cfg = DeflateConfig {
                    server_max_window_bits: Some(bits),
                    client_max_window_bits: Some(bits),
                    server_no_context_takeover: nct,
                    client_no_context_takeover: nct,
                    ..DeflateConfig::default()
                };
                let (server, answer) =
                    negotiate_server([cfg.offer().as_str()].into_iter(), &cfg).unwrap();
                let client = negotiate_client([answer.as_str()].into_iter(), &cfg)
                    .unwrap()
                    .unwrap();
                assert_eq!(client, server.mirrored());
                let mut def = client.deflater();
                let mut inf = server.inflater(1 << 20);
                for _ in 0..3 {
                    let wire = if def.wants(text.len()) {
                        def.compress(&text)
                    } else {
                        continue;
                    };
                    assert_eq!(&inf.inflate(&wire, true).unwrap()[..], &text[..]);
                }
            }
        }
    }

    // RFC 7692 §7: negotiation rules.
    #[test]
    fn server_declines_invalid_offers_and_takes_the_next() {
        let cfg = DeflateConfig::default();
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=010",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; unknown_param",
            "x-webkit-deflate-frame",
        ] {
            assert!(negotiate_server([bad].into_iter(), &cfg).is_none(), "{bad}");
            let two = format!("{bad}, permessage-deflate");
            assert_eq!(
                negotiate_server([two.as_str()].into_iter(), &cfg)
                    .unwrap()
                    .1,
                "permessage-deflate",
                "{bad}"
            );
        }
    }

    #[test]
    fn server_limits_the_client_window_only_if_allowed() {
        let cfg = DeflateConfig {
            client_max_window_bits: Some(10),
            ..DeflateConfig::default()
        };
        let (_, a) = negotiate_server(["permessage-deflate"].into_iter(), &cfg).unwrap();
        assert_eq!(a, "permessage-deflate");
        let (d, a) = negotiate_server(
            ["permessage-deflate; client_max_window_bits"].into_iter(),
            &cfg,
        )
        .unwrap();
        assert_eq!(a, "permessage-deflate; client_max_window_bits=10");
        assert_eq!(d.remote_max_window_bits, 10);
        let (_, a) = negotiate_server(
            ["permessage-deflate; client_max_window_bits=\"9\""].into_iter(),
            &cfg,
        )
        .unwrap();
        assert_eq!(a, "permessage-deflate; client_max_window_bits=9");
    }

    #[test]
    fn client_refuses_answers_it_cannot_accept() {
        let cfg = DeflateConfig {
            server_max_window_bits: Some(10),
            ..DeflateConfig::default()
        };
        for bad in [
            "permessage-deflate; server_max_window_bits=12",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; foo",
            "permessage-deflate, permessage-deflate",
            "x-other",
        ] {
            assert!(negotiate_client([bad].into_iter(), &cfg).is_err(), "{bad}");
        }
        let none = negotiate_client(std::iter::empty(), &cfg).unwrap();
        assert_eq!(none, None);
    }
}
