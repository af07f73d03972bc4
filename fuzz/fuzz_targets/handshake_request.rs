//! `handshake_request`: the server's view of an opening handshake (RFC 6455 §4.2).
//!
//! Input layout: byte 0 picks the `HeadLimits`, byte 1 is a bit set over a few subprotocols the
//! server supports; the rest is the request head (and whatever follows it).
//!
//! Checks: `parse_request`, `validate_request` and `select_subprotocol` never panic; a complete
//! head parses the same from exactly its own bytes and every shorter prefix is "need more";
//! a valid request's key is a 24-character key; `encode_response` for it parses with
//! `parse_response` as a 101 that passes `validate_response` for that key and yields the selected
//! subprotocol; the client encoder (`encode_request`), given the parsed target and headers,
//! produces a request that parses and validates with the same key; a refused request's
//! `encode_rejection` parses as a response with the error's status.
#![no_main]

use coro_websocket::handshake::{
    encode_rejection, encode_request, encode_response, parse_request, parse_response,
    select_subprotocol, validate_request, validate_response, HeadLimits,
};
use coro_websocket::{Headers, Rejection};
use libfuzzer_sys::fuzz_target;

const SUPPORTED: [&str; 6] = ["chat", "superchat", "v1.proto", "x y", "\u{fffd}", "CHAT"];

fn limits(selector: u8) -> HeadLimits {
    const BYTES: [usize; 8] = [0, 16, 64, 128, 256, 1024, 8192, usize::MAX];
    const HEADERS: [usize; 8] = [0, 1, 2, 4, 8, 16, 64, 128];
    HeadLimits {
        max_bytes: BYTES[usize::from(selector & 7)],
        max_headers: HEADERS[usize::from(selector >> 3 & 7)],
    }
}

/// Roomy limits for re-parsing our own output.
fn roomy(bytes: &[u8]) -> HeadLimits {
    HeadLimits {
        max_bytes: bytes.len(),
        max_headers: bytes.iter().filter(|&&b| b == b'\n').count() + 1,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&[selector, protocols], head)) = data.split_first_chunk::<2>() else {
        return;
    };
    let limits = limits(selector);
    let supported: Vec<String> = SUPPORTED
        .iter()
        .enumerate()
        .filter(|(i, _)| protocols >> i & 1 == 1)
        .map(|(_, p)| p.to_string())
        .collect();

    let (req, n) = match parse_request(head, limits) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return,
        Err(e) => {
            let _ = (e.status(), e.to_string());
            return;
        }
    };
    assert!(n <= head.len() && n <= limits.max_bytes);
    // The head is self-delimiting: its own bytes parse to the same request, prefixes need more.
    let again = parse_request(&head[..n], limits).expect("own bytes parse");
    assert_eq!(again, Some((req.clone(), n)));
    let cut = usize::from(protocols) % n.max(1);
    if cut > 0 {
        assert_eq!(
            parse_request(&head[..cut], limits),
            Ok(None),
            "prefix of {cut}"
        );
    }

    let selected = select_subprotocol(&req, &supported);
    if let Some(p) = &selected {
        assert!(supported.contains(p) && req.offered_subprotocols().contains(&p.as_str()));
    }

    let key = match validate_request(&req) {
        Ok(key) => key,
        Err(e) => {
            let mut out = Vec::new();
            encode_rejection(&Rejection::for_error(&e), &mut out);
            let (resp, len) = parse_response(&out, roomy(&out))
                .expect("a rejection parses")
                .expect("a rejection is complete");
            assert_eq!(resp.code, e.status());
            let body = &out[len..];
            assert_eq!(body, format!("{e}\n").as_bytes());
            return;
        }
    };
    assert_eq!(key.len(), 24);

    // The server's answer, as the client would check it.
    let mut out = Vec::new();
    encode_response(&key, selected.as_deref(), None, &Headers::new(), &mut out);
    let (resp, len) = parse_response(&out, roomy(&out))
        .expect("our 101 parses")
        .expect("our 101 is complete");
    assert_eq!((resp.code, len), (101, out.len()));
    let offered = req
        .headers
        .get_all("sec-websocket-protocol")
        .collect::<Vec<_>>()
        .join(",");
    let offered = (!offered.is_empty()).then_some(offered.as_str());
    let (protocol, extensions) =
        validate_response(&resp, &key, offered, None).expect("our 101 validates");
    assert_eq!(protocol, selected);
    assert_eq!(extensions, None);

    // The client's encoder, fed what this request carried, yields an equally valid request.
    const OWNED: [&str; 5] = [
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-accept",
    ];
    let mut headers = Headers::new();
    for (name, value) in req.headers.iter() {
        if !OWNED.iter().any(|o| name.eq_ignore_ascii_case(o)) {
            headers.push(name, value);
        }
    }
    let mut out = Vec::new();
    if encode_request(
        &req.path,
        "example.com",
        &key,
        None,
        None,
        &headers,
        &mut out,
    )
    .is_ok()
    {
        let (req2, len) = parse_request(&out, roomy(&out))
            .expect("our request parses")
            .expect("our request is complete");
        assert_eq!(len, out.len());
        assert_eq!(req2.path, req.path);
        assert_eq!(validate_request(&req2), Ok(key));
    }
});
