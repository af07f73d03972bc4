//! `deflate`: permessage-deflate negotiation and the bounded decompressor.
//!
//! Input layout: byte 0 selects the settings (context takeover, window bits, limit); the rest is
//! split at the first 0xFF byte into an extension header value (as text, lossy) and compressed
//! message data, itself cut into frames at fuzzer-chosen points.
//!
//! Checks: negotiation never panics; whatever the server accepts from an offer, the client
//! accepts from the server's answer, with mirrored parameters; inflating arbitrary bytes never
//! panics and never returns more than the message limit; what our compressor produces inflates
//! back to the original, whole or in bounded steps.
#![no_main]

use coro_websocket::proto::deflate::{negotiate_client, negotiate_server, Progress};
use coro_websocket::DeflateConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut config = DeflateConfig::default();
    config.server_no_context_takeover = sel & 1 != 0;
    config.client_no_context_takeover = sel & 2 != 0;
    config.server_max_window_bits = (sel & 4 != 0).then_some(8 + (sel >> 5));
    config.client_max_window_bits = (sel & 8 != 0).then_some(8 + (sel >> 5));
    let limit = if sel & 16 != 0 { 1 << 10 } else { 1 << 20 };

    let split = rest.iter().position(|&b| b == 0xff).unwrap_or(rest.len());
    let header = String::from_utf8_lossy(&rest[..split]);
    let body = rest.get(split + 1..).unwrap_or(&[]);

    // Negotiation: the server's choice must be acceptable to a client that made the same offer.
    if let Some((server, answer)) = negotiate_server([header.as_ref()].into_iter(), &config) {
        let _ = negotiate_client([header.as_ref()].into_iter(), &config);
        if header.trim() == config.offer() {
            let client = negotiate_client([answer.as_str()].into_iter(), &config)
                .expect("a client accepts the answer to its own offer")
                .expect("the answer accepts compression");
            assert_eq!(client, server.mirrored());
        }
    }
    let _ = negotiate_client([header.as_ref()].into_iter(), &config);

    let offer = config.offer();
    let Some((server, _)) = negotiate_server([offer.as_str()].into_iter(), &config) else {
        panic!("the server refused a valid offer: {offer}");
    };

    // Arbitrary compressed data: no panic, bounded output, frames cut anywhere.
    let mut inflater = server.inflater(limit);
    let mut produced = 0u64;
    let cuts = body.len().min(3);
    let mut start = 0;
    for i in 0..=cuts {
        let end = if i == cuts {
            body.len()
        } else {
            start + (body.len() - start) / 2
        };
        match inflater.inflate(&body[start..end], i == cuts) {
            Ok(out) => {
                produced += out.len() as u64;
                assert!(
                    produced <= limit,
                    "inflated {produced} past the limit {limit}"
                );
            }
            Err(_) => return,
        }
        start = end;
    }

    // Round trip through our own compressor.
    let mut deflater = server.mirrored().deflater();
    let mut peer_inflater = server.inflater(u64::MAX >> 1);
    if deflater.wants(body.len()) {
        let wire = deflater.compress(body);
        // Alternately whole and in steps of a size the input chose: the same bytes either way.
        let back = if sel & 128 == 0 {
            peer_inflater
                .inflate(&wire, true)
                .expect("our own output inflates")
                .to_vec()
        } else {
            let step = 1 + usize::from(sel & 0x3f) * 37;
            let (mut out, mut progress) = (Vec::new(), Progress::default());
            while !peer_inflater
                .inflate_step(&wire, true, &mut out, &mut progress, step)
                .expect("our own output inflates")
            {}
            out
        };
        assert_eq!(&back[..], body);
    }
});
