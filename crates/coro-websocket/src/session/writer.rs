//! The writing half: sends frames through the session's shared sink.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_sink::Sink;

use super::{SendFuture, Shared};
use crate::error::Error;
use crate::proto::{CloseCode, Message, State};

/// The writing half of a connection: the seed's `write`.
///
/// Each [`Writer::write`] sends one frame and returns once it has been handed to the transport.
/// In the client role every frame is masked with a fresh random key. It also implements
/// `Sink<Message>`; closing the sink sends a normal close (1000) if none was sent.
pub struct Writer {
    shared: Arc<Shared>,
    pending: Option<SendFuture>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("role", &self.shared.role)
            .finish_non_exhaustive()
    }
}

impl Writer {
    pub(super) fn new(shared: Arc<Shared>) -> Writer {
        Writer {
            shared,
            pending: None,
        }
    }

    /// Sends one frame. A message built with `..Default::default()` is a final binary frame, as
    /// the seed's encoder defaults. Writing a close frame (opcode 8) starts the closing handshake
    /// and ends writing: later writes fail with [`Error::ConnectionClosed`].
    ///
    /// # Errors
    /// [`Error::Send`] for a frame RFC 6455 forbids (an oversize or fragmented control frame, a
    /// close code that may not be sent, out-of-order fragments); [`Error::ConnectionClosed`]
    /// after a close; I/O errors.
    pub async fn write(&mut self, message: Message) -> Result<(), Error> {
        self.shared.send(message).await
    }

    /// Sends a close frame with a code and reason (at most 123 bytes).
    ///
    /// # Errors
    /// As [`Writer::write`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.write(Message::close(code, reason)).await
    }

    /// Writes out any frames still buffered.
    ///
    /// A write made while the reader still holds unread input from the peer may stay buffered
    /// until the reader next waits for the socket, so that a burst of replies goes out in one
    /// system call. Call this if you stop reading while such input may be pending.
    ///
    /// # Errors
    /// I/O errors, or the connection having been aborted.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.shared.unless_aborted(self.shared.flush()).await
    }

    /// The session, for layers above it that write on the application's behalf.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Whether a close frame has been sent or the connection is otherwise over.
    pub fn is_closed(&self) -> bool {
        let conn = self.shared.conn();
        conn.close_sent().is_some() || conn.state() == State::Closed
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(fut) = self.pending.as_mut() {
            let result = ready!(fut.as_mut().poll(cx));
            self.pending = None;
            return Poll::Ready(result);
        }
        Poll::Ready(Ok(()))
    }
}

impl Sink<Message> for Writer {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_pending(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        let shared = self.shared.clone();
        self.pending = Some(Box::pin(async move { shared.send(item).await }));
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_pending(cx))?;
        if self.shared.cork.is_owed() {
            // A corked write left frames buffered; a Sink flush means they go out now.
            let shared = self.shared.clone();
            self.pending = Some(Box::pin(async move {
                shared.unless_aborted(shared.flush()).await
            }));
            ready!(self.poll_pending(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_pending(cx))?;
        if !self.is_closed() {
            let shared = self.shared.clone();
            self.pending = Some(Box::pin(async move {
                shared.send(Message::close(CloseCode::NORMAL, "")).await
            }));
            ready!(self.poll_pending(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}
