//! Incremental UTF-8 validation across frame and fragment boundaries (RFC 6455 §8.1).
//!
//! Text may be split anywhere: between fragments, or between two reads of one frame. The validator
//! keeps at most three bytes of an unfinished code point and fails as soon as the bytes seen so far
//! cannot be the start of valid UTF-8 ("fail fast"), without waiting for the frame to end.

use simdutf8::compat::from_utf8;

/// Streaming UTF-8 validator.
///
/// ```
/// use coro_websocket::proto::Utf8Validator;
/// let euro = "€".as_bytes(); // e2 82 ac
/// let mut v = Utf8Validator::default();
/// assert!(v.feed(&euro[..1]).is_ok());
/// assert!(v.feed(&euro[1..]).is_ok());
/// assert!(v.is_complete());
/// // A lone continuation byte is refused at once.
/// assert!(Utf8Validator::default().feed(&[0x80]).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: usize,
}

/// The bytes fed so far can never become valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Whether `data` is valid UTF-8 on its own (a whole message), by the fastest test available.
pub(crate) fn is_valid(data: &[u8]) -> bool {
    is_ascii(data) || simdutf8::basic::from_utf8(data).is_ok()
}

/// Whether `data` is short ASCII, tested a word at a time (small text frames are the common
/// case, and too short for the SIMD validator to pay off).
fn is_ascii(data: &[u8]) -> bool {
    if data.len() > 64 {
        return false;
    }
    let mut words = data.chunks_exact(8);
    let mut acc = 0u64;
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        acc |= u64::from_ne_bytes(b);
    }
    for &b in words.remainder() {
        acc |= u64::from(b);
    }
    acc & 0x8080_8080_8080_8080 == 0
}

fn sequence_width(lead: u8) -> usize {
    match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

impl Utf8Validator {
    /// Validates the next piece of text.
    ///
    /// # Errors
    /// [`InvalidUtf8`] as soon as the text so far is not a prefix of valid UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let width = sequence_width(self.pending[0]);
            let take = (width - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            match from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() && e.valid_up_to() == 0 => return Ok(()),
                Err(_) => return Err(InvalidUtf8),
            }
        }
        if is_valid(data) {
            // The common cases, at full speed: the compat API below is slower, and is only
            // needed to find where an unfinished code point starts.
            return Ok(());
        }
        match from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let rest = &data[e.valid_up_to()..];
                self.pending[..rest.len()].copy_from_slice(rest);
                self.pending_len = rest.len();
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Whether the text fed so far ends on a code point boundary (required at message end).
    pub fn is_complete(&self) -> bool {
        self.pending_len == 0
    }

    /// Forgets any partial code point, for the next message.
    pub fn reset(&mut self) {
        self.pending_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_split(bytes: &[u8], at: usize) -> Result<bool, InvalidUtf8> {
        let mut v = Utf8Validator::default();
        v.feed(&bytes[..at])?;
        v.feed(&bytes[at..])?;
        Ok(v.is_complete())
    }

    // RFC 6455 §8.1: text split at every byte boundary is still valid.
    #[test]
    fn valid_text_split_anywhere() {
        let text = "κόσμε a€𝄞 ascii".as_bytes();
        for at in 0..=text.len() {
            assert_eq!(feed_split(text, at), Ok(true), "split at {at}");
        }
    }

    #[test]
    fn byte_at_a_time() {
        let text = "héllo wörld 𝄞".as_bytes();
        let mut v = Utf8Validator::default();
        for b in text {
            v.feed(std::slice::from_ref(b)).unwrap();
        }
        assert!(v.is_complete());
    }

    // Fail fast: a surrogate (ED A0) is refused before its third byte arrives.
    #[test]
    fn fails_fast_on_invalid_prefix() {
        let mut v = Utf8Validator::default();
        v.feed(&[0xed]).unwrap();
        assert_eq!(v.feed(&[0xa0]), Err(InvalidUtf8));
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[0xf4, 0x90]), Err(InvalidUtf8)); // above U+10FFFF
        assert_eq!(
            Utf8Validator::default().feed(b"ok\xc0\xaf"),
            Err(InvalidUtf8)
        );
    }

    #[test]
    fn truncated_sequence_is_incomplete() {
        let mut v = Utf8Validator::default();
        v.feed(&[b'a', 0xe2, 0x82]).unwrap();
        assert!(!v.is_complete());
        v.reset();
        assert!(v.is_complete());
    }
}
