//! `utf8`: `Utf8Validator` fed in fuzzer-chosen chunks against `std::str::from_utf8`.
//!
//! Input layout: byte 0 = `n` (mod 16), then `n` chunk lengths (each byte, 0 allowed), cycled;
//! the rest is the text.
//!
//! Checks: with `k` the length of the shortest prefix that std says can never become valid UTF-8
//! (`error_len()` is `Some`), the validator accepts every chunk that ends before `k` and refuses
//! the chunk that reaches `k` (fail fast, never early); without such a prefix it accepts every
//! chunk and ends complete exactly when the whole input is valid UTF-8.
#![no_main]

use coro_websocket::proto::Utf8Validator;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16);
    if rest.len() < n {
        return;
    }
    let (sizes, text) = rest.split_at(n);
    // Zero-length feeds are allowed, but not a cycle of nothing but them.
    let sizes = if sizes.iter().all(|&s| s == 0) {
        &[][..]
    } else {
        sizes
    };
    let mut sizes = sizes.iter().map(|&s| usize::from(s)).cycle();

    // The shortest prefix that can never become valid UTF-8, if any.
    let invalid_at = match std::str::from_utf8(text) {
        Ok(_) => None,
        Err(e) => (e.valid_up_to() + 1..=text.len()).find(
            |&k| matches!(std::str::from_utf8(&text[..k]), Err(e) if e.error_len().is_some()),
        ),
    };

    let mut v = Utf8Validator::default();
    let mut fed = 0;
    let mut rest = text;
    loop {
        let take = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        match v.feed(chunk) {
            Ok(()) => {
                fed += chunk.len();
                if let Some(at) = invalid_at {
                    assert!(fed < at, "accepted {fed} bytes; invalid after {at}");
                }
            }
            Err(_) => {
                let at = invalid_at.expect("refused valid UTF-8");
                // Fail fast: the invalid byte is in this chunk (the validator never looks ahead).
                assert!(
                    fed < at && at <= fed + chunk.len(),
                    "refused at the wrong chunk"
                );
                return;
            }
        }
        if rest.is_empty() {
            break;
        }
    }
    assert_eq!(invalid_at, None);
    assert_eq!(v.is_complete(), std::str::from_utf8(text).is_ok());
});
