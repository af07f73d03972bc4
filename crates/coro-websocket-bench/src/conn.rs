//! One load-generating connection on a raw stream (TCP, or TLS over it: see `stream.rs`): the
//! upgrade done by hand, then a loop that keeps K pre-masked frames in flight and counts echoes
//! from frame headers alone.
//!
//! It must stay cheaper than any server it measures: no library `Reader`/`Writer`, no per-message
//! allocation, payload bytes skipped without copying, one timestamp per read rather than per
//! message, and every frame owed to the server handed to the stream in one `write` call.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use bytes::BytesMut;
use coro_websocket::handshake::{
    encode_request, key_from_bytes, parse_response, validate_response, HeadLimits,
};
use coro_websocket::proto::{encode_frame, FrameHeader};
use coro_websocket::{Headers, Message, WsUrl};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::histogram::Histogram;
use crate::stream::{BenchStream, Transport};

/// Size of each connection's read buffer. Payload is skipped, so this only sets bytes per read.
const READ_BUFFER: usize = 128 * 1024;

/// Counters shared by all connections, read by the progress printer.
#[derive(Default)]
pub struct Counters {
    /// Echoed messages so far.
    pub messages: AtomicU64,
    /// Echoed payload bytes so far.
    pub bytes: AtomicU64,
}

/// What one connection measured.
#[derive(Default)]
pub struct ConnStats {
    /// Echoes received.
    pub messages: u64,
    /// Round-trip times, in nanoseconds.
    pub rtt: Histogram,
}

impl ConnStats {
    /// Records `done` echoes that arrived now: their round trips (measured from `queued`, oldest
    /// first, where the same number of re-sent messages are queued in their place) and, in the
    /// shared `counters`, their count and payload bytes (`size` each).
    #[inline]
    fn echoed(
        &mut self,
        done: u64,
        queued: &mut VecDeque<Instant>,
        counters: &Counters,
        size: u64,
    ) {
        let now = Instant::now();
        for _ in 0..done {
            if let Some(sent) = queued.pop_front() {
                self.rtt.record(now.duration_since(sent).as_nanos() as u64);
            }
            queued.push_back(now);
        }
        self.messages += done;
        counters.messages.fetch_add(done, Ordering::Relaxed);
        counters.bytes.fetch_add(done * size, Ordering::Relaxed);
    }
}

/// An open WebSocket connection after the upgrade, with any bytes that arrived after the head.
pub struct Opened {
    /// The socket, or TLS over it.
    pub stream: BenchStream,
    /// Frame bytes that came in the same read as the response head.
    pub leftover: Vec<u8>,
}

/// 16 key bytes from a seed; the bench needs distinct keys, not unpredictable ones.
fn key_bytes(seed: u64) -> [u8; 16] {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

/// Connects and performs the opening handshake by hand (RFC 6455 §4.1).
pub async fn open(url: &WsUrl, transport: &Transport, seed: u64) -> Result<Opened> {
    let mut stream = transport.connect().await?;
    let key = key_from_bytes(key_bytes(seed));
    let mut request = Vec::with_capacity(256);
    encode_request(
        &url.pathname,
        &url.host_header(),
        &key,
        None,
        None,
        &Headers::new(),
        &mut request,
    )?;
    stream.write_all(&request).await?;
    stream.flush().await?;
    let limits = HeadLimits {
        max_bytes: 16 * 1024,
        max_headers: 64,
    };
    let mut buf = Vec::with_capacity(1024);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("connection closed during the handshake");
        }
        if let Some((head, len)) = parse_response(&buf, limits)? {
            validate_response(&head, &key, None, None)?;
            buf.drain(..len);
            return Ok(Opened {
                stream,
                leftover: buf,
            });
        }
    }
}

/// `count` copies of one masked data frame of `size` bytes, back to back.
pub fn frames(size: usize, binary: bool, count: usize, mask: [u8; 4]) -> (Vec<u8>, usize) {
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let message = if binary {
        Message::binary(payload)
    } else {
        Message::text(String::from_utf8(payload).unwrap_or_default())
    };
    let mut one = BytesMut::new();
    encode_frame(&message, Some(mask), &mut one);
    let frame_len = one.len();
    let mut all = Vec::with_capacity(frame_len * count);
    for _ in 0..count {
        all.extend_from_slice(&one);
    }
    (all, frame_len)
}

/// Counts complete data messages in a stream of server frames, skipping payloads.
#[derive(Default)]
pub struct EchoParser {
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// Whether the current frame ends a data message.
    counts: bool,
}

impl EchoParser {
    /// Consumes whole frames and payload pieces from `buf`; returns the data messages completed
    /// and the bytes consumed. What is left is the start of a header.
    ///
    /// # Errors
    /// A malformed header, or a close frame from the server.
    pub fn feed(&mut self, buf: &[u8]) -> Result<(u64, usize)> {
        let mut pos = 0;
        let mut done = 0;
        loop {
            if self.skip > 0 {
                let take = self.skip.min((buf.len() - pos) as u64);
                pos += take as usize;
                self.skip -= take;
                if self.skip > 0 {
                    break;
                }
                done += u64::from(self.counts);
                continue;
            }
            let Some((header, n)) = FrameHeader::parse(&buf[pos..])
                .map_err(|e| anyhow::anyhow!("bad frame header from the server: {e:?}"))?
            else {
                break;
            };
            if header.opcode == 0x8 {
                bail!("the server closed the connection");
            }
            pos += n;
            let counts = header.fin && header.opcode <= 0x2;
            if header.len == 0 {
                done += u64::from(counts);
            } else {
                self.skip = header.len;
                self.counts = counts;
            }
        }
        Ok((done, pos))
    }
}

/// The frames one connection keeps in flight.
pub struct Load<'a> {
    /// `inflight` copies of the masked frame.
    pub batch: &'a [u8],
    /// Length of one frame on the wire.
    pub frame_len: usize,
    /// Payload size, for the byte counter.
    pub size: u64,
}

/// Keeps the load's frames in flight until cancelled (or the connection fails), recording into
/// `stats`. Run it under a timeout: cancellation is the normal end.
///
/// One poll loop drives both directions: write what is owed until the stream would block, read
/// until it would block, and sleep on whichever of the two was pending (both wakers are set).
pub async fn drive(
    opened: Opened,
    load: Load<'_>,
    counters: &Counters,
    stats: &mut ConnStats,
) -> Result<()> {
    let Opened {
        mut stream,
        leftover,
    } = opened;
    let frame_len = load.frame_len;
    let inflight = load.batch.len() / frame_len;
    // Bytes owed to the server: always whole frames, less what a short write took.
    let mut owed = load.batch.len();
    // Whether bytes were written since the last flush (TLS may hold records back; TCP never does).
    let mut unflushed = false;
    // When each message in flight was queued, oldest first (the server echoes in order).
    let mut queued: VecDeque<Instant> = VecDeque::with_capacity(inflight);
    let start = Instant::now();
    queued.extend(std::iter::repeat_n(start, inflight));
    let mut parser = EchoParser::default();
    let mut rbuf = vec![0u8; READ_BUFFER.max(leftover.len())];
    rbuf[..leftover.len()].copy_from_slice(&leftover);
    let mut filled = leftover.len();
    let mut fresh = filled > 0;
    poll_fn(|cx| loop {
        while owed > 0 {
            // Frames are identical, so the unsent tail of the stream is a slice of the batch.
            let from = (frame_len - owed % frame_len) % frame_len;
            match Pin::new(&mut stream).poll_write(cx, &load.batch[from..from + owed]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(anyhow!("the connection is closed"))),
                Poll::Ready(Ok(n)) => {
                    owed -= n;
                    unflushed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => break,
            }
        }
        if owed == 0 && unflushed {
            match Pin::new(&mut stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => unflushed = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => {}
            }
        }
        if !fresh {
            let mut buf = ReadBuf::new(&mut rbuf[filled..]);
            match Pin::new(&mut stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                    return Poll::Ready(Err(anyhow!("the server closed the connection")));
                }
                Poll::Ready(Ok(())) => filled += buf.filled().len(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => return Poll::Pending,
            }
        }
        fresh = false;
        let (done, used) = match parser.feed(&rbuf[..filled]) {
            Ok(fed) => fed,
            Err(e) => return Poll::Ready(Err(e)),
        };
        rbuf.copy_within(used..filled, 0);
        filled -= used;
        if done > 0 {
            stats.echoed(done, &mut queued, counters, load.size);
            owed += done as usize * frame_len;
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_counts_messages_split_anywhere() {
        // Three unmasked server frames: text "hi", binary of 300 bytes, empty text.
        let mut wire = vec![0x81, 0x02, b'h', b'i', 0x82, 126, 0x01, 0x2c];
        wire.extend(std::iter::repeat_n(7u8, 300));
        wire.extend([0x81, 0x00]);
        for cut in 0..wire.len() {
            let mut p = EchoParser::default();
            let (a, used) = p.feed(&wire[..cut]).unwrap();
            let mut rest = wire[used..cut].to_vec();
            rest.extend_from_slice(&wire[cut..]);
            let (b, used2) = p.feed(&rest).unwrap();
            assert_eq!((a + b, used2), (3, rest.len()), "cut at {cut}");
        }
    }

    #[test]
    fn parser_skips_pings_and_stops_at_close() {
        let mut p = EchoParser::default();
        assert_eq!(p.feed(&[0x89, 0x00, 0x82, 0x01, 9]).unwrap(), (1, 5));
        assert!(p.feed(&[0x88, 0x02, 0x03, 0xe8]).is_err());
    }

    #[test]
    fn frames_are_masked_copies() {
        let (all, len) = frames(5, false, 3, [1, 2, 3, 4]);
        assert_eq!((len, all.len()), (11, 33));
        assert_eq!(&all[..2], &[0x81, 0x85]);
        assert_eq!(&all[11..13], &[0x81, 0x85]);
    }
}
