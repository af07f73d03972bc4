//! The seed API without async: [`connect`], then [`Reader::read`] and [`Writer::write`] that
//! block the calling thread. For scripts, tests and threaded programs.
//!
//! # How it works, and why
//! Each connection owns a private current-thread tokio runtime, and every call is
//! `runtime.block_on(<the async call>)` over the same session as the async API. There is no
//! second protocol implementation: the Sans-I/O core, the session's write obligations (pong,
//! close echo), proxies, redirects, TLS and limits are the async ones, unchanged.
//!
//! The alternative, a std-socket loop over the core, would need its own copy of the session
//! (ping answers, close timeouts, heartbeat, reader and writer in different threads, TLS and
//! proxies over blocking sockets): more code to get wrong for no measurable gain. A
//! current-thread runtime is the fast choice too: the thread that calls `read` or `write` drives
//! the socket itself, with no hand-off to a worker thread, and costs one small allocation
//! instead of a thread.
//!
//! Consequences:
//! - The reader and the writer may be used from different threads at once; both block on the
//!   same runtime, and whichever thread is inside a call drives the I/O for both.
//! - Background work (the heartbeat, answering pings, the close timeout) only progresses while
//!   some call on the connection is running. A reader that sits in [`Reader::read`] keeps the
//!   connection fully alive.
//! - Do not call these functions from inside an async runtime: `block_on` panics there. Use
//!   the async API instead.

use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::error::{Closed, Error};
use crate::io::Response;
use crate::options::Options;
use crate::proto::{CloseCode, CloseFrame, Message};

/// Opens a WebSocket connection and blocks until the upgrade is done: the seed's `connect`.
///
/// # Errors
/// As [`crate::connect`]; also an I/O error if the runtime cannot be created.
///
/// # Panics
/// If called from within an async runtime.
///
/// ```no_run
/// use coro_websocket::{blocking, CloseCode, Message, Options};
/// let (_res, mut read, mut write) = blocking::connect(Options::from_url("ws://127.0.0.1:9001/")?)?;
/// write.write(Message::text("hello"))?;
/// if let Some(reply) = read.read_message()? {
///     println!("{}", String::from_utf8_lossy(&reply.payload));
/// }
/// write.close(CloseCode::NORMAL, "done")?;
/// # Ok::<(), coro_websocket::Error>(())
/// ```
pub fn connect(options: Options) -> Result<(Response, Reader, Writer), Error> {
    let runtime = Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    );
    let (response, reader, writer) = runtime.block_on(crate::io::connect(options))?;
    Ok((
        response,
        Reader {
            inner: reader,
            runtime: runtime.clone(),
        },
        Writer {
            inner: writer,
            runtime,
        },
    ))
}

/// The reading half of a blocking connection: [`crate::Reader`], blocking.
#[derive(Debug)]
pub struct Reader {
    // Dropped before the runtime.
    inner: crate::Reader,
    runtime: Arc<Runtime>,
}

impl Reader {
    /// Reads the next frame, as [`crate::Reader::read`]; `Ok(None)` once the connection ended
    /// cleanly.
    ///
    /// # Errors
    /// As [`crate::Reader::read`].
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        self.runtime.block_on(self.inner.read())
    }

    /// Reads the next whole data message, as [`crate::Reader::read_message`].
    ///
    /// # Errors
    /// As [`crate::Reader::read`].
    pub fn read_message(&mut self) -> Result<Option<Message>, Error> {
        self.runtime.block_on(self.inner.read_message())
    }

    /// The peer's close frame, once received.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.inner.close_frame()
    }

    /// The close frames exchanged so far.
    pub fn closed(&self) -> Closed {
        self.inner.closed()
    }
}

/// The writing half of a blocking connection: [`crate::Writer`], blocking.
#[derive(Debug)]
pub struct Writer {
    inner: crate::Writer,
    runtime: Arc<Runtime>,
}

impl Writer {
    /// Sends a frame, as [`crate::Writer::write`], blocking until it is written.
    ///
    /// # Errors
    /// As [`crate::Writer::write`].
    pub fn write(&mut self, message: Message) -> Result<(), Error> {
        self.runtime.block_on(self.inner.write(message))
    }

    /// Sends a close frame, as [`crate::Writer::close`]; keep reading to see the peer's answer.
    ///
    /// # Errors
    /// As [`crate::Writer::close`].
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.runtime.block_on(self.inner.close(code, reason))
    }

    /// Flushes buffered frames, as [`crate::Writer::flush`].
    ///
    /// # Errors
    /// As [`crate::Writer::flush`].
    pub fn flush(&mut self) -> Result<(), Error> {
        self.runtime.block_on(self.inner.flush())
    }

    /// Whether the connection is closed for sending.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}
