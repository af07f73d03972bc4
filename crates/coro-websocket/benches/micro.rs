//! Microbenchmarks of the protocol core's hot paths, each beside a plain `memcpy` of the same
//! bytes (the physical limit for payload work): frame header parsing, masking, UTF-8 validation,
//! frame encoding and decoding.
//!
//! `cargo bench -p coro-websocket --bench micro` (about three minutes).

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use coro_websocket::proto::{
    apply_mask, encode_frame, FrameDecoder, FrameHeader, Role, Utf8Validator,
};
use coro_websocket::Message;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

const SIZES: [(usize, &str); 4] = [
    (16, "16B"),
    (1024, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn configure<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    g
}

/// Mixed text: ASCII with two- and three-byte code points, so validation cannot take the
/// all-ASCII shortcut alone.
fn text(size: usize) -> Vec<u8> {
    let unit = "hello, wörld — ok ".as_bytes();
    let mut v: Vec<u8> = unit.iter().copied().cycle().take(size).collect();
    // End on a code point boundary.
    if let Err(e) = std::str::from_utf8(&v) {
        v.truncate(e.valid_up_to());
        v.resize(size, b'.');
    }
    v
}

/// ASCII text, as most JSON is: the case where a validator's all-ASCII path applies.
fn ascii(size: usize) -> Vec<u8> {
    let unit = br#"{"id":12345,"name":"sensor-7","value":21.5,"ok":true},"#;
    unit.iter().copied().cycle().take(size).collect()
}

fn memcpy(c: &mut Criterion) {
    let mut g = configure(c, "memcpy");
    for (size, label) in SIZES {
        let src = vec![7u8; size];
        let mut dst = vec![0u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(label, |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
            })
        });
    }
    g.finish();
}

fn header_parse(c: &mut Criterion) {
    let mut g = configure(c, "header_parse");
    let cases: [(&str, Vec<u8>); 3] = [
        ("7bit_masked", vec![0x81, 0x90, 1, 2, 3, 4]),
        ("16bit_masked", vec![0x82, 0xfe, 0x04, 0x00, 1, 2, 3, 4]),
        (
            "64bit_unmasked",
            vec![0x82, 0x7f, 0, 0, 0, 0, 0, 0x10, 0, 0],
        ),
    ];
    for (label, bytes) in cases {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(label, |b| b.iter(|| FrameHeader::parse(black_box(&bytes))));
    }
    g.finish();
}

fn mask(c: &mut Criterion) {
    let mut g = configure(c, "apply_mask");
    for (size, label) in SIZES {
        let mut buf = vec![0x55u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(label, |b| {
            b.iter(|| apply_mask(black_box(&mut buf), KEY, 0))
        });
        g.bench_function(format!("{label}_offset1"), |b| {
            b.iter(|| apply_mask(black_box(&mut buf[1..]), KEY, 1))
        });
    }
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = configure(c, "utf8");
    for (size, label) in SIZES {
        for (kind, data) in [("mixed", text(size)), ("ascii", ascii(size))] {
            g.throughput(Throughput::Bytes(data.len() as u64));
            g.bench_function(format!("Utf8Validator/{kind}/{label}"), |b| {
                b.iter(|| {
                    let mut v = Utf8Validator::default();
                    v.feed(black_box(&data)).is_ok() && v.is_complete()
                })
            });
            g.bench_function(format!("simdutf8/{kind}/{label}"), |b| {
                b.iter(|| simdutf8::basic::from_utf8(black_box(&data)).is_ok())
            });
            g.bench_function(format!("std/{kind}/{label}"), |b| {
                b.iter(|| std::str::from_utf8(black_box(&data)).is_ok())
            });
        }
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = configure(c, "encode_frame");
    for (size, label) in SIZES {
        let msg = Message::binary(vec![0x42u8; size]);
        let mut out = BytesMut::with_capacity(size + 14);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("unmasked/{label}"), |b| {
            b.iter(|| {
                out.clear();
                encode_frame(black_box(&msg), None, &mut out);
            })
        });
        g.bench_function(format!("masked/{label}"), |b| {
            b.iter(|| {
                out.clear();
                encode_frame(black_box(&msg), Some(KEY), &mut out);
            })
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = configure(c, "decode_frame");
    for (size, label) in SIZES {
        for (kind, msg) in [
            ("binary", Message::binary(vec![0x42u8; size])),
            (
                "text",
                Message::text(String::from_utf8(text(size)).unwrap_or_default()),
            ),
            (
                "ascii",
                Message::text(String::from_utf8(ascii(size)).unwrap_or_default()),
            ),
        ] {
            let mut wire = BytesMut::new();
            encode_frame(&msg, Some(KEY), &mut wire);
            let wire = wire.freeze();
            g.throughput(Throughput::Bytes(msg.payload.len() as u64));
            // A server decoding one masked client frame: copy in (as a read would), unmask,
            // validate, split off the payload.
            g.bench_function(format!("{kind}/{label}"), |b| {
                let mut dec = FrameDecoder::new(Role::Server, 1 << 30, 1 << 30);
                let mut buf = BytesMut::with_capacity(wire.len());
                b.iter(|| {
                    buf.clear();
                    buf.extend_from_slice(&wire);
                    black_box(dec.decode(&mut buf).ok().flatten())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, memcpy, header_parse, mask, utf8, encode, decode);
criterion_main!(benches);
