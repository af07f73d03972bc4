//! A client streaming a 200 MiB message at a server limited to 4 MiB messages: the server must
//! close with 1009 at the limit, and the process must never hold anything like the message.
//!
//! This is its own test binary with a single test, so that no other test's allocations disturb
//! the resident-set measurement.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use coro_websocket::{error::ProtocolError, Config, Error, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_message_is_refused_at_the_limit_without_buffering_it() {
    const MESSAGE: u64 = 200 * MIB;
    const FRAGMENT: u64 = 64 * KIB;
    const MAX_MESSAGE: u64 = 4 * MIB;
    // What the server may legitimately hold for this connection is a few MiB: the 4 MiB being
    // reassembled (up to twice that while its buffer grows), one frame of at most 1 MiB and
    // the read buffer; the client holds one 64 KiB fragment. A server that buffered the message
    // instead of enforcing the limit would grow by up to 200 MiB (the kernel's socket buffers,
    // a few MiB, are not part of the process's RSS). 64 MiB sits far above the legitimate
    // amount, so allocator slack and a loaded machine cannot trip it, and far below the
    // message, so any buffering of it does.
    const BOUND: u64 = 64 * MIB;

    let mut config = Config::default();
    config.max_message_size = MAX_MESSAGE;
    config.max_frame_size = MIB;
    let (addr, accepted) = accept_one(ServerOptions {
        config,
        ..Default::default()
    })
    .await;
    let peer = raw_client(addr).await;
    let (_req, mut read, _write) = soon(accepted).await.unwrap().unwrap();
    let server = tokio::spawn(async move {
        match read.read_message().await {
            Ok(Some(msg)) => panic!("the server got a {} byte message", msg.payload.len()),
            Ok(None) => panic!("the connection ended without an error"),
            Err(e) => e,
        }
    });

    // Every fragment has the same payload and masking key, so one masked copy serves them all.
    let payload = vec![0x5au8; FRAGMENT as usize];
    let masked_payload = mask_from(&payload, KEY, 0);
    let fragment = |opcode: u8, fin: bool| {
        let mut f = header(fin, 0, opcode, Some(KEY), FRAGMENT);
        f.extend_from_slice(&masked_payload);
        f
    };
    let (first, middle, last) = (fragment(2, false), fragment(0, false), fragment(0, true));
    drop(payload);

    let baseline_rss = proc_memory("VmRSS");
    let baseline_hwm = proc_memory("VmHWM");
    let peak_rss = Arc::new(AtomicU64::new(baseline_rss));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak_rss, done) = (peak_rss.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                peak_rss.fetch_max(proc_memory("VmRSS"), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let RawPeer { tcp, buf, .. } = peer;
    assert!(buf.is_empty());
    let (mut rd, mut wr) = tcp.into_split();
    // Watches for the server's close frame, EOF or a reset.
    let (closed_tx, mut closed_rx) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(async move {
        let mut got = Vec::new();
        let close = loop {
            if let Some((f, _)) = parse_frame(&got) {
                break Some(f);
            }
            match rd.read_buf(&mut got).await {
                Ok(0) | Err(_) => break None,
                Ok(_) => {}
            }
        };
        let _ = closed_tx.send(true);
        close
    });
    // Streams the message until the server's close (or a reset) is seen; a write failing with
    // EPIPE or ECONNRESET is the server having closed too, not a test failure.
    let mut sent: u64 = 0;
    let fragments = MESSAGE / FRAGMENT;
    for i in 0..fragments {
        if *closed_rx.borrow() {
            break;
        }
        let bytes = match i {
            0 => &first,
            i if i + 1 == fragments => &last,
            _ => &middle,
        };
        let write = tokio::select! {
            r = wr.write_all(bytes) => r,
            _ = closed_rx.wait_for(|c| *c) => break,
        };
        match write {
            Ok(()) => sent += FRAGMENT,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                break
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    let close = soon(watcher)
        .await
        .unwrap()
        .expect("a close frame before EOF");
    assert_eq!(close.close_code(), Some(1009), "{close:?}");
    assert!(!close.masked);
    assert!(sent < MESSAGE, "the whole message went out before a close");

    let err = soon(server).await.unwrap();
    match err {
        Error::Protocol(ProtocolError::MessageTooBig { len, max }) => {
            assert_eq!(max, MAX_MESSAGE);
            // Refused on the first fragment that crosses the limit.
            assert!(len > MAX_MESSAGE && len <= MAX_MESSAGE + FRAGMENT, "{len}");
        }
        other => panic!("expected MessageTooBig, got {other:?}"),
    }

    done.store(true, Ordering::SeqCst);
    soon(sampler).await.unwrap();
    let rss_growth = peak_rss.load(Ordering::SeqCst).saturating_sub(baseline_rss);
    let hwm_growth = proc_memory("VmHWM").saturating_sub(baseline_hwm);
    eprintln!(
        "sent {} MiB before the close; VmRSS peak +{} KiB, VmHWM +{} KiB",
        sent / MIB,
        rss_growth / KIB,
        hwm_growth / KIB
    );
    assert!(rss_growth < BOUND, "VmRSS grew by {} MiB", rss_growth / MIB);
    assert!(hwm_growth < BOUND, "VmHWM grew by {} MiB", hwm_growth / MIB);
    drop(wr);
}
