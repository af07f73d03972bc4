//! Reconnection for long-lived clients: an async iterator of connections, with exponential
//! backoff and jitter between attempts, as Python websockets' `async for ws in connect(...)`.
//!
//! This module only decides *when* to call [`connect`] again; it never touches a socket itself.
//! It learns how a connection ended from its [`TrackedReader`], which records the close frames
//! when it is dropped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Closed, Error};
use crate::handshake::HandshakeError;
use crate::io::{connect, Response};
use crate::options::Options;
use crate::proto::CloseCode;
use crate::session::{Reader, Writer};

/// When to try again, and when to give up.
///
/// The wait before retry *n* (0-based, counted since the last successful connection) is
/// `first_delay * factor^n`, capped at `max_delay`, then shortened by a random fraction of up to
/// `jitter` so that many clients dropped together do not come back together.
///
/// ```
/// use std::time::Duration;
/// use coro_websocket::reconnect::Backoff;
/// let b = Backoff { jitter: 0.0, ..Backoff::default() };
/// assert_eq!(b.delay(0, 0.5), Duration::from_millis(500));
/// assert_eq!(b.delay(1, 0.5), Duration::from_secs(1));
/// assert_eq!(b.delay(30, 0.5), b.max_delay);
/// let j = Backoff::default(); // jitter 0.5: between half and all of the delay
/// assert_eq!(j.delay(1, 1.0), Duration::from_millis(500));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// The wait before the first retry. Default 500 ms: long enough not to hammer a server that
    /// accepts and drops at once, short enough that a blip goes unnoticed.
    pub first_delay: Duration,
    /// The longest wait. Default 60 s.
    pub max_delay: Duration,
    /// The growth of the wait per failed attempt. Default 2.
    pub factor: f64,
    /// The largest fraction of a wait removed at random, from 0 (none) to 1. Default 0.5.
    pub jitter: f64,
    /// Give up after this many failed attempts in a row. Default `None`: never.
    pub max_attempts: Option<u32>,
    /// Give up when the connection has been down this long (counted from the drop, or from
    /// the first failed attempt). Default `None`: never.
    pub max_elapsed: Option<Duration>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            factor: 2.0,
            jitter: 0.5,
            max_attempts: None,
            max_elapsed: None,
        }
    }
}

impl Backoff {
    /// The wait before retry `n` (0-based), for a random draw `random` in `[0, 1]`.
    pub fn delay(&self, n: u32, random: f64) -> Duration {
        let grown = self.first_delay.as_secs_f64() * self.factor.max(1.0).powi(n.min(64) as i32);
        let capped = grown.min(self.max_delay.as_secs_f64());
        let cut = self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
        Duration::from_secs_f64(capped * (1.0 - cut))
    }
}

/// The reader of a connection handed out by [`Reconnect`]: a [`Reader`] (through `Deref`) that
/// tells the [`Reconnect`] how the connection ended when it is dropped.
#[derive(Debug)]
pub struct TrackedReader {
    reader: Option<Reader>,
    outcome: Arc<Mutex<Option<Closed>>>,
}

impl TrackedReader {
    /// The plain reader. The [`Reconnect`] then no longer learns how the connection ends, and
    /// treats it as dropped: it will reconnect.
    pub fn into_inner(mut self) -> Reader {
        self.reader
            .take()
            .expect("the reader is present until drop")
    }
}

impl std::ops::Deref for TrackedReader {
    type Target = Reader;
    fn deref(&self) -> &Reader {
        self.reader
            .as_ref()
            .expect("the reader is present until drop")
    }
}

impl std::ops::DerefMut for TrackedReader {
    fn deref_mut(&mut self) -> &mut Reader {
        self.reader
            .as_mut()
            .expect("the reader is present until drop")
    }
}

impl Drop for TrackedReader {
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(reader.closed());
        }
    }
}

/// A connection handed out by [`Reconnect::next`]: what [`connect`] returns, with
/// the reader tracked so that the next call knows how the connection ended.
pub type Reconnected = (Response, TrackedReader, Writer);

/// Connections to one server, one after another: [`Reconnect::next`] connects, and after the
/// previous connection was lost, waits as the [`Backoff`] says and connects again.
///
/// It reconnects after network errors, timeouts, a dead peer, a 5xx answer to the upgrade and a
/// close with any code but 1000, 1001 or none (1005). It stops (`next` returns `None`) after a
/// normal close by either side, after an error that trying again cannot fix (a 4xx rejection, a
/// bad URL or certificate, a proxy refusing the credentials), and when the backoff gives up.
/// Every failed attempt is handed out as `Some(Err(_))`, so the caller can log it and go on.
///
/// ```no_run
/// use coro_websocket::reconnect::{Backoff, Reconnect};
/// use coro_websocket::{Message, Options};
/// # #[tokio::main] async fn main() -> Result<(), coro_websocket::Error> {
/// let mut connections = Reconnect::new(Options::from_url("ws://127.0.0.1:9001/")?, Backoff::default());
/// while let Some(attempt) = connections.next().await {
///     let (_res, mut read, mut write) = match attempt {
///         Ok(connection) => connection,
///         Err(e) => { eprintln!("connect failed: {e}"); continue }
///     };
///     write.write(Message::text("subscribe")).await?;
///     // On a drop, `read` fails; the loop then reconnects.
///     while let Ok(Some(msg)) = read.read_message().await {
///         println!("{}", String::from_utf8_lossy(&msg.payload));
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Reconnect {
    options: Options,
    backoff: Backoff,
    /// How the connection handed out last ended, once its reader is dropped.
    current: Option<Arc<Mutex<Option<Closed>>>>,
    /// Waits since the last successful connection.
    waits: u32,
    /// Failed attempts in a row.
    failures: u32,
    /// When the connection was lost (or the first attempt failed).
    down_since: Option<Instant>,
    /// Whether the next attempt follows a loss or a failure, and so must wait first.
    must_wait: bool,
    stopped: bool,
}

impl Reconnect {
    /// Connections made with `options`, retried as `backoff` says. Nothing happens until
    /// [`Reconnect::next`] is called.
    pub fn new(options: Options, backoff: Backoff) -> Reconnect {
        Reconnect {
            options,
            backoff,
            current: None,
            waits: 0,
            failures: 0,
            down_since: None,
            must_wait: false,
            stopped: false,
        }
    }

    /// The next connection: the first one at once, later ones after the previous connection was
    /// lost and the backoff delay has passed. `None` once it has stopped (see [`Reconnect`]).
    ///
    /// # Errors
    /// Each failed attempt, as `Some(Err(_))`; call `next` again to retry (or to learn with
    /// `None` that it gave up).
    pub async fn next(&mut self) -> Option<Result<Reconnected, Error>> {
        if self.stopped {
            return None;
        }
        if let Some(slot) = self.current.take() {
            let closed = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            if closed.as_ref().is_some_and(ended_normally) {
                self.stopped = true;
                return None;
            }
            self.down_since = Some(Instant::now());
            self.must_wait = true;
        }
        if self.must_wait {
            if self
                .backoff
                .max_attempts
                .is_some_and(|max| self.failures >= max)
            {
                self.stopped = true;
                return None;
            }
            let mut delay = self.backoff.delay(self.waits, rand::random());
            if let (Some(max), Some(since)) = (self.backoff.max_elapsed, self.down_since) {
                let left = max.saturating_sub(since.elapsed());
                if left.is_zero() {
                    self.stopped = true;
                    return None;
                }
                delay = delay.min(left);
            }
            self.waits = self.waits.saturating_add(1);
            tokio::time::sleep(delay).await;
        }
        match connect(self.options.clone()).await {
            Ok((response, reader, writer)) => {
                let outcome = Arc::new(Mutex::new(None));
                self.current = Some(outcome.clone());
                self.waits = 0;
                self.failures = 0;
                self.down_since = None;
                self.must_wait = false;
                let reader = TrackedReader {
                    reader: Some(reader),
                    outcome,
                };
                Some(Ok((response, reader, writer)))
            }
            Err(e) => {
                if is_transient(&e) {
                    self.failures += 1;
                    self.down_since.get_or_insert_with(Instant::now);
                    self.must_wait = true;
                } else {
                    self.stopped = true;
                }
                Some(Err(e))
            }
        }
    }

    /// Failed attempts in a row since the last successful connection.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// A normal close, by either side: 1000, 1001, or a close without a status (1005).
fn ended_normally(closed: &Closed) -> bool {
    let normal = |code: CloseCode| code == CloseCode::NORMAL || code == CloseCode::GOING_AWAY;
    match (&closed.received, &closed.sent) {
        (Some(received), _) => normal(received.code) || !received.has_status(),
        // The peer vanished after this side closed normally: the caller wanted to stop.
        (None, Some(sent)) => normal(sent.code),
        (None, None) => false,
    }
}

/// Whether a failed attempt may succeed later.
fn is_transient(e: &Error) -> bool {
    match e {
        Error::Io(_)
        | Error::Timeout(..)
        | Error::AbnormalClosure
        | Error::PeerNotResponding(_) => true,
        // A certificate the client refuses is InvalidData; other TLS errors are the network's.
        Error::Tls(io) => io.kind() != std::io::ErrorKind::InvalidData,
        Error::Handshake(HandshakeError::Incomplete) => true,
        Error::Handshake(HandshakeError::Rejected(r)) => r.status >= 500,
        Error::Proxy(p) => p.is_transient(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloseFrame;

    fn frame(code: u16) -> Option<CloseFrame> {
        Some(CloseFrame {
            code: CloseCode::from(code),
            reason: String::new(),
        })
    }

    #[test]
    fn normal_closes_stop_others_do_not() {
        let closed = |sent, received| Closed { sent, received };
        assert!(ended_normally(&closed(frame(1000), frame(1000))));
        assert!(ended_normally(&closed(None, frame(1001))));
        assert!(ended_normally(&closed(None, Some(CloseFrame::no_status()))));
        assert!(!ended_normally(&closed(
            Some(CloseFrame::no_status()),
            None
        )));
        assert!(ended_normally(&closed(frame(1000), None)));
        assert!(!ended_normally(&closed(None, frame(1011))));
        assert!(!ended_normally(&closed(frame(1002), frame(1002))));
        assert!(!ended_normally(&closed(None, None)));
    }

    #[test]
    fn delays_grow_cap_and_jitter_within_bounds() {
        let b = Backoff {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..Backoff::default()
        };
        let mut last = Duration::ZERO;
        for n in 0..10 {
            let d = b.delay(n, 0.0);
            assert!(d >= last && d <= b.max_delay);
            last = d;
            let j = b.delay(n, 1.0);
            assert!(j >= d / 2 && j <= d);
        }
        assert_eq!(b.delay(100, 0.0), b.max_delay);
    }

    #[test]
    fn which_errors_are_retried() {
        assert!(is_transient(&Error::AbnormalClosure));
        assert!(is_transient(&Error::Io(
            std::io::ErrorKind::ConnectionRefused.into()
        )));
        let refused = |status| {
            Error::Handshake(HandshakeError::Rejected(Box::new(crate::Rejection {
                status,
                reason: String::new(),
                headers: crate::Headers::new(),
                body: bytes::Bytes::new(),
            })))
        };
        assert!(is_transient(&refused(503)));
        assert!(!is_transient(&refused(403)));
        assert!(!is_transient(&refused(429)));
        assert!(!is_transient(&Error::Options(
            crate::error::OptionsError::NoDestination
        )));
    }
}
