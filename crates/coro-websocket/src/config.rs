//! Every limit and timeout of a connection, in one place.

use std::time::Duration;

use crate::handshake::HeadLimits;
use crate::session::MemoryBudget;

/// Limits and timeouts shared by clients and servers.
///
/// Configuration style: the seed's options ([`Options`](crate::Options)) are a struct literal
/// with `..Default::default()`, as the seed's table; these limits are a `#[non_exhaustive]`
/// struct whose fields are set on `Config::default()`. The client's connect timeout is the
/// seed's `Options::timeout` (it bounds one call, `connect`); the timeouts here bound phases
/// that both roles share (the server's handshake, the closing handshake).
///
/// Every default is chosen to let real traffic through (Autobahn's 16 MiB messages fit) while
/// bounding what one hostile peer can make a process hold. Build one with `Config::default()` and
/// set fields; [`Config::validate`] checks the result.
///
/// | field | default | why |
/// |---|---|---|
/// | `max_frame_size` | 16 MiB | one frame is buffered whole; same as tungstenite |
/// | `max_message_size` | 64 MiB | a reassembled message; same as tungstenite (Node ws: 100 MiB, python-websockets: 1 MiB) |
/// | `max_head_bytes` | 16 KiB | handshake head; Node's default `--max-http-header-size` |
/// | `max_headers` | 100 | handshake header count; python-websockets allows 128, uWebSockets 50 |
/// | `handshake_timeout` | 10 s | server: time for a client to send its request; the seed's connect timeout |
/// | `close_timeout` | 10 s | time to wait for the peer's close frame or TCP close; python-websockets' default |
/// | `max_write_buffer` | 128 KiB | bytes buffered for writing before a write waits for the socket (backpressure), and the most that corked writes hold back; python-websockets: 32 KiB, tungstenite: 128 KiB |
/// | `memory_budget` | none; [`ServerOptions`](crate::ServerOptions): one 256 MiB budget per process | incoming bytes held across connections: four messages at the 64 MiB limit at once; `docs/limits.md` |
/// | `budget_wait` | 5 s | how long a connection waits for room in the budget before it is closed with 1013 |
///
/// ```
/// use coro_websocket::Config;
/// let mut config = Config::default();
/// config.max_message_size = 1 << 20;
/// config.validate().unwrap();
/// config.max_frame_size = 0;
/// assert!(config.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest accepted frame payload, in bytes.
    pub max_frame_size: u64,
    /// Largest accepted message payload (all fragments together), in bytes.
    pub max_message_size: u64,
    /// Largest accepted handshake head (request or status line plus headers), in bytes.
    pub max_head_bytes: usize,
    /// Largest accepted number of header fields in a handshake.
    pub max_headers: usize,
    /// Server: how long a client may take to send its complete upgrade request.
    pub handshake_timeout: Duration,
    /// How long to wait for the close handshake to finish before dropping the connection.
    pub close_timeout: Duration,
    /// Bytes of encoded frames buffered for writing before a write must wait for the socket.
    /// One frame larger than this is still buffered whole.
    pub max_write_buffer: usize,
    /// The budget for incoming bytes (frame and reassembly buffers, inflated output) shared
    /// with other connections; `None`: each connection is bounded only by its own limits.
    pub memory_budget: Option<MemoryBudget>,
    /// How long a connection that needs room in `memory_budget` waits for it before it is
    /// closed with 1013 (try again later).
    pub budget_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_head_bytes: 16 << 10,
            max_headers: 100,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(10),
            max_write_buffer: 128 << 10,
            memory_budget: None,
            budget_wait: Duration::from_secs(5),
        }
    }
}

/// A [`Config`] value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {field} {problem}")]
pub struct ConfigError {
    /// The name of the offending field, e.g. `"max_frame_size"`.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: ConfigProblem,
}

/// What is wrong with a [`Config`] field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// It is zero.
    #[error("must be greater than zero")]
    Zero,
    /// It is larger than this machine can address.
    #[error("exceeds the address space")]
    TooLarge,
    /// It is below the smallest workable value.
    #[error("must be at least {0}")]
    BelowMinimum(usize),
}

impl Config {
    /// Checks that every limit is usable.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field that is zero or out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = |field| ConfigError {
            field,
            problem: ConfigProblem::Zero,
        };
        if self.max_frame_size == 0 {
            return Err(zero("max_frame_size"));
        }
        if self.max_message_size == 0 {
            return Err(zero("max_message_size"));
        }
        if self.max_frame_size > usize::MAX as u64 {
            return Err(ConfigError {
                field: "max_frame_size",
                problem: ConfigProblem::TooLarge,
            });
        }
        if self.max_head_bytes < 64 {
            return Err(ConfigError {
                field: "max_head_bytes",
                problem: ConfigProblem::BelowMinimum(64),
            });
        }
        if self.max_headers == 0 {
            return Err(zero("max_headers"));
        }
        if self.handshake_timeout.is_zero() {
            return Err(zero("handshake_timeout"));
        }
        if self.close_timeout.is_zero() {
            return Err(zero("close_timeout"));
        }
        if self.max_write_buffer == 0 {
            return Err(zero("max_write_buffer"));
        }
        if self.budget_wait.is_zero() {
            return Err(zero("budget_wait"));
        }
        Ok(())
    }

    pub(crate) fn head_limits(&self) -> HeadLimits {
        HeadLimits {
            max_bytes: self.max_head_bytes,
            max_headers: self.max_headers,
        }
    }
}
