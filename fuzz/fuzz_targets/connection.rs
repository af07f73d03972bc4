//! `connection`: a generated sequence of operations driving `FrameDecoder` + `Connection`.
//!
//! The input (decoded with `arbitrary`) picks the role, small decoder limits and a list of
//! operations: frames from the peer (well-formed, with an arbitrary first byte and mask, or raw
//! bytes), the application's sends (arbitrary `Message`s, text, closes), local failures and the
//! transport going away. Incoming bytes go through the decoder; its frames go to
//! `Connection::receive`, and a decoder error to `Connection::fail`.
//!
//! Checks, besides "never panics":
//! - after a close was both sent and received the state is `Closed`; `Open` means neither was;
//!   the state never goes back;
//! - once a close was sent (or the connection closed), `send` fails with `AlreadyClosed`;
//! - every reply from `receive` is the pong to a ping (same payload, only before a close was
//!   received) or the echo of the first close received (a valid close body with a sendable code);
//! - `fail` returns a close with a sendable code, and only if no close was sent before: one close
//!   frame leaves this endpoint at most once, whichever path sends it;
//! - everything this endpoint writes (accepted sends, replies, fail's close), encoded with
//!   `encode_frame` and masked by role, is decoded back unchanged by a decoder of the peer's role,
//!   as long as the application did not send text or a close reason that is not UTF-8
//!   (`Connection::send` does not check UTF-8; the peer would rightly refuse it).
#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use coro_websocket::error::{ProtocolError, SendError};
use coro_websocket::proto::{encode_frame, Connection, FrameDecoder, FrameHeader, Role, State};
use coro_websocket::{CloseCode, CloseFrame, Message, Opcode};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op6 {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl From<Op6> for Opcode {
    fn from(o: Op6) -> Opcode {
        match o {
            Op6::Continuation => Opcode::Continuation,
            Op6::Text => Opcode::Text,
            Op6::Binary => Opcode::Binary,
            Op6::Close => Opcode::Close,
            Op6::Ping => Opcode::Ping,
            Op6::Pong => Opcode::Pong,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Violation {
    ReservedBits,
    ReservedOpcode(u8),
    UnmaskedFrame,
    MaskedFrame,
    ControlFrameTooLong(u64),
    FragmentedControlFrame,
    UnexpectedContinuation,
    ExpectedContinuation,
    InvalidUtf8,
    InvalidCloseLength,
    InvalidCloseCode(u16),
    LengthTopBit,
    NonMinimalLength,
    FrameTooBig(u64, u64),
    MessageTooBig(u64, u64),
}

impl From<Violation> for ProtocolError {
    fn from(v: Violation) -> ProtocolError {
        use ProtocolError as P;
        match v {
            Violation::ReservedBits => P::ReservedBits,
            Violation::ReservedOpcode(o) => P::ReservedOpcode(o),
            Violation::UnmaskedFrame => P::UnmaskedFrame,
            Violation::MaskedFrame => P::MaskedFrame,
            Violation::ControlFrameTooLong(n) => P::ControlFrameTooLong(n),
            Violation::FragmentedControlFrame => P::FragmentedControlFrame,
            Violation::UnexpectedContinuation => P::UnexpectedContinuation,
            Violation::ExpectedContinuation => P::ExpectedContinuation,
            Violation::InvalidUtf8 => P::InvalidUtf8,
            Violation::InvalidCloseLength => P::InvalidCloseLength,
            Violation::InvalidCloseCode(c) => P::InvalidCloseCode(c),
            Violation::LengthTopBit => P::LengthTopBit,
            Violation::NonMinimalLength => P::NonMinimalLength,
            Violation::FrameTooBig(len, max) => P::FrameTooBig { len, max },
            Violation::MessageTooBig(len, max) => P::MessageTooBig { len, max },
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A frame from the peer, masked as the peer's role requires.
    PeerFrame {
        opcode: Op6,
        fin: bool,
        payload: Vec<u8>,
        key: [u8; 4],
    },
    /// A close from the peer with a code and reason, masked as its role requires.
    PeerClose {
        code: u16,
        reason: String,
        key: [u8; 4],
    },
    /// A frame from the peer with an arbitrary first byte (FIN, RSV, opcode) and mask.
    PeerWire {
        b0: u8,
        mask: Option<[u8; 4]>,
        payload: Vec<u8>,
    },
    /// Raw bytes from the peer.
    PeerBytes(Vec<u8>),
    /// An arbitrary frame from the application.
    Send {
        opcode: Op6,
        fin: bool,
        rsv: (bool, bool, bool),
        payload: Vec<u8>,
    },
    /// A text (or continuation) frame with valid UTF-8.
    SendText {
        continuation: bool,
        fin: bool,
        text: String,
    },
    /// A close from the application.
    SendClose { code: u16, reason: String },
    /// The application fails the connection for a peer violation.
    Fail(Violation),
    /// The application fails the connection with a sendable code (e.g. 1001, 1011).
    FailWith { code: u16, reason: String },
    /// EOF or reset.
    TransportClosed,
}

#[derive(Arbitrary, Debug)]
struct Input {
    server: bool,
    max_frame: u16,
    max_message: u16,
    ops: Vec<Op>,
}

fn rank(s: State) -> u8 {
    match s {
        State::Connecting => 0,
        State::Open => 1,
        State::Closing => 2,
        State::Closed => 3,
    }
}

fn is_sendable_close(msg: &Message) -> bool {
    msg.opcode == Opcode::Close
        && msg.fin
        && msg.payload.len() <= 125
        && matches!(CloseFrame::parse(&msg.payload), Ok(f) if f.code.is_sendable())
}

struct Harness {
    role: Role,
    conn: Connection,
    decoder: FrameDecoder,
    inbox: BytesMut,
    decoder_failed: bool,
    /// Decodes what this endpoint writes, as the peer would.
    peer: FrameDecoder,
    peer_checks: bool,
    outbox: BytesMut,
    /// Whether the outgoing fragmented message in progress is text.
    sending_text: bool,
    keys: u32,
    closes_sent: u32,
    close_received: bool,
    transport_closed: bool,
    failed: bool,
    state: State,
}

impl Harness {
    fn new(input: &Input) -> Harness {
        let role = if input.server {
            Role::Server
        } else {
            Role::Client
        };
        let peer_role = if input.server {
            Role::Client
        } else {
            Role::Server
        };
        let max_frame = u64::from(input.max_frame);
        let max_message = u64::from(input.max_message);
        Harness {
            role,
            conn: Connection::new(role),
            decoder: FrameDecoder::new(role, max_frame, max_message),
            inbox: BytesMut::new(),
            decoder_failed: false,
            peer: FrameDecoder::new(peer_role, 1 << 40, 1 << 40),
            peer_checks: true,
            outbox: BytesMut::new(),
            sending_text: false,
            keys: 0,
            closes_sent: 0,
            close_received: false,
            transport_closed: false,
            failed: false,
            state: State::Open,
        }
    }

    /// The peer masks iff it is the client, that is iff we are the server.
    fn peer_key(&self, key: [u8; 4]) -> Option<[u8; 4]> {
        (self.role == Role::Server).then_some(key)
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::PeerFrame {
                opcode,
                fin,
                payload,
                key,
            } => {
                let msg = Message {
                    fin,
                    ..Message::new(opcode.into(), payload)
                };
                let mut wire = BytesMut::new();
                encode_frame(&msg, self.peer_key(key), &mut wire);
                self.incoming(&wire);
            }
            Op::PeerClose { code, reason, key } => {
                let mut wire = BytesMut::new();
                encode_frame(
                    &Message::close(CloseCode(code), &reason),
                    self.peer_key(key),
                    &mut wire,
                );
                self.incoming(&wire);
            }
            Op::PeerWire {
                b0,
                mask,
                mut payload,
            } => {
                let header = FrameHeader {
                    fin: b0 & 0x80 != 0,
                    rsv: (b0 >> 4) & 7,
                    opcode: b0 & 0x0f,
                    mask,
                    len: payload.len() as u64,
                };
                let mut wire = BytesMut::new();
                header.encode(&mut wire);
                if let Some(key) = mask {
                    coro_websocket::proto::apply_mask(&mut payload, key, 0);
                }
                wire.extend_from_slice(&payload);
                self.incoming(&wire);
            }
            Op::PeerBytes(bytes) => self.incoming(&bytes),
            Op::Send {
                opcode,
                fin,
                rsv,
                payload,
            } => {
                let msg = Message {
                    fin,
                    rsv1: rsv.0,
                    rsv2: rsv.1,
                    rsv3: rsv.2,
                    ..Message::new(opcode.into(), payload)
                };
                self.send(msg);
            }
            Op::SendText {
                continuation,
                fin,
                text,
            } => {
                let opcode = if continuation {
                    Opcode::Continuation
                } else {
                    Opcode::Text
                };
                self.send(Message {
                    fin,
                    ..Message::new(opcode, text)
                });
            }
            Op::SendClose { code, reason } => self.send(Message::close(CloseCode(code), &reason)),
            Op::Fail(v) => {
                let error = ProtocolError::from(v);
                let close = self.conn.fail(&error);
                self.failed(close, Some(error.close_code()));
            }
            Op::FailWith { code, reason } => {
                let code = if CloseCode(code).is_sendable() {
                    CloseCode(code)
                } else {
                    CloseCode(1011)
                };
                let mut end = reason.len().min(123);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                let close = self.conn.fail_with(code, &reason[..end]);
                self.failed(close, Some(code));
            }
            Op::TransportClosed => {
                self.conn.transport_closed();
                self.transport_closed = true;
            }
        }
        self.check_state();
    }

    fn incoming(&mut self, bytes: &[u8]) {
        if self.decoder_failed {
            return; // "The decoder must not be used after an error."
        }
        self.inbox.extend_from_slice(bytes);
        loop {
            match self.decoder.decode(&mut self.inbox) {
                Ok(Some(frame)) => self.receive(frame),
                Ok(None) => break,
                Err(e) => {
                    self.decoder_failed = true;
                    let close = self.conn.fail(&e);
                    self.failed(close, Some(e.close_code()));
                    break;
                }
            }
            self.check_state();
        }
    }

    fn receive(&mut self, frame: Message) {
        let close_was_received = self.close_received;
        let closes_sent_before = self.closes_sent;
        let state_before = self.conn.state();
        let r = self.conn.receive(&frame);
        if frame.opcode == Opcode::Close {
            self.close_received = true;
        }
        match &r.reply {
            Some(reply) if reply.opcode == Opcode::Pong => {
                assert_eq!(frame.opcode, Opcode::Ping, "a pong answers a ping");
                assert_eq!(
                    reply.payload, frame.payload,
                    "a pong echoes the ping's data"
                );
                assert!(!close_was_received, "no pong after a close was received");
                assert!(reply.fin && reply.payload.len() <= 125);
            }
            Some(reply) => {
                assert_eq!(reply.opcode, Opcode::Close, "a reply is a pong or a close");
                assert_eq!(frame.opcode, Opcode::Close, "a close reply echoes a close");
                assert!(!close_was_received && closes_sent_before == 0);
                assert!(
                    reply.payload.is_empty() || is_sendable_close(reply),
                    "{reply:?}"
                );
                if !reply.payload.is_empty() {
                    // RFC 6455 §5.5.1: typically echoing the status code it received.
                    assert_eq!(reply.payload[..2], frame.payload[..2]);
                } else {
                    assert!(frame.payload.is_empty());
                }
                self.closes_sent += 1;
            }
            None => {
                if frame.opcode == Opcode::Ping && !close_was_received {
                    assert_eq!(state_before, State::Closed, "an unanswered ping");
                }
                if frame.opcode == Opcode::Close && !close_was_received {
                    assert!(closes_sent_before > 0, "an unanswered close");
                }
            }
        }
        if r.close_transport {
            assert_eq!(self.role, Role::Server, "the server closes TCP first");
            assert_eq!(self.conn.state(), State::Closed);
        }
        if let Some(reply) = r.reply {
            self.write(&reply);
        }
    }

    fn send(&mut self, msg: Message) {
        let closed = self.closes_sent > 0 || self.conn.state() == State::Closed;
        let result = self.conn.send(&msg);
        if closed {
            assert_eq!(result, Err(SendError::AlreadyClosed), "send after close");
            return;
        }
        let Ok(sent) = result else { return };
        assert!(!(msg.rsv1 || msg.rsv2 || msg.rsv3));
        if msg.opcode.is_control() {
            assert!(msg.fin && msg.payload.len() <= 125);
        }
        match msg.opcode {
            Opcode::Close => {
                assert!(msg.payload.is_empty() || msg.payload.len() >= 2);
                if msg.payload.len() >= 2 {
                    let code = CloseCode(u16::from_be_bytes([msg.payload[0], msg.payload[1]]));
                    assert!(code.is_sendable(), "sent close code {code}");
                    if std::str::from_utf8(&msg.payload[2..]).is_err() {
                        self.peer_checks = false;
                    }
                }
                self.closes_sent += 1;
            }
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                if msg.opcode != Opcode::Continuation {
                    self.sending_text = msg.opcode == Opcode::Text;
                }
                // Each fragment valid on its own makes the whole message valid.
                if self.sending_text && std::str::from_utf8(&msg.payload).is_err() {
                    self.peer_checks = false;
                }
            }
            Opcode::Ping | Opcode::Pong => {}
        }
        if sent.close_transport {
            assert_eq!(self.role, Role::Server);
            assert_eq!(self.conn.state(), State::Closed);
        }
        self.write(&msg);
    }

    fn failed(&mut self, close: Option<Message>, code: Option<CloseCode>) {
        self.failed = true;
        assert_eq!(
            self.conn.state(),
            State::Closed,
            "fail closes the connection"
        );
        match close {
            Some(close) => {
                assert_eq!(self.closes_sent, 0, "fail returned a second close");
                assert!(is_sendable_close(&close), "{close:?}");
                let sent = close.close_frame().unwrap();
                assert_eq!(sent.has_status().then_some(sent.code), code);
                self.closes_sent += 1;
                self.write(&close);
            }
            None => assert!(
                self.closes_sent > 0,
                "fail returned no close, and none was sent"
            ),
        }
    }

    /// Encodes `msg` as this endpoint would and checks the peer decodes it back unchanged.
    fn write(&mut self, msg: &Message) {
        assert!(self.closes_sent <= 1, "more than one close sent");
        let key = (self.role == Role::Client).then(|| {
            self.keys = self.keys.wrapping_add(0x9e37_79b9);
            self.keys.to_be_bytes()
        });
        encode_frame(msg, key, &mut self.outbox);
        if !self.peer_checks {
            return;
        }
        let got = self
            .peer
            .decode(&mut self.outbox)
            .unwrap_or_else(|e| panic!("the peer refuses our {msg:?}: {e}"))
            .expect("a whole frame");
        assert!(self.outbox.is_empty());
        assert_eq!(
            (got.opcode, got.fin, &got.payload, got.mask),
            (msg.opcode, msg.fin, &msg.payload, key.is_some())
        );
    }

    fn check_state(&mut self) {
        let state = self.conn.state();
        assert!(
            rank(state) >= rank(self.state),
            "{:?} -> {state:?}",
            self.state
        );
        self.state = state;
        assert_eq!(self.conn.close_sent().is_some(), self.closes_sent > 0);
        assert_eq!(self.conn.close_received().is_some(), self.close_received);
        if self.closes_sent > 0 && self.close_received {
            assert_eq!(state, State::Closed, "both closes exchanged");
        }
        if state == State::Open {
            assert!(self.closes_sent == 0 && !self.close_received);
        }
        if self.failed || self.transport_closed {
            assert_eq!(state, State::Closed);
        }
    }
}

fuzz_target!(|input: Input| {
    let mut h = Harness::new(&input);
    for op in input.ops {
        h.run(op);
    }
});
