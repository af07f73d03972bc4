//! The frame sink of a session over a byte stream: [`encode_frame`] into a buffer that is
//! released whenever it runs empty, with large unmasked payloads written from their own buffers.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_sink::Sink;
use tokio::io::AsyncWrite;

use super::{give_buf, take_buf};
use crate::error::Error;
use crate::proto::{encode_frame, FrameHeader, Message};

/// Unmasked payloads at least this large are written from their own buffer (vectored write)
/// instead of being copied behind their header.
const ZERO_COPY_MIN: usize = 32 << 10;

/// Writes frames to a byte stream, buffering them until flushed.
///
/// Small frames are encoded into one buffer. A large unmasked payload is not copied: sent when
/// nothing else is waiting, its header stays beside it ([`Large::Direct`]), and both go out in
/// one vectored write, with no buffer at all; behind other frames, its header is cut off the
/// buffer and both are queued ([`Large::Queue`]), to be written together with one vectored write.
pub(crate) struct FrameWriter<W> {
    io: W,
    /// Large payloads waiting, uncopied. (Boxed, and freed once written: rare, and every
    /// connection carries a `FrameWriter`.)
    large: Option<Box<Large>>,
    buf: BytesMut,
    /// Past this many buffered bytes, `poll_ready` writes them out first (backpressure).
    limit: usize,
    mask_source: crate::codec::MaskSource,
}

/// What waits besides the buffer of small frames.
enum Large {
    /// A frame waiting alone, header and payload apart: only while the buffer is empty. A second
    /// frame turns it into a `Queue` first.
    Direct(Direct),
    /// Chunks to write before the buffer, in order. (Their total is summed when needed rather
    /// than kept.)
    Queue(VecDeque<Bytes>),
}

/// An unmasked frame's header (what is left of it to write) and payload.
struct Direct {
    head: [u8; 14],
    head_len: u8,
    payload: Bytes,
}

impl Direct {
    fn head(&self) -> &[u8] {
        &self.head[..usize::from(self.head_len)]
    }

    fn len(&self) -> usize {
        usize::from(self.head_len) + self.payload.len()
    }
}

impl<W> FrameWriter<W> {
    /// `poll_ready` and `start_send` at once for the common frame: a small one (payload under
    /// 126 bytes), sent unmasked, while only small frames wait and there is room. Encoded at
    /// once and true; otherwise false and nothing done (the caller goes the usual way).
    #[inline]
    pub(crate) fn put_short(&mut self, msg: &Message) -> bool {
        if msg.payload.len() >= 126 || !self.has_room() {
            return false;
        }
        if self.buf.capacity() == 0 {
            self.buf = take_buf(msg.payload.len() + 2);
        }
        crate::proto::encode_short(msg, &mut self.buf);
        true
    }

    /// Only small frames are waiting, and room is left (the usual case): a frame may be taken
    /// without writing anything out first.
    #[inline]
    fn has_room(&self) -> bool {
        self.buf.len() < self.limit && self.large.is_none()
    }

    pub(crate) fn new(io: W, limit: usize, mask_source: crate::codec::MaskSource) -> Self {
        FrameWriter {
            io,
            large: None,
            buf: BytesMut::new(),
            limit,
            mask_source,
        }
    }

    /// Moves a waiting direct frame into the queue, uncopied, before another frame is queued
    /// behind it.
    fn absorb_direct(&mut self) {
        if let Some(large) = self.large.take_if(|l| matches!(**l, Large::Direct(_))) {
            let Large::Direct(d) = *large else {
                unreachable!("taken only if direct")
            };
            self.buf.extend_from_slice(d.head());
            self.push_zero_copy(d.payload);
        }
    }

    /// Queues all of `buf` (frames already encoded, then the header just encoded for
    /// `payload`), then `payload` itself.
    fn push_zero_copy(&mut self, payload: Bytes) {
        let head = self.buf.split().freeze();
        let large = self
            .large
            .get_or_insert_with(|| Box::new(Large::Queue(VecDeque::new())));
        let Large::Queue(queue) = &mut **large else {
            unreachable!("a direct frame is absorbed before anything is queued")
        };
        queue.push_back(head);
        queue.push_back(payload);
    }

    /// Bytes waiting besides the buffer.
    fn large_len(&self) -> usize {
        match self.large.as_deref() {
            None => 0,
            Some(Large::Direct(d)) => d.len(),
            Some(Large::Queue(q)) => q.iter().map(Bytes::len).sum(),
        }
    }
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Writes out what is buffered when it has reached the limit.
    fn make_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.large_len() + self.buf.len() >= self.limit {
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.large.as_deref_mut() {
            None => {}
            Some(Large::Direct(d)) => ready!(write_direct(&mut self.io, cx, d))?,
            Some(Large::Queue(queue)) => {
                ready!(write_queue(&mut self.io, cx, queue, &mut self.buf))?
            }
        }
        self.large = None;
        while !self.buf.is_empty() {
            let n = written(ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf)))?;
            if n == self.buf.len() {
                // All out: `clear` keeps the buffer's start where it is, so that the next
                // user takes it from the pool without reclaiming anything.
                self.buf.clear();
                break;
            }
            self.buf.advance(n);
        }
        // Everything is out: release the buffer rather than keep it for an idle connection.
        give_buf(std::mem::take(&mut self.buf));
        Poll::Ready(Ok(()))
    }
}

/// What a write took, where taking nothing means the stream can take no more.
fn written(result: std::io::Result<usize>) -> Result<usize, Error> {
    match result? {
        0 => Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into()),
        n => Ok(n),
    }
}

/// Writes out a direct frame, header and payload apart.
fn write_direct<W: AsyncWrite + Unpin>(
    io: &mut W,
    cx: &mut Context<'_>,
    d: &mut Direct,
) -> Poll<Result<(), Error>> {
    while d.len() > 0 {
        let slices = [IoSlice::new(d.head()), IoSlice::new(&d.payload)];
        let n = written(ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices)))?;
        let head_len = usize::from(d.head_len);
        if n < head_len {
            d.head.copy_within(n..head_len, 0);
            d.head_len -= n as u8;
            continue;
        }
        d.head_len = 0;
        d.payload.advance(n - head_len);
    }
    Poll::Ready(Ok(()))
}

/// Writes out the queued chunks, and with them as much of `buf` (which comes after them) as
/// the last vectored write takes.
fn write_queue<W: AsyncWrite + Unpin>(
    io: &mut W,
    cx: &mut Context<'_>,
    queue: &mut VecDeque<Bytes>,
    buf: &mut BytesMut,
) -> Poll<Result<(), Error>> {
    while !queue.is_empty() {
        let mut slices = [IoSlice::new(&[]); 8];
        let mut count = 0;
        for chunk in queue.iter().take(slices.len() - 1) {
            slices[count] = IoSlice::new(chunk);
            count += 1;
        }
        if !buf.is_empty() {
            slices[count] = IoSlice::new(buf);
            count += 1;
        }
        let mut n = written(ready!(
            Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count])
        ))?;
        while n > 0 {
            let Some(front) = queue.front_mut() else {
                buf.advance(n);
                break;
            };
            let step = n.min(front.len());
            front.advance(step);
            n -= step;
            if front.is_empty() {
                queue.pop_front();
            }
        }
    }
    Poll::Ready(Ok(()))
}

impl<W: AsyncWrite + Unpin> Sink<Message> for FrameWriter<W> {
    type Error = Error;

    #[inline(always)]
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.has_room() {
            return Poll::Ready(Ok(()));
        }
        self.make_room(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, msg: Message) -> Result<(), Error> {
        let this = &mut *self;
        // (Small frames are copied into `buf` even when alone: one plain write of a buffer costs
        // the kernel less than a vectored write of two small pieces.)
        if !msg.mask
            && msg.payload.len() >= ZERO_COPY_MIN
            && this.large.is_none()
            && this.buf.is_empty()
        {
            let mut head = [0; 14];
            let head_len = FrameHeader::of(&msg, None).write_to(&mut head) as u8;
            this.large = Some(Box::new(Large::Direct(Direct {
                head,
                head_len,
                payload: msg.payload,
            })));
            return Ok(());
        }
        this.absorb_direct();
        if !msg.mask && msg.payload.len() >= ZERO_COPY_MIN {
            FrameHeader::of(&msg, None).encode(&mut this.buf);
            this.push_zero_copy(msg.payload);
            return Ok(());
        }
        if self.buf.capacity() == 0 {
            self.buf = take_buf(msg.payload.len() + 14);
        }
        let mask = msg.mask.then(self.mask_source);
        encode_frame(&msg, mask, &mut self.buf);
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_write_out(cx))?;
        Poll::Ready(Ok(ready!(Pin::new(&mut self.io).poll_flush(cx))?))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Poll::Ready(Ok(ready!(Pin::new(&mut self.io).poll_shutdown(cx))?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::FrameReader;
    use super::*;
    use crate::proto::FrameDecoder;
    use crate::proto::Role;
    use bytes::BytesMut;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::DuplexStream;

    /// A writer and a client's reader at the two ends of a pipe that holds `capacity` bytes.
    fn pipe(capacity: usize) -> (FrameWriter<DuplexStream>, FrameReader<DuplexStream>) {
        let (a, b) = tokio::io::duplex(capacity);
        let writer = FrameWriter::new(a, 64 << 10, crate::codec::random_mask);
        let decoder = FrameDecoder::new(Role::Client, 1 << 20, 1 << 20);
        (writer, FrameReader::new(b, decoder, BytesMut::new(), None))
    }

    fn big(n: usize, fill: u8) -> Message {
        Message::binary(vec![fill; n])
    }

    // Large payloads go out by vectored writes beside copied small frames: through a pipe that
    // takes a few KiB at a time, every frame must still arrive whole and in order.
    #[tokio::test]
    async fn mixed_small_and_zero_copy_frames_arrive_in_order_through_partial_writes() {
        let (mut writer, mut reader) = pipe(3000);
        let sent = vec![
            Message::text("first"),
            big(100_000, 1),
            Message::text("between"),
            big(ZERO_COPY_MIN, 2),
            big(70_000, 3),
            Message::text("last"),
        ];
        let expected = sent.clone();
        let send = tokio::spawn(async move {
            for m in sent {
                writer.feed(m).await.unwrap();
            }
            writer.flush().await.unwrap();
            writer
        });
        for want in expected {
            let got = reader.next().await.unwrap().unwrap();
            assert_eq!((got.opcode, &got.payload), (want.opcode, &want.payload));
        }
        let writer = send.await.unwrap();
        assert!(writer.large.is_none() && writer.buf.is_empty());
    }

    // A large frame sent alone goes out from `direct` (header and payload apart), through a
    // pipe that takes a few bytes at a time, also when another frame is queued behind it
    // before it is out.
    #[tokio::test]
    async fn direct_frames_survive_partial_writes_and_frames_queued_behind_them() {
        let (mut writer, mut reader) = pipe(7);
        // Flushed after each group: a lone large frame, a large one with a small one behind,
        // and a large one with another large one behind.
        let groups = vec![
            vec![big(ZERO_COPY_MIN, 1)],
            vec![big(40_000, 2), Message::text("behind")],
            vec![big(70_000, 3), big(ZERO_COPY_MIN + 1, 4)],
        ];
        let expected: Vec<Message> = groups.iter().flatten().cloned().collect();
        let send = tokio::spawn(async move {
            for group in groups {
                for m in group {
                    writer.feed(m).await.unwrap();
                }
                writer.flush().await.unwrap();
                assert!(writer.large.is_none());
            }
        });
        for want in expected {
            let got = reader.next().await.unwrap().unwrap();
            assert_eq!((got.opcode, &got.payload), (want.opcode, &want.payload));
        }
        send.await.unwrap();
    }

    /// Every connection over TCP holds one writer, in a block of its own: 72 B is the size just
    /// under the next step of glibc's blocks (an 80 B block; docs/performance.md).
    #[test]
    fn the_writer_fits_its_heap_block() {
        use tokio::net::tcp::OwnedWriteHalf;
        assert!(std::mem::size_of::<FrameWriter<OwnedWriteHalf>>() <= 72);
    }
}
