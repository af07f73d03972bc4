//! Close codes (RFC 6455 §7.4, IANA "WebSocket Close Code Number Registry") and close bodies.

use std::fmt;

use super::ProtocolError;

/// A close status code (RFC 6455 §7.4), with the IANA names as constants.
///
/// ```
/// use coro_websocket::CloseCode;
/// assert_eq!(CloseCode::MESSAGE_TOO_BIG.0, 1009);
/// assert!(CloseCode(4000).is_sendable());
/// assert!(!CloseCode::NO_STATUS_RECEIVED.is_sendable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose for which the connection was established has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: an endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer violated the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reserved; stands for "the close frame had no status code". Never sent.
    pub const NO_STATUS_RECEIVED: CloseCode = CloseCode(1005);
    /// 1006: reserved; stands for "closed without a close frame". Never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (e.g. non-UTF-8 text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway or proxy got an invalid response upstream.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: reserved; stands for "the TLS handshake failed". Never sent.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a close frame on the wire (RFC 6455 §7.4.1/§7.4.2):
    /// the registered codes other than 1004–1006 and 1015, and the 3000–4999 ranges.
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

/// The parsed body of a close frame: a status code and a UTF-8 reason.
///
/// A close frame with an empty body has no status code; it is read as code 1005
/// ([`CloseCode::NO_STATUS_RECEIVED`], RFC 6455 §7.1.5) with an empty reason, and a `CloseFrame`
/// with code 1005 is sent as an empty body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, possibly empty (at most 123 bytes on the wire).
    pub reason: String,
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.has_status() {
            f.write_str("no status code")
        } else if self.reason.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{} {}", self.code, self.reason)
        }
    }
}

impl CloseFrame {
    /// The body of a close frame without a status code (code 1005, no reason).
    pub fn no_status() -> CloseFrame {
        CloseFrame {
            code: CloseCode::NO_STATUS_RECEIVED,
            reason: String::new(),
        }
    }

    /// Whether the close frame carried a status code (anything but 1005).
    pub fn has_status(&self) -> bool {
        self.code != CloseCode::NO_STATUS_RECEIVED
    }

    /// Parses a close frame's payload. An empty payload is [`CloseFrame::no_status`].
    ///
    /// # Errors
    /// - RFC 6455 §5.5.1: a 1-byte body ([`ProtocolError::InvalidCloseLength`]);
    /// - RFC 6455 §7.4: a code that may not be sent ([`ProtocolError::InvalidCloseCode`]);
    /// - RFC 6455 §5.5.1: a reason that is not UTF-8 ([`ProtocolError::InvalidUtf8`]).
    ///
    /// ```
    /// use coro_websocket::{CloseCode, CloseFrame};
    /// assert_eq!(CloseFrame::parse(b"").unwrap().code, CloseCode::NO_STATUS_RECEIVED);
    /// assert_eq!(CloseFrame::parse(b"\x03\xe8bye").unwrap().reason, "bye");
    /// ```
    pub fn parse(payload: &[u8]) -> Result<CloseFrame, ProtocolError> {
        match payload.len() {
            0 => Ok(CloseFrame::no_status()),
            1 => Err(ProtocolError::InvalidCloseLength),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_sendable() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = simdutf8::basic::from_utf8(&payload[2..])
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(CloseFrame {
                    code,
                    reason: reason.to_owned(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6455 §7.4.1 / §7.4.2: which codes may be sent.
    #[test]
    fn sendable_codes() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(CloseCode(ok).is_sendable(), "{ok}");
        }
        for bad in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(bad).is_sendable(), "{bad}");
        }
    }

    // RFC 6455 §5.5.1: close body forms.
    #[test]
    fn close_bodies() {
        assert_eq!(CloseFrame::parse(b""), Ok(CloseFrame::no_status()));
        assert_eq!(
            CloseFrame::parse(b"\x03"),
            Err(ProtocolError::InvalidCloseLength)
        );
        assert_eq!(
            CloseFrame::parse(b"\x03\xed"),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            CloseFrame::parse(b"\x03\xe8\xff"),
            Err(ProtocolError::InvalidUtf8)
        );
        let f = CloseFrame::parse(b"\x03\xe9gone").unwrap();
        assert_eq!((f.code, f.reason.as_str()), (CloseCode::GOING_AWAY, "gone"));
    }
}
