//! Payload masking (RFC 6455 §5.3): the one hot loop for XOR-ing a masking key over a payload.
//!
//! Safe code only, written so the compiler vectorises it: the key is widened to a 64-bit word and
//! XOR-ed eight bytes at a time; the tail is done byte-wise.

/// XORs `key` over `buf`, where `buf` starts `offset` bytes into the frame's payload.
///
/// Masking and unmasking are the same operation. `offset` lets a payload be unmasked in pieces as
/// it arrives.
///
/// ```
/// use coro_websocket::proto::apply_mask;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut data = *b"Hello";
/// apply_mask(&mut data, key, 0);
/// assert_eq!(&data, b"\x7f\x9f\x4d\x51\x58"); // RFC 6455 §5.7
/// // Unmask in two pieces.
/// apply_mask(&mut data[..3], key, 0);
/// apply_mask(&mut data[3..], key, 3);
/// assert_eq!(&data, b"Hello");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = if offset & 3 == 0 {
        key
    } else {
        let r = offset & 3;
        [key[r], key[(r + 1) & 3], key[(r + 2) & 3], key[(r + 3) & 3]]
    };
    let half = u32::from_ne_bytes(key);
    // The key twice over, in memory order, whatever the byte order.
    let wide = u64::from(half) | (u64::from(half) << 32);
    let mut rest = buf;
    if rest.len() >= 64 {
        let mut chunks = rest.chunks_exact_mut(32);
        for chunk in &mut chunks {
            for word in chunk.chunks_exact_mut(8) {
                xor_word(word, wide);
            }
        }
        rest = chunks.into_remainder();
    }
    // The tail (or a whole small payload) a word, then a half word, then a byte at a time.
    while rest.len() >= 8 {
        let (word, tail) = rest.split_at_mut(8);
        xor_word(word, wide);
        rest = tail;
    }
    if rest.len() >= 4 {
        let (word, tail) = rest.split_at_mut(4);
        let mut b = [0u8; 4];
        b.copy_from_slice(word);
        word.copy_from_slice(&(u32::from_ne_bytes(b) ^ half).to_ne_bytes());
        rest = tail;
    }
    for (byte, k) in rest.iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// Unmasks a small whole payload with `key` (all zeros for an unmasked one) and says whether
/// it is all ASCII, in one pass: a small text frame is then checked as UTF-8 for free.
#[inline]
pub(crate) fn unmask_small(buf: &mut [u8], key: [u8; 4]) -> bool {
    let half = u32::from_ne_bytes(key);
    let wide = u64::from(half) | (u64::from(half) << 32);
    let mut seen = 0u64;
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(word);
        let v = u64::from_ne_bytes(b) ^ wide;
        word.copy_from_slice(&v.to_ne_bytes());
        seen |= v;
    }
    // The tail starts at a multiple of 8, so the key lines up with its first byte.
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
        seen |= u64::from(*byte);
    }
    seen & 0x8080_8080_8080_8080 == 0
}

#[inline(always)]
fn xor_word(word: &mut [u8], wide: u64) {
    let mut b = [0u8; 8];
    b.copy_from_slice(word);
    word.copy_from_slice(&(u64::from_ne_bytes(b) ^ wide).to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::apply_mask;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) & 3];
        }
    }

    #[test]
    fn matches_bytewise_masking_at_every_length_and_offset() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..100 {
            for offset in 0..4 {
                let orig: Vec<u8> = (0..len as u8).collect();
                let mut fast = orig.clone();
                let mut slow = orig.clone();
                apply_mask(&mut fast, key, offset);
                naive(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn unmask_small_unmasks_and_tells_ascii_at_every_length() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..80 {
            for high in [None, Some(len / 2)] {
                let mut orig: Vec<u8> = (0..len as u8).map(|b| b & 0x7f).collect();
                if let Some(at) = high.filter(|_| len > 0) {
                    orig[at] = 0xc3;
                }
                let mut masked = orig.clone();
                naive(&mut masked, key, 0);
                let ascii = super::unmask_small(&mut masked, key);
                assert_eq!(masked, orig, "len {len}");
                assert_eq!(ascii, orig.is_ascii(), "len {len}");
                // An unmasked payload (key of zeros) is left as it is.
                assert_eq!(super::unmask_small(&mut masked, [0; 4]), orig.is_ascii());
                assert_eq!(masked, orig);
            }
        }
    }

    #[test]
    fn unaligned_start_is_handled() {
        let key = [1, 2, 3, 4];
        let mut buf = vec![0u8; 67];
        apply_mask(&mut buf[3..], key, 0);
        let mut want = vec![0u8; 67];
        naive(&mut want[3..], key, 0);
        assert_eq!(buf, want);
    }
}
