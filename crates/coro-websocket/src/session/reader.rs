//! The reading half of a split session.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::read::ReadCore;
use super::split::SplitLink;
use crate::error::{Closed, Error};
use crate::proto::{CloseFrame, Message};

/// The reading half of a connection: the seed's `read`.
///
/// [`Reader::read`] returns one frame at a time, after the session has handled it (a ping has
/// been answered, a close echoed); [`Reader::read_message`] returns whole messages. It also
/// implements `Stream<Item = Result<Message, Error>>`. After the close handshake, or after
/// [`Socket::shutdown`](crate::Socket::shutdown), reads return `Ok(None)`.
pub struct Reader {
    core: ReadCore<SplitLink>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("role", &self.core.link.shared.role)
            .field("done", &self.core.is_done())
            .finish_non_exhaustive()
    }
}

impl Reader {
    pub(super) fn new(core: ReadCore<SplitLink>) -> Reader {
        Reader { core }
    }

    /// Reads the next frame: the seed's `read()`.
    ///
    /// Fragments come back one by one with their `fin`; control frames come back after they are
    /// handled. With permessage-deflate, each frame's payload comes back inflated and `rsv1`
    /// cleared. `Ok(None)` means the connection has ended cleanly.
    ///
    /// # Errors
    /// A protocol violation by the peer (after the matching close was sent to it), an I/O error,
    /// a dead peer detected by the heartbeat, [`Error::AbnormalClosure`] when the peer vanished
    /// without a close frame, or a close-handshake timeout.
    pub async fn read(&mut self) -> Result<Option<Message>, Error> {
        std::future::poll_fn(|cx| self.core.poll_frame(cx))
            .await
            .transpose()
    }

    /// Reads the next whole data message: fragments reassembled, text checked as UTF-8.
    ///
    /// Pings, pongs and the close frame are handled and skipped; `Ok(None)` means the connection
    /// has ended ([`Reader::close_frame`] tells how).
    ///
    /// # Errors
    /// As [`Reader::read`].
    pub async fn read_message(&mut self) -> Result<Option<Message>, Error> {
        std::future::poll_fn(|cx| self.core.poll_message(cx))
            .await
            .transpose()
    }

    /// The peer's close frame, once received (code 1005 if it carried no status code).
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.core.link.shared.conn().close_received().cloned()
    }

    /// The close frames exchanged so far.
    pub fn closed(&self) -> Closed {
        self.core.link.shared.closed()
    }
}

impl Stream for Reader {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.core.poll_frame(cx)
    }
}
