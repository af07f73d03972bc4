//! The publisher: one raw connection that sends binary messages whose first 16 payload bytes are
//! the send time (nanoseconds on the process clock) and a sequence number, little-endian, and
//! keeps at most W of them outstanding, a message being done once every subscriber has it.
//!
//! Frames are encoded and masked once; each message copies that template and re-masks only its
//! 16 head bytes. Messages that fit the window go out in one `write`.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{bail, Result};
use bytes::BytesMut;
use coro_websocket::proto::encode_frame;
use coro_websocket::Message;
use coro_websocket_bench::delivery::HEAD;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::time::Instant;

use super::load::{now_ns, Shared, PROBE, STOP};

/// The masking key of every frame (servers do not care which key it is).
const MASK: [u8; 4] = [0x5a, 0x1c, 0xe3, 0x97];
/// No message completed for this long: the run has stalled (a message was lost, or a subscriber
/// is gone).
const STALL: Duration = Duration::from_secs(5);
/// How often a probe goes out while waiting for every subscriber to be in the topic, and for how
/// long at most.
const PROBE_EVERY: Duration = Duration::from_millis(20);
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Publisher {
    write: OwnedWriteHalf,
    /// One masked frame of the message size, payload zero before masking.
    template: Vec<u8>,
    /// Where the payload starts in `template`.
    payload_at: usize,
    batch: Vec<u8>,
    /// Measured messages sent so far (probes not counted).
    pub sent: u64,
}

impl Publisher {
    /// A publisher of `size`-byte messages (at least [`HEAD`]) on `write`.
    pub fn new(write: OwnedWriteHalf, size: usize) -> Publisher {
        let mut template = BytesMut::new();
        encode_frame(&Message::binary(vec![0u8; size]), Some(MASK), &mut template);
        Publisher {
            write,
            payload_at: template.len() - size,
            template: template.to_vec(),
            batch: Vec::new(),
            sent: 0,
        }
    }

    /// Appends one frame carrying `ts` and `seq` to the batch.
    fn push(&mut self, ts: u64, seq: u64) {
        let base = self.batch.len() + self.payload_at;
        self.batch.extend_from_slice(&self.template);
        let mut head = [0u8; HEAD];
        head[..8].copy_from_slice(&ts.to_le_bytes());
        head[8..].copy_from_slice(&seq.to_le_bytes());
        for (i, b) in head.iter().enumerate() {
            self.batch[base + i] = b ^ MASK[i % 4];
        }
    }

    async fn flush_batch(&mut self) -> Result<()> {
        self.write.write_all(&self.batch).await?;
        self.batch.clear();
        Ok(())
    }

    /// Sends probes until every subscriber has seen one (so has joined the topic, on every
    /// node), or fails after [`PROBE_TIMEOUT`].
    pub async fn probe(&mut self, shared: &Shared) -> Result<()> {
        let deadline = Instant::now() + PROBE_TIMEOUT;
        let mut i = 0;
        while shared.ready.load(Relaxed) < shared.subscribers {
            if Instant::now() > deadline {
                bail!(
                    "only {} of {} subscribers received a message after {PROBE_TIMEOUT:?}",
                    shared.ready.load(Relaxed),
                    shared.subscribers
                );
            }
            self.push(now_ns(), PROBE | i);
            self.flush_batch().await?;
            i += 1;
            tokio::time::sleep(PROBE_EVERY).await;
        }
        Ok(())
    }

    /// Publishes until `until`, keeping at most the window's messages outstanding.
    ///
    /// # Errors
    /// A write failed, or no message completed for [`STALL`].
    pub async fn publish_until(&mut self, shared: &Shared, until: Instant) -> Result<()> {
        let mut last_completed = shared.completed.load(Relaxed);
        let mut last_progress = Instant::now();
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            let completed = shared.completed.load(Relaxed);
            if completed != last_completed {
                (last_completed, last_progress) = (completed, now);
            }
            let room = (completed + shared.window).saturating_sub(self.sent);
            if room > 0 {
                let ts = now_ns();
                for _ in 0..room {
                    shared.reuse_slot(self.sent);
                    self.push(ts, self.sent);
                    self.sent += 1;
                }
                self.flush_batch().await?;
                continue;
            }
            if now.duration_since(last_progress) > STALL {
                bail!(
                    "stalled: message {completed} reached {} of {} subscribers in {STALL:?}",
                    shared.have(completed),
                    shared.subscribers
                );
            }
            let wake = until.min(last_progress + STALL + Duration::from_millis(1));
            let _ = tokio::time::timeout_at(wake, shared.progress.notified()).await;
        }
    }

    /// Tells every subscriber that the run is over.
    pub async fn stop(&mut self) -> Result<()> {
        self.push(now_ns(), STOP);
        self.flush_batch().await
    }
}
