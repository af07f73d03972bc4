//! The frame stream and frame sink of a session over a byte stream (what
//! [`connect`](crate::connect) and [`accept`](crate::accept) open):
//! [`proto::FrameDecoder`](crate::proto::FrameDecoder) and
//! [`proto::encode_frame`](crate::proto::encode_frame) over a socket's read and write halves.
//!
//! They do what `tokio_util`'s `FramedRead`/`FramedWrite` over [`FrameCodec`](crate::FrameCodec)
//! do, plus two things a server with many connections needs:
//! - buffers grow on demand and are released whenever they run empty, so an idle connection
//!   holds no buffer at all;
//! - the reader tells the session whether more input is already buffered, which lets the session
//!   coalesce the writes made while that input is handled into one `write` call.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Account, MemoryBudget, FREE};
use crate::error::Error;
use crate::proto::{encode_frame, FrameDecoder, FrameHeader, Message, READ_AHEAD};

/// Bytes asked of the socket per read while a frame is incomplete.
const READ_CHUNK: usize = 16 << 10;

/// The most a read takes from the memory budget at a time, past the bytes already buffered.
const GRANT: usize = 1 << 20;

/// Empty buffers kept per thread for the next connection that needs one.
const POOL_MAX: usize = 16;

thread_local! {
    /// Released read and write buffers, reused by whichever connection on this thread next has
    /// bytes to read or write. An idle connection holds no buffer; a busy one does not pay an
    /// allocation (and a shared-buffer header, once a payload is split off) per message.
    static POOL: std::cell::RefCell<Vec<BytesMut>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `min` bytes: a pooled one when one is free again.
fn take_buf(min: usize) -> BytesMut {
    if let Some(mut buf) = POOL.with_borrow_mut(Vec::pop) {
        // Free at once when the room left past the buffer's start is enough (that room is this
        // handle's alone, whatever payloads were split off before it). Otherwise it succeeds
        // only when no such payload is still alive, and the buffer is dropped here (the payloads
        // keep their bytes) for a new one.
        if buf.try_reclaim(min) {
            return buf;
        }
    }
    BytesMut::with_capacity(min.max(READ_CHUNK))
}

/// The largest buffer the pool keeps.
const POOL_BUF_MAX: usize = 256 << 10;

/// Hands an empty buffer back to the pool, or frees it (large ones always: memory is bounded
/// by `POOL_MAX` × `POOL_BUF_MAX` = 4 MiB per thread). The caller must not give a buffer whose
/// allocation may be larger than `POOL_BUF_MAX` while its `capacity()` says less (a read buffer
/// that held a large frame: its empty tail would pin the whole allocation); it drops such a
/// buffer instead.
fn give_buf(buf: BytesMut) {
    debug_assert!(buf.is_empty());
    if buf.capacity() == 0 || buf.capacity() > POOL_BUF_MAX {
        return;
    }
    POOL.with_borrow_mut(|pool| {
        if pool.len() < POOL_MAX {
            pool.push(buf);
        }
    });
}

/// Reads frames from a byte stream.
pub(crate) struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    decoder: FrameDecoder,
    eof: bool,
    /// The most room the buffer has been seen to have since it was taken: about its
    /// allocation's size (reserving may have doubled it), so that one that held a frame larger
    /// than the pool keeps is freed, not pooled, when it runs empty. (A `u32`, saturating: it
    /// only matters below `POOL_BUF_MAX`, and it shares a word with the flags below, which takes
    /// the reader from 144 B to 136 B, the next size down of glibc's blocks.)
    seen: u32,
    /// What the buffered bytes have taken from the memory budget.
    account: Account,
    /// The last poll waited for room in the budget, not for the socket.
    starved: bool,
}

impl<R> FrameReader<R> {
    /// A reader that first decodes `leftover` (bytes that arrived with the handshake).
    pub(crate) fn new(
        io: R,
        decoder: FrameDecoder,
        leftover: BytesMut,
        budget: Option<MemoryBudget>,
    ) -> FrameReader<R> {
        let buf = if leftover.is_empty() {
            BytesMut::new()
        } else {
            leftover
        };
        FrameReader {
            io,
            buf,
            decoder,
            eof: false,
            seen: 0,
            account: Account::new(budget),
            starved: false,
        }
    }

    /// With a memory budget: how much of `want` the next read may take (inside a large frame,
    /// at most `GRANT` more at a time; between frames, what fits the bytes held outside the
    /// budget), once the budget covers it; `Pending` while it has no room.
    fn poll_room(&mut self, cx: &mut Context<'_>, want: usize, missing: usize) -> Poll<usize> {
        let spare = self.buf.capacity() - self.buf.len();
        let most = if missing > 0 {
            GRANT
        } else {
            FREE.saturating_sub(self.buf.len()).max(READ_CHUNK / 4)
        };
        let want = want.min(spare).min(most);
        self.starved = self
            .account
            .poll_hold(cx, self.buf.len() + want)
            .is_pending();
        if self.starved {
            return Poll::Pending;
        }
        Poll::Ready(want)
    }
}

impl<R: AsyncRead + Unpin> Stream for FrameReader<R> {
    type Item = Result<Message, Error>;

    #[inline(always)]
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // A whole frame already buffered (most polls under load).
        if let Some(frame) = self.buffered()? {
            return Poll::Ready(Some(Ok(frame)));
        }
        self.poll_read(cx)
    }
}

impl<R> FrameReader<R> {
    /// The next frame, if the buffer holds a whole one.
    #[inline(always)]
    fn buffered(&mut self) -> Result<Option<Message>, Error> {
        // (Nothing buffered decodes to nothing.)
        if self.buf.is_empty() {
            return Ok(None);
        }
        let frame = self.decoder.decode(&mut self.buf)?;
        if frame.is_some() {
            // The frame is the session's now (it accounts for what it keeps).
            self.account.settle(self.buf.len());
        }
        Ok(frame)
    }
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads from the byte stream until a frame is whole (what is buffered has been decoded).
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let this = self;
        loop {
            if this.eof {
                // Bytes left over at EOF are a frame cut short: the peer vanished mid-frame.
                return Poll::Ready(if this.buf.is_empty() {
                    None
                } else {
                    Some(Err(Error::AbnormalClosure))
                });
            }
            // Inside a frame, read its rest and at most a little of the next frame: one read
            // per large frame, and what spills into the next is little to move when that
            // frame's own room is made. Between frames, read what fits.
            // (The decoder has made room for the rest of the frame and `READ_AHEAD` more.)
            let missing = this.decoder.missing(this.buf.len());
            let mut want = if missing > 0 {
                missing + READ_AHEAD
            } else {
                usize::MAX
            };
            if this.buf.capacity() == 0 {
                // A pooled buffer with a quarter chunk of room left is taken as it is: making the
                // whole of it free again (`try_reclaim`) is left until its room runs short.
                this.buf = take_buf(READ_CHUNK / 4);
            } else if this.buf.capacity() - this.buf.len() < READ_CHUNK / 4 {
                this.buf.reserve(READ_CHUNK);
            }
            let capacity = u32::try_from(this.buf.capacity()).unwrap_or(u32::MAX);
            this.seen = this.seen.max(capacity);
            if this.account.is_limited() {
                want = ready!(this.poll_room(cx, want, missing));
            }
            let limited = &mut (&mut this.buf).limit(want);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.io), cx, limited) {
                Poll::Ready(Ok(0)) => this.eof = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(crate::error::read_error(e)))),
                Poll::Pending => {
                    this.account.settle(this.buf.len());
                    if this.buf.is_empty() {
                        // Idle: hold no buffer while waiting.
                        let mut buf = std::mem::take(&mut this.buf);
                        let seen = std::mem::take(&mut this.seen) as usize;
                        if seen.saturating_mul(2) > POOL_BUF_MAX {
                            drop(buf);
                        } else {
                            if seen > READ_CHUNK {
                                // A large frame's buffer: make all its room free again now (it
                                // is, once no payload split off it is alive), so that the next
                                // read can take a whole large frame at once.
                                let _ = buf.try_reclaim(seen);
                            }
                            give_buf(buf);
                        }
                    }
                    return Poll::Pending;
                }
            }
            if let Some(frame) = this.buffered()? {
                return Poll::Ready(Some(Ok(frame)));
            }
        }
    }
}

impl<R> FrameReader<R> {
    /// Whether bytes are buffered that the next poll will decode without I/O: while they are,
    /// the session leaves its writes in the sink's buffer, to go out in one write when reading
    /// next has to wait for the socket ("corking").
    #[inline]
    pub(crate) fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Whether the last poll returned `Pending` for want of room in the memory budget (the
    /// session bounds that wait), rather than for want of input.
    #[inline]
    pub(crate) fn starved(&self) -> bool {
        self.starved
    }
}

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
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf))?;
            if n == 0 {
                return Poll::Ready(Err(
                    std::io::Error::from(std::io::ErrorKind::WriteZero).into()
                ));
            }
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

/// Writes out a direct frame, header and payload apart.
fn write_direct<W: AsyncWrite + Unpin>(
    io: &mut W,
    cx: &mut Context<'_>,
    d: &mut Direct,
) -> Poll<Result<(), Error>> {
    while d.len() > 0 {
        let slices = [IoSlice::new(d.head()), IoSlice::new(&d.payload)];
        let n = ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices))?;
        if n == 0 {
            return Poll::Ready(Err(
                std::io::Error::from(std::io::ErrorKind::WriteZero).into()
            ));
        }
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
        let mut n = ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]))?;
        if n == 0 {
            return Poll::Ready(Err(
                std::io::Error::from(std::io::ErrorKind::WriteZero).into()
            ));
        }
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
    use super::*;
    use crate::proto::Role;
    use futures_util::{SinkExt, StreamExt};

    // Large payloads go out by vectored writes beside copied small frames: through a pipe that
    // takes a few KiB at a time, every frame must still arrive whole and in order.
    #[tokio::test]
    async fn mixed_small_and_zero_copy_frames_arrive_in_order_through_partial_writes() {
        let (a, b) = tokio::io::duplex(3000);
        let mut writer = FrameWriter::new(a, 64 << 10, crate::codec::random_mask);
        let decoder = FrameDecoder::new(Role::Client, 1 << 20, 1 << 20);
        let mut reader = FrameReader::new(b, decoder, BytesMut::new(), None);
        let big = |n: usize, fill: u8| Message::binary(vec![fill; n]);
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
        let (a, b) = tokio::io::duplex(7);
        let mut writer = FrameWriter::new(a, 64 << 10, crate::codec::random_mask);
        let decoder = FrameDecoder::new(Role::Client, 1 << 20, 1 << 20);
        let mut reader = FrameReader::new(b, decoder, BytesMut::new(), None);
        let big = |n: usize, fill: u8| Message::binary(vec![fill; n]);
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
}

#[cfg(test)]
mod sizes {
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

    /// Every connection over TCP holds one reader and one writer, each in a block of its own:
    /// glibc's blocks are 16 B apart with an 8 B header, so 136 B and 72 B are the sizes just
    /// under the next step (144 B and 80 B blocks; docs/performance.md).
    #[test]
    fn the_reader_and_writer_fit_their_heap_blocks() {
        assert!(std::mem::size_of::<super::FrameReader<OwnedReadHalf>>() <= 136);
        assert!(std::mem::size_of::<super::FrameWriter<OwnedWriteHalf>>() <= 72);
    }
}
