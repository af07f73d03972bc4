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

use bytes::{BufMut, BytesMut};
use futures_core::Stream;
use tokio::io::AsyncRead;

use super::{Account, MemoryBudget, FREE};
use crate::error::Error;
use crate::proto::{FrameDecoder, Message, READ_AHEAD};

mod writer;

pub(crate) use writer::FrameWriter;

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

#[cfg(test)]
mod sizes {
    use tokio::net::tcp::OwnedReadHalf;

    /// Every connection over TCP holds one reader, in a block of its own: glibc's blocks are 16 B
    /// apart with an 8 B header, so 136 B is the size just under the next step (a 144 B block;
    /// docs/performance.md).
    #[test]
    fn the_reader_fits_its_heap_block() {
        assert!(std::mem::size_of::<super::FrameReader<OwnedReadHalf>>() <= 136);
    }
}
