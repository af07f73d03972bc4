//! `handshake_response`: the client's view of the server's answer (RFC 6455 §4.1).
//!
//! Input layout: byte 0 picks the `HeadLimits` (as in `handshake_request`), byte 1 picks what the
//! client offered (bits 0-1: subprotocol offer, bit 2: an extension offer); the rest is the
//! response head. The key is always RFC 6455's sample key `dGhlIHNhbXBsZSBub25jZQ==`, whose
//! accept value is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
//!
//! Checks: `parse_response` and `validate_response` never panic; a complete head parses the same
//! from exactly its own bytes and shorter prefixes need more; an accepted response has status
//! 101, the right accept value, and selects only a subprotocol and extensions that were offered.
#![no_main]

use coro_websocket::handshake::{
    accept_key, parse_response, validate_response, HandshakeError, HeadLimits,
};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const OFFERS: [Option<&str>; 4] = [None, Some("chat"), Some("chat, superchat"), Some(" v1 ,, ")];

fn limits(selector: u8) -> HeadLimits {
    const BYTES: [usize; 8] = [0, 16, 64, 128, 256, 1024, 8192, usize::MAX];
    const HEADERS: [usize; 8] = [0, 1, 2, 4, 8, 16, 64, 128];
    HeadLimits {
        max_bytes: BYTES[usize::from(selector & 7)],
        max_headers: HEADERS[usize::from(selector >> 3 & 7)],
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&[selector, offer], head)) = data.split_first_chunk::<2>() else {
        return;
    };
    let limits = limits(selector);
    let subprotocol = OFFERS[usize::from(offer & 3)];
    let extensions = (offer & 4 != 0).then_some("permessage-deflate");

    let (resp, n) = match parse_response(head, limits) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(n <= head.len() && n <= limits.max_bytes);
    let again = parse_response(&head[..n], limits).expect("own bytes parse");
    assert_eq!(again, Some((resp.clone(), n)));
    let cut = usize::from(offer >> 3) % n.max(1);
    if cut > 0 {
        assert_eq!(
            parse_response(&head[..cut], limits),
            Ok(None),
            "prefix of {cut}"
        );
    }

    match validate_response(&resp, KEY, subprotocol, extensions) {
        Ok((protocol, ext)) => {
            assert_eq!(resp.code, 101);
            let accept = resp.headers.get("sec-websocket-accept").map(str::trim);
            assert_eq!(accept, Some(accept_key(KEY).as_str()));
            if let Some(p) = protocol {
                let offered = subprotocol.expect("a subprotocol that was never offered");
                assert!(
                    offered.split(',').any(|o| o.trim() == p),
                    "{p:?} not in {offered:?}"
                );
                assert!(!p.is_empty() || offered.split(',').any(|o| o.trim().is_empty()));
            }
            if ext.is_some() {
                assert!(extensions.is_some(), "extensions that were never offered");
            }
        }
        Err(HandshakeError::Rejected(r)) => {
            assert_ne!(resp.code, 101);
            assert_eq!(r.status, resp.code);
        }
        Err(e) => {
            assert_eq!(resp.code, 101, "{e}");
            let _ = e.to_string();
        }
    }
});
