//! The language of a conformance case: frames the raw peer sends ([`F`]), the steps of a script
//! ([`Step`]), what our application does ([`App`]), and a case ([`Case`]).

use std::fmt;

use coro_websocket::{Config, Message};

use crate::common::*;

/// A payload, printed short (the first bytes and the length).
#[derive(Clone, PartialEq, Eq)]
pub struct P(pub Vec<u8>);

impl fmt::Debug for P {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = &self.0[..self.0.len().min(12)];
        let ell = if self.0.len() > head.len() { "…" } else { "" };
        write!(
            f,
            "{:?}{ell}({} B)",
            String::from_utf8_lossy(head),
            self.0.len()
        )
    }
}

/// A frame the raw peer sends: masked for its role when encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct F {
    pub fin: bool,
    pub rsv: u8,
    pub op: u8,
    pub payload: P,
}

impl fmt::Debug for F {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op{}", self.op)?;
        if !self.fin {
            write!(f, "/fin=0")?;
        }
        if self.rsv != 0 {
            write!(f, "/rsv={}", self.rsv)?;
        }
        write!(f, " {:?}", self.payload)
    }
}

impl F {
    pub fn new(op: u8, payload: impl AsRef<[u8]>) -> F {
        F {
            fin: true,
            rsv: 0,
            op,
            payload: P(payload.as_ref().to_vec()),
        }
    }

    /// The same frame, not final.
    pub fn more(mut self) -> F {
        self.fin = false;
        self
    }

    /// The same frame with RSV bits (`0b100` = RSV1, as Autobahn's "RSV = 4").
    pub fn rsv(mut self, rsv: u8) -> F {
        self.rsv = rsv;
        self
    }

    pub fn encode(&self, mask: Option<[u8; 4]>) -> Vec<u8> {
        frame(self.fin, self.rsv, self.op, mask, &self.payload.0)
    }
}

pub fn text(p: impl AsRef<[u8]>) -> F {
    F::new(1, p)
}
pub fn bin(p: impl AsRef<[u8]>) -> F {
    F::new(2, p)
}
pub fn cont(p: impl AsRef<[u8]>) -> F {
    F::new(0, p)
}
pub fn ping(p: impl AsRef<[u8]>) -> F {
    F::new(9, p)
}
pub fn pong(p: impl AsRef<[u8]>) -> F {
    F::new(10, p)
}
pub fn close(code: u16, reason: impl AsRef<[u8]>) -> F {
    F::new(8, close_payload(code, reason.as_ref()))
}

/// `payload` as a message of opcode `op` in fragments of `size` bytes (at least one fragment).
pub fn fragments(op: u8, payload: &[u8], size: usize) -> Vec<F> {
    let mut out: Vec<F> = payload
        .chunks(size.max(1))
        .enumerate()
        .map(|(i, c)| F::new(if i == 0 { op } else { 0 }, c).more())
        .collect();
    if out.is_empty() {
        out.push(F::new(op, []).more());
    }
    out.last_mut().unwrap().fin = true;
    out
}

/// One step of a script.
#[derive(Clone)]
pub enum Step {
    /// Send frames in one write.
    Send(Vec<F>),
    /// Send frames one write per frame, pausing this many milliseconds after each.
    Frames(Vec<F>, u64),
    /// Send the encoded frames in pieces of `n` bytes, pausing `ms` after each.
    Chop(Vec<F>, usize, u64),
    /// Send a frame's header and the first `n` bytes of its payload; withhold the rest.
    Prefix(F, usize),
    /// Send the next `n` withheld bytes (all of them if fewer are left).
    More(usize),
    /// Wait this many milliseconds.
    Pause(u64),
    /// Expect a data message (opcode 1 or 2) with this payload, in one or more fragments.
    Echo(u8, P),
    /// Expect exactly these frames (as sent by our side).
    EchoFrames(Vec<F>),
    /// Expect a pong with this payload.
    Pong(P),
    /// Expect a close frame (with this code, or an empty one for `None`), then the end of TCP:
    /// our server closes it; against our client the raw server checks that the client waits,
    /// then closes it. Our application must see a clean end.
    Close(Option<u16>),
    /// Expect the connection to fail: a close frame with one of these codes (or, if 1006 is
    /// listed, TCP dropped without one), then TCP closed. Our application must see an error.
    Fail(&'static [u16]),
    /// Expect nothing at all for this many milliseconds.
    Quiet(u64),
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Send(v) => write!(f, "Send{v:?}"),
            Step::Frames(v, ms) => write!(f, "Frames({v:?}, {ms} ms)"),
            Step::Chop(v, n, ms) => write!(f, "Chop({v:?}, {n} B, {ms} ms)"),
            Step::Prefix(fr, n) => write!(f, "Prefix({fr:?}, {n} B)"),
            Step::More(n) => write!(f, "More({n})"),
            Step::Pause(ms) => write!(f, "Pause({ms} ms)"),
            Step::Echo(op, p) => write!(f, "Echo(op{op} {p:?})"),
            Step::EchoFrames(v) => write!(f, "EchoFrames{v:?}"),
            Step::Pong(p) => write!(f, "Pong({p:?})"),
            Step::Close(c) => write!(f, "Close({c:?})"),
            Step::Fail(c) => write!(f, "Fail({c:?})"),
            Step::Quiet(ms) => write!(f, "Quiet({ms} ms)"),
        }
    }
}

pub use Step::*;

pub fn send(frames: impl IntoIterator<Item = F>) -> Step {
    Send(frames.into_iter().collect())
}
pub fn echo_text(p: impl AsRef<[u8]>) -> Step {
    Echo(1, P(p.as_ref().to_vec()))
}
pub fn echo_bin(p: impl AsRef<[u8]>) -> Step {
    Echo(2, P(p.as_ref().to_vec()))
}
pub fn expect_pong(p: impl AsRef<[u8]>) -> Step {
    Pong(P(p.as_ref().to_vec()))
}

/// What our application does with its end of the connection.
#[derive(Clone)]
pub enum App {
    /// Echo every whole message (`read_message` + `write`): Autobahn's testee.
    Echo,
    /// Echo every data frame as it comes (`read` + `write`), fragments included.
    FrameEcho,
    /// Write these frames first, then echo.
    Push(Vec<Message>),
}

/// A conformance case.
#[derive(Clone)]
pub struct Case {
    pub id: String,
    pub config: Option<Config>,
    pub app: App,
    pub steps: Vec<Step>,
}

pub fn case(id: impl Into<String>, steps: Vec<Step>) -> Case {
    Case {
        id: id.into(),
        config: None,
        app: App::Echo,
        steps,
    }
}

impl Case {
    pub fn config(mut self, config: Config) -> Case {
        self.config = Some(config);
        self
    }

    pub fn app(mut self, app: App) -> Case {
        self.app = app;
        self
    }
}
