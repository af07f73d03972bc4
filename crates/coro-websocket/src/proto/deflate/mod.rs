//! permessage-deflate (RFC 7692): negotiation and the per-message compressor and decompressor.
//!
//! Sans-I/O like the rest of `proto`: the handshake layer asks [`negotiate_server`] or
//! [`negotiate_client`] for the agreed [`Deflate`] parameters, and the session runs a
//! [`Deflater`] on outgoing messages and an [`Inflater`] on incoming ones. Decompression is
//! bounded: it stops as soon as a message passes the size limit, so a "bomb" costs at most the
//! limit in memory.

use std::fmt::Write as _;

mod codec;
mod extension;
mod negotiate;

pub use codec::{Deflater, Inflater, MessageInflater, Progress};
pub use negotiate::{negotiate_client, negotiate_server, AnswerError};

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
    /// Receiving: how many times its compressed size a message may inflate to, once past
    /// [`DeflateConfig::ratio_floor`] (default 16). Deflate can expand about 1,000 times, so a
    /// "bomb" of 1 MiB would otherwise ask for up to the message limit (64 MiB by default) of
    /// memory; with 16, it costs at most 16 MiB before the connection is closed with 1009.
    /// Real text rarely compresses more than 10 times; raise it for data that does.
    pub max_ratio: u32,
    /// Receiving: a message may always inflate to this many bytes, whatever its ratio
    /// (default 1 MiB: small, very repetitive messages are fine).
    pub ratio_floor: usize,
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
            max_ratio: 16,
            ratio_floor: 1 << 20,
        }
    }
}

/// A [`DeflateConfig`] value out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeflateConfigError {
    /// A `*_max_window_bits` outside 8–15.
    #[error("invalid permessage-deflate setting: window bits must be from 8 to 15, not {0}")]
    WindowBits(u8),
    /// A level above 9.
    #[error("invalid permessage-deflate setting: level must be from 0 to 9, not {0}")]
    Level(u32),
    /// A `max_ratio` of zero.
    #[error("invalid permessage-deflate setting: max_ratio must be at least 1")]
    Ratio,
}

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
                return Err(DeflateConfigError::WindowBits(bits));
            }
        }
        if self.level > 9 {
            return Err(DeflateConfigError::Level(self.level));
        }
        if self.max_ratio == 0 {
            return Err(DeflateConfigError::Ratio);
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
    /// Receiving: the largest inflated-to-compressed ratio past `ratio_floor`.
    pub max_ratio: u32,
    /// Receiving: the size a message may always inflate to.
    pub ratio_floor: usize,
}

impl Deflate {
    /// The agreement with the roles swapped: what the other end agreed to. (For fuzzing and
    /// benchmarks, which play both ends.)
    #[doc(hidden)]
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
        Deflater::new(self)
    }

    /// The decompressor for the peer's messages, bounded by `max_message_size`.
    pub fn inflater(&self, max_message_size: u64) -> Inflater {
        Inflater::new(self, max_message_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
