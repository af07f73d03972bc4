//! What a session reads frames from and writes frames to: our own frame reader and writer over a
//! byte stream, or a caller's frame stream and sink ([`wrap_io`](crate::wrap_io)).
//!
//! An enum, not a trait object: over a socket, reading and writing a frame is a direct call the
//! compiler can inline into the session's hot path; the byte stream under it is reached once per
//! system call. Over TCP (most connections) not even that is virtual.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::frames::{FrameReader, FrameWriter};
use crate::error::Error;
use crate::proto::Message;

/// The read half of any byte stream but TCP.
pub(crate) type ByteRead = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of any byte stream but TCP.
pub(crate) type ByteWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Where a session's frames come from.
pub(crate) enum FrameStream {
    /// Our decoder over a TCP socket's read half.
    Tcp(Box<FrameReader<OwnedReadHalf>>),
    /// Our decoder over any other byte stream (TLS, Unix, a tunnel, an HTTP/2 stream).
    Bytes(Box<FrameReader<ByteRead>>),
    /// A caller's frame stream. (Boxed twice, so that the enum is two words: every connection
    /// carries one, and this kind is rare.) It never reports buffered input, so nothing is
    /// corked.
    Frames(Box<ForeignStream>),
}

/// Where a session's frames go.
pub(crate) enum FrameSink {
    /// Our encoder over a TCP socket's write half.
    Tcp(Box<FrameWriter<OwnedWriteHalf>>),
    /// Our encoder over any other byte stream.
    Bytes(Box<FrameWriter<ByteWrite>>),
    /// A caller's frame sink (boxed twice, as a caller's stream).
    Frames(Box<ForeignSink>),
}

/// A caller's frame stream.
pub(crate) type ForeignStream = Pin<Box<dyn Stream<Item = Result<Message, Error>> + Send>>;
/// A caller's frame sink.
pub(crate) type ForeignSink = Pin<Box<dyn Sink<Message, Error = Error> + Send>>;

impl FrameStream {
    /// Pinned for polling (it is `Unpin`), as a `Pin<Box<_>>` would be.
    #[inline]
    pub(crate) fn as_mut(&mut self) -> Pin<&mut Self> {
        Pin::new(self)
    }

    /// Whether bytes are buffered that the next poll will decode without I/O.
    #[inline]
    pub(crate) fn has_buffered(&self) -> bool {
        match self {
            FrameStream::Tcp(r) => r.has_buffered(),
            FrameStream::Bytes(r) => r.has_buffered(),
            FrameStream::Frames(_) => false,
        }
    }

    /// Whether the last poll waited for room in the memory budget rather than for input.
    #[inline]
    pub(crate) fn starved(&self) -> bool {
        match self {
            FrameStream::Tcp(r) => r.starved(),
            FrameStream::Bytes(r) => r.starved(),
            FrameStream::Frames(_) => false,
        }
    }
}

impl Stream for FrameStream {
    type Item = Result<Message, Error>;

    #[inline(always)]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            FrameStream::Tcp(r) => Pin::new(&mut **r).poll_next(cx),
            FrameStream::Bytes(r) => Pin::new(&mut **r).poll_next(cx),
            FrameStream::Frames(s) => Pin::as_mut(s).poll_next(cx),
        }
    }
}

impl FrameSink {
    /// Pinned for polling (it is `Unpin`), as a `Pin<Box<_>>` would be.
    #[inline]
    pub(crate) fn as_mut(&mut self) -> Pin<&mut Self> {
        Pin::new(self)
    }

    /// Readies the sink for a small unmasked frame and hands it over in one step, when that
    /// needs nothing but copying it into our writer's buffer (see `FrameWriter::put_short`).
    /// False, with nothing done, otherwise.
    #[inline]
    pub(crate) fn put_short(&mut self, msg: &Message) -> bool {
        match self {
            FrameSink::Tcp(w) => w.put_short(msg),
            FrameSink::Bytes(w) => w.put_short(msg),
            FrameSink::Frames(_) => false,
        }
    }
}

/// Calls the same `Sink` method on whichever sink it is.
macro_rules! each_sink {
    ($sink:expr, $s:ident => $call:expr) => {
        match $sink {
            FrameSink::Tcp($s) => {
                let $s = Pin::new(&mut **$s);
                $call
            }
            FrameSink::Bytes($s) => {
                let $s = Pin::new(&mut **$s);
                $call
            }
            FrameSink::Frames($s) => {
                let $s = Pin::as_mut($s);
                $call
            }
        }
    };
}

impl Sink<Message> for FrameSink {
    type Error = Error;

    #[inline(always)]
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        each_sink!(self.get_mut(), s => s.poll_ready(cx))
    }

    #[inline(always)]
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        each_sink!(self.get_mut(), s => s.start_send(item))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        each_sink!(self.get_mut(), s => s.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        each_sink!(self.get_mut(), s => s.poll_close(cx))
    }
}
