//! The Sans-I/O protocol core: frames, masking, close codes, UTF-8, the incoming-frame decoder
//! and the connection state machine (RFC 6455 §5–§8).
//!
//! Nothing here touches tokio, sockets or a clock. Bytes go into [`FrameDecoder`], frames come out;
//! frames go into [`Connection`], and it answers with *write obligations* (a pong to send, a close
//! to echo, "close the transport now"). The session layer (`crate::session`) carries those out.
//! One state machine serves both roles; the [`Role`] decides masking and who closes TCP first.

mod close;
mod connection;
mod decoder;
pub mod deflate;
mod frame;
mod mask;
mod utf8;

/// Bytes processed per step by the payload passes (masking, UTF-8) that follow one another over
/// the same bytes: small enough to stay in L1 cache between the passes.
const BLOCK: usize = 8 << 10;

pub use close::{CloseCode, CloseFrame};
pub use connection::{Connection, Received, SendError, Sent, State};
pub use decoder::FrameDecoder;
pub(crate) use decoder::READ_AHEAD;
pub(crate) use frame::encode_short;
pub use frame::{encode_frame, FrameHeader, HeaderError, Message, Opcode};
pub use mask::apply_mask;
pub use utf8::{InvalidUtf8, Utf8Validator};

/// Which end of the connection this endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Opened the connection: masks every frame it sends, refuses masked frames.
    Client,
    /// Accepted the connection: never masks, refuses unmasked frames, closes TCP first.
    Server,
}

/// A violation of RFC 6455 by the peer. Each maps to the close code sent back
/// ([`ProtocolError::close_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RFC 6455 §5.2: RSV bits set with no extension that defines them.
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
    /// RFC 6455 §5.2: an opcode reserved for future use.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// RFC 6455 §5.1: a client frame that was not masked.
    #[error("client frame was not masked")]
    UnmaskedFrame,
    /// RFC 6455 §5.1: a server frame that was masked.
    #[error("server frame was masked")]
    MaskedFrame,
    /// RFC 6455 §5.5: a control frame with a payload over 125 bytes.
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlFrameTooLong(u64),
    /// RFC 6455 §5.5: a control frame without FIN.
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// RFC 6455 §5.4: a continuation frame with no message in progress.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// RFC 6455 §5.4: a new data message before the previous one finished.
    #[error("new data frame while a fragmented message is in progress")]
    ExpectedContinuation,
    /// RFC 6455 §8.1: text that is not valid UTF-8.
    #[error("invalid UTF-8 in text")]
    InvalidUtf8,
    /// RFC 6455 §5.5.1: a close frame with a 1-byte body.
    #[error("close frame with a 1-byte body")]
    InvalidCloseLength,
    /// RFC 6455 §7.4: a close code that may not be sent.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// RFC 6455 §5.2: a 64-bit length with its most significant bit set.
    #[error("frame length has its most significant bit set")]
    LengthTopBit,
    /// RFC 6455 §5.2: a length not in its minimal encoding.
    #[error("frame length not minimally encoded")]
    NonMinimalLength,
    /// A frame larger than the configured `max_frame_size`.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooBig {
        /// The announced payload length.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// RFC 7692 §6.1: a compressed message that does not inflate.
    #[error("invalid compressed data")]
    InvalidCompressedData,
    /// RFC 7692 §6: RSV1 on a control frame or a continuation frame.
    #[error("RSV1 set on a control or continuation frame")]
    CompressedControlOrContinuation,
    /// A message larger than the configured `max_message_size`.
    #[error("message of at least {len} bytes exceeds the limit of {max}")]
    MessageTooBig {
        /// The message size reached so far.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// A compressed message inflating to more than `DeflateConfig::max_ratio` times its
    /// compressed size (past `ratio_floor`): a decompression bomb. Closed with 1009.
    #[error("compressed message inflates to at least {inflated} bytes from {compressed}")]
    CompressionRatio {
        /// Inflated bytes so far.
        inflated: u64,
        /// Compressed bytes they came from.
        compressed: u64,
    },
    /// The message in progress needed memory that the server-wide budget
    /// ([`MemoryBudget`](crate::MemoryBudget)) could not give within `Config::budget_wait`:
    /// not the peer's fault, but the connection cannot go on. Closed with 1013 (try again later).
    #[error("no room in the memory budget for the message in progress after {waited_ms} ms")]
    OverBudget {
        /// How long the connection waited for room, in milliseconds.
        waited_ms: u64,
    },
}

impl ProtocolError {
    /// The close code to send the peer for this violation (RFC 6455 §7.4.1).
    ///
    /// This is the one place that maps violations to codes; the reason sent along is
    /// [`ProtocolError::close_reason`], which never reveals internals.
    ///
    /// ```
    /// use coro_websocket::{error::ProtocolError, CloseCode};
    /// assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
    /// assert_eq!(ProtocolError::ReservedOpcode(3).close_code(), CloseCode::PROTOCOL_ERROR);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooBig { .. }
            | ProtocolError::MessageTooBig { .. }
            | ProtocolError::CompressionRatio { .. } => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::OverBudget { .. } => CloseCode::TRY_AGAIN_LATER,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// The short reason sent in the close frame: the code's meaning, nothing more.
    pub fn close_reason(&self) -> &'static str {
        match self.close_code() {
            CloseCode::INVALID_PAYLOAD => "invalid payload data",
            CloseCode::MESSAGE_TOO_BIG => "message too big",
            CloseCode::TRY_AGAIN_LATER => "try again later",
            _ => "protocol error",
        }
    }
}

impl From<HeaderError> for ProtocolError {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::LengthTopBit => ProtocolError::LengthTopBit,
            HeaderError::NonMinimalLength => ProtocolError::NonMinimalLength,
        }
    }
}

impl From<InvalidUtf8> for ProtocolError {
    fn from(_: InvalidUtf8) -> Self {
        ProtocolError::InvalidUtf8
    }
}
