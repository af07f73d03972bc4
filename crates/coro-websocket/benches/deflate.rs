//! permessage-deflate cost: messages per second compressed and inflated, and bytes saved, for
//! typical JSON payloads of 1 KiB and 64 KiB.
//!
//! `cargo bench -p coro-websocket --bench deflate` (about a minute). The bytes saved are printed
//! before the timings.

use std::hint::black_box;
use std::time::Duration;

use coro_websocket::proto::deflate::negotiate_server;
use coro_websocket::DeflateConfig;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// JSON like an API's list responses: repeated keys, varying values.
fn json(size: usize) -> Vec<u8> {
    let mut s = String::from("[");
    let mut i = 0u64;
    while s.len() < size - 80 {
        s.push_str(&format!(
            r#"{{"id":{i},"user":"user-{}","active":{},"score":{},"tags":["a","b{}"]}},"#,
            i * 7919 % 10007,
            i % 3 == 0,
            (i * 31337) % 1000,
            i % 17
        ));
        i += 1;
    }
    s.push_str("{}]");
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    for (size, label) in [(1usize << 10, "1KiB"), (64 << 10, "64KiB")] {
        for (takeover, mode) in [(true, "takeover"), (false, "no-takeover")] {
            let mut config = DeflateConfig::default();
            config.server_no_context_takeover = !takeover;
            config.client_no_context_takeover = !takeover;
            let (agreed, _) =
                negotiate_server([config.offer().as_str()].into_iter(), &config).expect("agreed");
            let payload = json(size);
            let mut deflater = agreed.deflater();
            let wire = deflater.compress(&payload);
            let second = deflater.compress(&payload);
            println!(
                "json {label} {mode}: {} -> {} bytes ({:.1}% saved); a repeat: {} bytes",
                payload.len(),
                wire.len(),
                100.0 * (1.0 - wire.len() as f64 / payload.len() as f64),
                second.len()
            );
            let mut g = c.benchmark_group(format!("deflate/json-{label}/{mode}"));
            g.measurement_time(Duration::from_secs(2))
                .warm_up_time(Duration::from_millis(300))
                .sample_size(20)
                .throughput(Throughput::Elements(1));
            let mut deflater = agreed.deflater();
            g.bench_function("compress", |b| {
                b.iter(|| black_box(deflater.compress(black_box(&payload))))
            });
            // Inflate what a peer with the same settings sends: each message compressed fresh,
            // so the no-takeover inflater sees independent messages.
            let mut peer = agreed.mirrored().deflater();
            let mut inflater = agreed.inflater(1 << 30);
            let stream: Vec<_> = (0..64).map(|_| peer.compress(&payload)).collect();
            let mut k = 0;
            g.bench_function("inflate", |b| {
                b.iter(|| {
                    if k == stream.len() {
                        // Start a fresh context so the inflater stays in step with the stream.
                        inflater = agreed.inflater(1 << 30);
                        k = 0;
                    }
                    let out = inflater.inflate(black_box(&stream[k]), true).unwrap();
                    k += 1;
                    black_box(out)
                })
            });
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
