//! The connection state machine (RFC 6455 §4–§7): every state transition lives in this file.
//!
//! It sees each frame after the [`super::FrameDecoder`] has validated it, and each frame the
//! application wants to send. It never performs I/O: receiving a frame yields a [`Received`] that
//! names the *write obligations* (a pong, a close echo) and whether the transport must now be
//! closed. One machine serves both roles; roles differ only in who closes the TCP connection first
//! (RFC 6455 §7.1.1: the server).

use std::time::{Duration, Instant};

use super::close::{CloseCode, CloseFrame};
use super::frame::{Message, Opcode};
use super::{ProtocolError, Role};

/// The close timeout of a [`Connection`] that was given none: python-websockets' default.
const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection's state, named after RFC 6455 §4 and §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The opening handshake is in progress.
    Connecting,
    /// Data may flow both ways.
    Open,
    /// One close frame has been sent or received; waiting for the other.
    Closing,
    /// Both close frames have been exchanged, or the connection was failed.
    Closed,
}

/// What the I/O layer must do after a frame was received.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Received {
    /// A frame to send now: the pong answering a ping, or the echo of a close.
    pub reply: Option<Message>,
    /// Whether to close the transport once `reply` (if any) is sent.
    pub close_transport: bool,
}

/// What the I/O layer must do after a frame was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    /// Whether to close the transport now (the close handshake is complete and we are the server).
    pub close_transport: bool,
}

/// A caller's misuse when sending: the frame is not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// A close frame was already sent: RFC 6455 §5.5.1, no data after a close.
    #[error("the connection is closing or closed; no more frames may be sent")]
    AlreadyClosed,
    /// RFC 6455 §5.5: control frames carry at most 125 bytes.
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlFrameTooLong(usize),
    /// RFC 6455 §5.5: control frames must not be fragmented.
    #[error("control frames must have fin set")]
    FragmentedControlFrame,
    /// RFC 6455 §7.4: this code may not be sent in a close frame.
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// RFC 6455 §5.4: a continuation with no fragmented message in progress.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// RFC 6455 §5.4: a new data frame while a fragmented message is unfinished.
    #[error("a fragmented message is unfinished; send continuation frames")]
    ExpectedContinuation,
    /// RFC 6455 §5.2: RSV bits need a negotiated extension.
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
}

/// The state machine for one connection, shared by both roles.
///
/// ```
/// use coro_websocket::proto::{Connection, Role, State};
/// use coro_websocket::{Message, Opcode, CloseCode};
/// let mut conn = Connection::new(Role::Server);
/// // A ping obliges a pong with the same payload.
/// let r = conn.receive(&Message::ping("x"));
/// assert_eq!(r.reply, Some(Message::pong("x")));
/// // A close is echoed, and the server then closes the transport.
/// let r = conn.receive(&Message::close(CloseCode::NORMAL, "bye"));
/// assert_eq!(r.reply.unwrap().opcode, Opcode::Close);
/// assert!(r.close_transport);
/// assert_eq!(conn.state(), State::Closed);
/// ```
#[derive(Debug, Clone)]
pub struct Connection {
    role: Role,
    state: State,
    /// The closing handshake, once under way. (Boxed: rare, and every connection carries a
    /// `Connection`.)
    closing: Option<Box<Closing>>,
    sending_fragmented: bool,
    close_timeout: Duration,
}

/// What a [`Connection`] knows of its closing handshake.
#[derive(Debug, Clone, Default)]
struct Closing {
    sent: Option<CloseFrame>,
    received: Option<CloseFrame>,
    /// When the closing handshake must be over, fixed when it is first asked for.
    by: Option<Instant>,
}

impl Connection {
    /// A connection whose opening handshake has completed.
    pub fn new(role: Role) -> Connection {
        Connection {
            role,
            state: State::Open,
            closing: None,
            sending_fragmented: false,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }

    /// Sets how long the closing handshake may take (default 10 s); see [`Connection::close_by`].
    pub fn with_close_timeout(mut self, timeout: Duration) -> Connection {
        self.close_timeout = timeout;
        self
    }

    /// How long the closing handshake may take.
    pub fn close_timeout(&self) -> Duration {
        self.close_timeout
    }

    /// When the closing handshake must be over, once one is under way: `None` while the
    /// connection is open.
    ///
    /// RFC 6455 §7.1.1 and §7.1.7 leave an endpoint waiting after a close frame: for the peer's
    /// close, and (a client) for the server to close TCP. The first call after a close frame was
    /// sent or received fixes the deadline at `now` plus the close timeout; later calls return
    /// the same instant. The core reads no clock: the caller passes `now` and runs the timer.
    /// At the deadline the caller ends the transport; whether that was a clean end depends on
    /// whether the peer's close was received ([`Connection::close_received`]).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use coro_websocket::proto::{Connection, Role};
    /// use coro_websocket::{CloseCode, Message};
    /// let mut conn = Connection::new(Role::Client).with_close_timeout(Duration::from_secs(2));
    /// let now = Instant::now();
    /// assert_eq!(conn.close_by(now), None);
    /// conn.send(&Message::close(CloseCode::NORMAL, "bye")).unwrap();
    /// assert_eq!(conn.close_by(now), Some(now + Duration::from_secs(2)));
    /// assert_eq!(conn.close_by(now + Duration::from_secs(1)), Some(now + Duration::from_secs(2)));
    /// ```
    pub fn close_by(&mut self, now: Instant) -> Option<Instant> {
        let timeout = self.close_timeout;
        // (Only a close frame sent or received starts the record.)
        let closing = self.closing.as_mut()?;
        Some(*closing.by.get_or_insert(now + timeout))
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The close frame we sent, if any (code 1005 for one without a status code).
    pub fn close_sent(&self) -> Option<&CloseFrame> {
        self.closing.as_ref()?.sent.as_ref()
    }

    /// The close frame we received, in the same form as [`Connection::close_sent`].
    pub fn close_received(&self) -> Option<&CloseFrame> {
        self.closing.as_ref()?.received.as_ref()
    }

    /// The closing handshake's record, started on first use.
    fn closing(&mut self) -> &mut Closing {
        self.closing.get_or_insert_with(Box::default)
    }

    /// Accounts for a validated incoming frame and says what must be written in answer.
    pub fn receive(&mut self, frame: &Message) -> Received {
        match frame.opcode {
            // RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
            // in response, unless it already received a Close frame." Having sent one (Closing)
            // does not excuse it: a pong is a control frame, not data.
            Opcode::Ping
                if self.close_received().is_none()
                    && matches!(self.state, State::Open | State::Closing) =>
            {
                Received {
                    reply: Some(Message::pong(frame.payload.clone())),
                    close_transport: false,
                }
            }
            Opcode::Close if self.close_received().is_none() => {
                // The decoder validated the body; a parse failure here cannot happen.
                let body = CloseFrame::parse(&frame.payload).unwrap_or(CloseFrame::no_status());
                self.closing().received = Some(body.clone());
                let reply = if self.close_sent().is_none() {
                    // RFC 6455 §5.5.1: "the endpoint MUST send a Close frame in response
                    // (typically echoing the status code it received)".
                    let echo = if body.has_status() {
                        Message::close(body.code, "")
                    } else {
                        Message::close_empty()
                    };
                    self.closing().sent = Some(body);
                    Some(echo)
                } else {
                    None
                };
                self.state = State::Closed;
                Received {
                    reply,
                    // RFC 6455 §7.1.1: the server closes the TCP connection first; the client
                    // waits for it.
                    close_transport: self.role == Role::Server,
                }
            }
            _ => Received::default(),
        }
    }

    /// Checks that the application may send `frame` now, and accounts for it.
    ///
    /// # Errors
    /// [`SendError`] when the frame would break RFC 6455 or the connection is closing.
    #[inline]
    pub fn send(&mut self, frame: &Message) -> Result<Sent, SendError> {
        if self.admits_at_once(frame) {
            return Ok(Sent::default());
        }
        self.send_checked(frame)
    }

    /// Whether `frame` is the common case that [`Connection::send`] accepts with nothing to
    /// account for: a whole text or binary message, no reserved bit, while open and not in the
    /// middle of a fragmented message. Sending it changes nothing here, so a caller may skip
    /// `send` for it.
    ///
    /// ```
    /// use coro_websocket::proto::{Connection, Role};
    /// use coro_websocket::{CloseCode, Message};
    /// let mut conn = Connection::new(Role::Server);
    /// assert!(conn.admits_at_once(&Message::binary(&b"hi"[..])));
    /// assert!(!conn.admits_at_once(&Message::ping("")));
    /// conn.send(&Message::close(CloseCode::NORMAL, "")).unwrap();
    /// assert!(!conn.admits_at_once(&Message::binary(&b"hi"[..])));
    /// ```
    #[inline]
    pub fn admits_at_once(&self, frame: &Message) -> bool {
        // (A close sent or received leaves the state `Open` no more.)
        frame.fin
            && matches!(frame.opcode, Opcode::Text | Opcode::Binary)
            && !(frame.rsv1 || frame.rsv2 || frame.rsv3 || self.sending_fragmented)
            && self.state == State::Open
    }

    /// [`Connection::send`] for every other frame.
    fn send_checked(&mut self, frame: &Message) -> Result<Sent, SendError> {
        if self.close_sent().is_some() || self.state == State::Closed {
            return Err(SendError::AlreadyClosed);
        }
        if frame.rsv1 || frame.rsv2 || frame.rsv3 {
            return Err(SendError::ReservedBits);
        }
        if frame.opcode.is_control() {
            if frame.payload.len() > 125 {
                return Err(SendError::ControlFrameTooLong(frame.payload.len()));
            }
            if !frame.fin {
                return Err(SendError::FragmentedControlFrame);
            }
        } else {
            match (frame.opcode, self.sending_fragmented) {
                (Opcode::Continuation, false) => return Err(SendError::UnexpectedContinuation),
                (Opcode::Text | Opcode::Binary, true) => {
                    return Err(SendError::ExpectedContinuation)
                }
                _ => self.sending_fragmented = !frame.fin,
            }
        }
        if frame.opcode == Opcode::Close {
            let body = match frame.payload.len() {
                0 => CloseFrame::no_status(),
                1 => return Err(SendError::InvalidCloseCode(0)),
                _ => {
                    let code = CloseCode(u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                    if !code.is_sendable() {
                        return Err(SendError::InvalidCloseCode(code.0));
                    }
                    let reason = String::from_utf8_lossy(&frame.payload[2..]).into_owned();
                    CloseFrame { code, reason }
                }
            };
            self.closing().sent = Some(body);
            self.state = if self.close_received().is_some() {
                State::Closed
            } else {
                State::Closing
            };
            return Ok(Sent {
                close_transport: self.state == State::Closed && self.role == Role::Server,
            });
        }
        Ok(Sent::default())
    }

    /// Fails the connection for a peer's violation (RFC 6455 §7.1.7): returns the close frame to
    /// send, if none was sent yet. The transport must be closed afterwards.
    pub fn fail(&mut self, error: &ProtocolError) -> Option<Message> {
        self.fail_with(error.close_code(), error.close_reason())
    }

    /// Fails the connection with an explicit code (e.g. 1011 for a local fault, 1001 going away).
    pub fn fail_with(&mut self, code: CloseCode, reason: &str) -> Option<Message> {
        let was_sent = self.close_sent().is_some();
        self.state = State::Closed;
        if was_sent {
            return None;
        }
        self.closing().sent = Some(CloseFrame {
            code,
            reason: reason.to_owned(),
        });
        Some(Message::close(code, reason))
    }

    /// Marks the transport as gone (EOF, reset, or local shutdown).
    pub fn transport_closed(&mut self) {
        self.state = State::Closed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6455 §5.5.2/§5.5.3: ping and pong.
    #[test]
    fn pings_get_pongs_and_pongs_get_nothing() {
        let mut c = Connection::new(Role::Client);
        assert_eq!(
            c.receive(&Message::ping("ab")).reply,
            Some(Message::pong("ab"))
        );
        assert_eq!(c.receive(&Message::pong("ab")), Received::default());
    }

    // The session skips `receive` (and its lock) for data frames: that is only sound while a
    // data frame owes nothing and changes no state, in any state, for either role.
    #[test]
    fn data_frames_owe_nothing_and_change_nothing() {
        let data = [
            Message::text("t"),
            Message::binary(vec![1]),
            Message {
                fin: false,
                ..Message::text("part")
            },
            Message::new(Opcode::Continuation, "rest"),
        ];
        for role in [Role::Client, Role::Server] {
            let open = Connection::new(role);
            let mut closing = Connection::new(role);
            closing
                .send(&Message::close(CloseCode::NORMAL, ""))
                .unwrap();
            let mut closed = closing.clone();
            closed.receive(&Message::close(CloseCode::NORMAL, ""));
            for before in [open, closing, closed] {
                for frame in &data {
                    let mut after = before.clone();
                    assert_eq!(after.receive(frame), Received::default());
                    assert_eq!(format!("{after:?}"), format!("{before:?}"));
                }
            }
        }
    }

    // RFC 6455 §7.1.1/§5.5.1: the close handshake, each side initiating, each role.
    #[test]
    fn client_initiated_close() {
        let mut c = Connection::new(Role::Client);
        let sent = c.send(&Message::close(CloseCode::NORMAL, "done")).unwrap();
        assert!(!sent.close_transport);
        assert_eq!(c.state(), State::Closing);
        let r = c.receive(&Message::close(CloseCode::NORMAL, ""));
        assert_eq!(r.reply, None);
        assert!(
            !r.close_transport,
            "the client waits for the server to close TCP"
        );
        assert_eq!(c.state(), State::Closed);
    }

    #[test]
    fn server_initiated_close() {
        let mut s = Connection::new(Role::Server);
        s.send(&Message::close(CloseCode::GOING_AWAY, "")).unwrap();
        let r = s.receive(&Message::close(CloseCode::GOING_AWAY, ""));
        assert!(r.close_transport);
    }

    #[test]
    fn close_echo_keeps_the_code_and_empty_stays_empty() {
        let mut c = Connection::new(Role::Client);
        let r = c.receive(&Message::close(CloseCode(4001), "x"));
        assert_eq!(r.reply, Some(Message::close(CloseCode(4001), "")));
        assert!(!r.close_transport);
        let mut c = Connection::new(Role::Client);
        assert_eq!(
            c.receive(&Message::close_empty()).reply,
            Some(Message::close_empty())
        );
    }

    #[test]
    fn ping_after_close_sent_still_gets_a_pong() {
        let mut c = Connection::new(Role::Client);
        c.send(&Message::close(CloseCode::NORMAL, "")).unwrap();
        assert_eq!(
            c.receive(&Message::ping("x")).reply,
            Some(Message::pong("x"))
        );
    }

    #[test]
    fn no_pong_after_close_received_and_no_send_after_close() {
        let mut c = Connection::new(Role::Server);
        c.receive(&Message::close_empty());
        assert_eq!(c.receive(&Message::ping("")).reply, None);
        assert_eq!(
            c.send(&Message::text("late")),
            Err(SendError::AlreadyClosed)
        );
    }

    #[test]
    fn send_side_misuse_is_refused() {
        let mut c = Connection::new(Role::Client);
        assert_eq!(
            c.send(&Message::ping(vec![0u8; 126])),
            Err(SendError::ControlFrameTooLong(126))
        );
        assert_eq!(
            c.send(&Message {
                fin: false,
                ..Message::ping("")
            }),
            Err(SendError::FragmentedControlFrame)
        );
        assert_eq!(
            c.send(&Message::new(Opcode::Continuation, "x")),
            Err(SendError::UnexpectedContinuation)
        );
        c.send(&Message {
            fin: false,
            ..Message::text("a")
        })
        .unwrap();
        assert_eq!(
            c.send(&Message::text("b")),
            Err(SendError::ExpectedContinuation)
        );
        c.send(&Message::new(Opcode::Continuation, "c")).unwrap();
        assert_eq!(
            c.send(&Message::close(CloseCode::ABNORMAL, "")),
            Err(SendError::InvalidCloseCode(1006))
        );
    }

    #[test]
    fn fail_sends_one_close_with_the_mapped_code() {
        let mut c = Connection::new(Role::Server);
        let f = c.fail(&ProtocolError::InvalidUtf8).unwrap();
        assert_eq!(&f.payload[..2], &1007u16.to_be_bytes());
        assert_eq!(c.fail(&ProtocolError::ReservedBits), None);
        assert_eq!(c.state(), State::Closed);
    }
}
