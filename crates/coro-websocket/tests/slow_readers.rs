//! Slow readers against an echo server: 500 connections that send without ever reading. The
//! server must push back (its writes wait, so it stops reading them, so TCP stops their senders)
//! instead of buffering their echoes without bound, and must keep serving the others. Alone in
//! its binary, so that the process's resident memory measures this and nothing else.

mod common;

use std::time::Duration;

use coro_websocket::{Message, ServerOptions};

use common::{client_options, echo_server, proc_memory, soon};

const SLOW: usize = 500;
const MESSAGE: usize = 64 << 10;
/// Each slow client offers this much; the server would hold it all as echoes without
/// backpressure (500 x 16 MiB = 8 GiB).
const OFFERED: usize = 16 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_that_never_read_cost_bounded_memory() {
    let addr = echo_server(ServerOptions::default()).await;
    let before = proc_memory("VmRSS");
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..SLOW {
        let (_, read, mut write) = coro_websocket::connect(client_options(addr)).await.unwrap();
        readers.push(read); // held, never read
        writers.push(tokio::spawn(async move {
            let chunk = Message::binary(vec![7u8; MESSAGE]);
            let mut sent = 0;
            while sent < OFFERED {
                if write.write(chunk.clone()).await.is_err() {
                    break;
                }
                sent += MESSAGE;
            }
            sent
        }));
    }
    // Wait until every slow client is stuck: its writes stop making progress because the server
    // stopped reading it. (Progress is polled on the runtime, not timed.)
    let mut quiet_rounds = 0;
    let mut last = proc_memory("VmRSS");
    while quiet_rounds < 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = proc_memory("VmRSS");
        quiet_rounds = if now.abs_diff(last) < 1 << 20 {
            quiet_rounds + 1
        } else {
            0
        };
        last = now;
    }
    let stuck = writers.iter().filter(|w| !w.is_finished()).count();
    assert_eq!(stuck, SLOW, "a slow client got all its echoes buffered");
    let grown = proc_memory("VmRSS").saturating_sub(before);
    eprintln!(
        "{SLOW} slow readers: resident memory grew by {} MiB",
        grown >> 20
    );
    // Per connection, both ends in this process: the frame buffers and the write buffers
    // (64 KiB each by default), far from the 16 MiB each offered.
    assert!(grown < 512 << 20, "grew by {} MiB", grown >> 20);
    // The server still serves others.
    let (_, mut read, mut write) = coro_websocket::connect(client_options(addr)).await.unwrap();
    write.write(Message::text("still there?")).await.unwrap();
    let echo = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(echo.as_text(), Some("still there?"));
    for w in writers {
        w.abort();
    }
}
