//! Conformance tests after the Autobahn|Testsuite, run in the repository instead of against a
//! fuzzingserver/fuzzingclient.
//!
//! Every case is a script for a raw peer over a real `127.0.0.1:0` socket. It runs twice, as in
//! Autobahn's two modes:
//! - against our **server** running an echo loop (`accept`, then `read_message` + `write`), the
//!   raw peer being a client that masks its frames;
//! - against our **client** running the same echo loop (`connect`, then `read_message` + `write`),
//!   the raw peer being a server that does not mask.
//!
//! A script sends frames (whole, frame by frame, chopped into pieces, or with part of a frame
//! withheld) and expects exactly what comes back: echoed messages, pongs, then either a clean
//! closing handshake or a failed connection (a close frame with a code from an allowed set, then
//! TCP closed). Expectations are strict: any frame the script does not expect fails the case. A
//! script that does not end in a close or a failure ends with a normal closing handshake started
//! by the raw peer, so every case also checks that the connection ends cleanly.
//!
//! Case ids follow Autobahn's numbering (`c5_19_...` is Autobahn case 5.19), sometimes adapted
//! (a reserved opcode always comes after a valid text, which must be echoed first); numbers
//! Autobahn does not use are extra cases in the spirit of that section. The violation table of
//! `rfc6455.rs` (which also checks the reported `ProtocolError`) is not repeated here.
//!
//! Not covered: Autobahn sections 12 and 13 (permessage-deflate; every case here runs without
//! extensions, so RSV1 is always a violation), the opening handshake (see `server.rs`, `client_handshake.rs`), and section 9's
//! timings (no speed assertions; sizes are scaled down to 1 MiB, with one 16 MiB case).

mod common;

use std::fmt;
use std::time::Duration;

use common::*;
use coro_websocket::{accept, connect, Config, Message, Options, Reader, ServerOptions, Writer};
use futures_util::stream::{self, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the raw peer waits for any one thing; only a failing case waits this long.
const WAIT: Duration = Duration::from_secs(10);
/// How long one whole case may take.
const CASE_WAIT: Duration = Duration::from_secs(90);
/// How many cases of a group run at the same time (each on its own connection).
const PARALLEL: usize = 4;

/// Which end of the connection is ours (the other end is the raw peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ours {
    Server,
    Client,
}

// ---------------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------------

/// A payload, printed short (the first bytes and the length).
#[derive(Clone, PartialEq, Eq)]
struct P(Vec<u8>);

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
struct F {
    fin: bool,
    rsv: u8,
    op: u8,
    payload: P,
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
    fn new(op: u8, payload: impl AsRef<[u8]>) -> F {
        F {
            fin: true,
            rsv: 0,
            op,
            payload: P(payload.as_ref().to_vec()),
        }
    }

    /// The same frame, not final.
    fn more(mut self) -> F {
        self.fin = false;
        self
    }

    /// The same frame with RSV bits (`0b100` = RSV1, as Autobahn's "RSV = 4").
    fn rsv(mut self, rsv: u8) -> F {
        self.rsv = rsv;
        self
    }

    fn encode(&self, mask: Option<[u8; 4]>) -> Vec<u8> {
        frame(self.fin, self.rsv, self.op, mask, &self.payload.0)
    }
}

fn text(p: impl AsRef<[u8]>) -> F {
    F::new(1, p)
}
fn bin(p: impl AsRef<[u8]>) -> F {
    F::new(2, p)
}
fn cont(p: impl AsRef<[u8]>) -> F {
    F::new(0, p)
}
fn ping(p: impl AsRef<[u8]>) -> F {
    F::new(9, p)
}
fn pong(p: impl AsRef<[u8]>) -> F {
    F::new(10, p)
}
fn close(code: u16, reason: impl AsRef<[u8]>) -> F {
    F::new(8, close_payload(code, reason.as_ref()))
}

/// `payload` as a message of opcode `op` in fragments of `size` bytes (at least one fragment).
fn fragments(op: u8, payload: &[u8], size: usize) -> Vec<F> {
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
enum Step {
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

use Step::*;

fn send(frames: impl IntoIterator<Item = F>) -> Step {
    Send(frames.into_iter().collect())
}
fn echo_text(p: impl AsRef<[u8]>) -> Step {
    Echo(1, P(p.as_ref().to_vec()))
}
fn echo_bin(p: impl AsRef<[u8]>) -> Step {
    Echo(2, P(p.as_ref().to_vec()))
}
fn expect_pong(p: impl AsRef<[u8]>) -> Step {
    Pong(P(p.as_ref().to_vec()))
}

/// What our application does with its end of the connection.
#[derive(Clone)]
enum App {
    /// Echo every whole message (`read_message` + `write`): Autobahn's testee.
    Echo,
    /// Echo every data frame as it comes (`read` + `write`), fragments included.
    FrameEcho,
    /// Write these frames first, then echo.
    Push(Vec<Message>),
}

/// A conformance case.
#[derive(Clone)]
struct Case {
    id: String,
    config: Option<Config>,
    app: App,
    steps: Vec<Step>,
}

fn case(id: impl Into<String>, steps: Vec<Step>) -> Case {
    Case {
        id: id.into(),
        config: None,
        app: App::Echo,
        steps,
    }
}

impl Case {
    fn config(mut self, config: Config) -> Case {
        self.config = Some(config);
        self
    }

    fn app(mut self, app: App) -> Case {
        self.app = app;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Running a script
// ---------------------------------------------------------------------------------------------

/// Our application's side: `Ok` if its reader ended cleanly, `Err` with what it saw otherwise.
async fn run_app(app: App, mut read: Reader, mut write: Writer) -> Result<(), String> {
    let frame_echo = matches!(app, App::FrameEcho);
    if let App::Push(messages) = app {
        for m in messages {
            write.write(m).await.map_err(|e| format!("push: {e:?}"))?;
        }
    }
    loop {
        let got = if frame_echo {
            read.read().await
        } else {
            read.read_message().await
        };
        match got {
            Ok(Some(m)) if m.opcode.is_data() => {
                let reply = Message {
                    fin: m.fin,
                    opcode: m.opcode,
                    len: m.payload.len(),
                    payload: m.payload,
                    ..Message::default()
                };
                write
                    .write(reply)
                    .await
                    .map_err(|e| format!("write: {e:?}"))?;
            }
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("read: {e:?}")),
        }
    }
}

/// Opens a connection between our endpoint (running `app`) and a raw peer.
async fn open(
    ours: Ours,
    config: Config,
    app: App,
) -> (RawPeer, tokio::task::JoinHandle<Result<(), String>>) {
    let (peer, task) = match ours {
        Ours::Server => {
            let (l, addr) = listener().await;
            let task = tokio::spawn(async move {
                let (tcp, _) = l.accept().await.map_err(|e| format!("accept: {e}"))?;
                let options = ServerOptions {
                    config,
                    ..Default::default()
                };
                let (_req, read, write) = accept(tcp, options)
                    .await
                    .map_err(|e| format!("handshake: {e:?}"))?;
                run_app(app, read, write).await
            });
            (raw_client(addr).await, task)
        }
        Ours::Client => {
            let (addr, raw) = raw_server().await;
            let task = tokio::spawn(async move {
                let (_res, read, write) = connect(Options {
                    host: Some("127.0.0.1".into()),
                    port: Some(addr.port()),
                    config,
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("handshake: {e:?}"))?;
                run_app(app, read, write).await
            });
            let (peer, _head) = tokio::time::timeout(WAIT, raw)
                .await
                .expect("the client never connected")
                .unwrap();
            (peer, task)
        }
    };
    peer.tcp.set_nodelay(true).unwrap();
    (peer, task)
}

/// The raw peer's end of one running case.
struct Run {
    peer: RawPeer,
    ours: Ours,
    /// Withheld bytes of a frame started with [`Step::Prefix`].
    withheld: Vec<u8>,
}

impl Run {
    /// Writes bytes. A write error is not a failure in itself: our side may rightly have closed
    /// the connection already, which the expectations that follow will tell.
    async fn write(&mut self, bytes: &[u8]) {
        let _ = self.peer.tcp.write_all(bytes).await;
    }

    fn encode(&self, frames: &[F]) -> Vec<u8> {
        let mask = self.peer.mask();
        frames.iter().flat_map(|f| f.encode(mask)).collect()
    }

    /// The next frame from our side, `None` at EOF; checks its masking and RSV bits.
    async fn next(&mut self) -> Result<Option<RawFrame>, String> {
        loop {
            if let Some((f, n)) = parse_frame(&self.peer.buf) {
                self.peer.buf.drain(..n);
                if f.masked != (self.ours == Ours::Client) {
                    return Err(format!("frame with the wrong masking: {}", show(&f)));
                }
                if f.rsv != 0 {
                    return Err(format!("frame with RSV bits set: {}", show(&f)));
                }
                return Ok(Some(f));
            }
            let read = self.peer.tcp.read_buf(&mut self.peer.buf);
            match tokio::time::timeout(WAIT, read).await {
                Err(_) => return Err("timed out waiting for a frame".into()),
                Ok(Ok(0)) | Ok(Err(_)) if self.peer.buf.is_empty() => return Ok(None),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    return Err(format!(
                        "EOF after {} bytes of a frame",
                        self.peer.buf.len()
                    ))
                }
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next frame, which must exist.
    async fn frame(&mut self, wanted: &str) -> Result<RawFrame, String> {
        self.next()
            .await?
            .ok_or_else(|| format!("EOF, expected {wanted}"))
    }

    async fn eof(&mut self) -> Result<(), String> {
        match self.next().await? {
            None => Ok(()),
            Some(f) => Err(format!("expected TCP closed, got {}", show(&f))),
        }
    }

    async fn quiet(&mut self, d: Duration) -> Result<(), String> {
        if !self.peer.buf.is_empty() {
            return Err(format!(
                "expected quiet, {} bytes arrived",
                self.peer.buf.len()
            ));
        }
        match tokio::time::timeout(d, self.peer.tcp.read_buf(&mut self.peer.buf)).await {
            Err(_) => Ok(()),
            Ok(Ok(0)) | Ok(Err(_)) => Err("expected quiet, TCP closed".into()),
            Ok(Ok(_)) => match self.next().await? {
                Some(f) => Err(format!("expected quiet, got {}", show(&f))),
                None => Err("expected quiet, TCP closed".into()),
            },
        }
    }

    async fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Send(frames) => {
                let bytes = self.encode(frames);
                self.write(&bytes).await;
            }
            Frames(frames, ms) => {
                for f in frames {
                    let bytes = self.encode(std::slice::from_ref(f));
                    self.write(&bytes).await;
                    pause(*ms).await;
                }
            }
            Chop(frames, n, ms) => {
                let bytes = self.encode(frames);
                for piece in bytes.chunks(*n) {
                    self.write(piece).await;
                    pause(*ms).await;
                }
            }
            Prefix(f, n) => {
                let mut bytes = self.encode(std::slice::from_ref(f));
                let cut = bytes.len() - f.payload.0.len() + n;
                self.withheld = bytes.split_off(cut);
                self.write(&bytes).await;
            }
            More(n) => {
                let rest = self.withheld.split_off((*n).min(self.withheld.len()));
                let now = std::mem::replace(&mut self.withheld, rest);
                self.write(&now).await;
            }
            Pause(ms) => pause(*ms).await,
            Echo(op, want) => {
                let first = self.frame("an echoed message").await?;
                if first.opcode != *op {
                    return Err(format!("expected an op{op} message, got {}", show(&first)));
                }
                let mut fin = first.fin;
                let mut got = first.payload;
                while !fin {
                    let f = self.frame("a continuation").await?;
                    if f.opcode != 0 {
                        return Err(format!("expected a continuation, got {}", show(&f)));
                    }
                    fin = f.fin;
                    got.extend_from_slice(&f.payload);
                }
                same_payload(&got, &want.0)?;
            }
            EchoFrames(want) => {
                for (i, w) in want.iter().enumerate() {
                    let f = self.frame("an echoed frame").await?;
                    if (f.fin, f.opcode) != (w.fin, w.op) {
                        return Err(format!("frame {i}: expected {w:?}, got {}", show(&f)));
                    }
                    same_payload(&f.payload, &w.payload.0)
                        .map_err(|e| format!("frame {i}: {e}"))?;
                }
            }
            Pong(want) => {
                let f = self.frame("a pong").await?;
                if f.opcode != 10 || !f.fin || f.payload != want.0 {
                    return Err(format!("expected a pong {want:?}, got {}", show(&f)));
                }
            }
            Close(code) => {
                let f = self.frame("a close frame").await?;
                let ok = match code {
                    None => f.opcode == 8 && f.payload.is_empty(),
                    Some(c) => f.close_code() == Some(*c) && valid_reason(&f),
                };
                if !ok {
                    return Err(format!("expected a close {code:?}, got {}", show(&f)));
                }
                match self.ours {
                    // RFC 6455 §7.1.1: the server closes TCP first...
                    Ours::Server => self.eof().await?,
                    // ...and the client waits for it.
                    Ours::Client => {
                        self.quiet(Duration::from_millis(20)).await.map_err(|e| {
                            format!("client did not wait for the server to close TCP: {e}")
                        })?;
                        let _ = self.peer.tcp.shutdown().await;
                    }
                }
            }
            Fail(codes) => {
                match self.next().await? {
                    Some(f) if f.opcode == 8 => {
                        if !f.close_code().is_some_and(|c| codes.contains(&c)) {
                            return Err(format!("expected a close {codes:?}, got {}", show(&f)));
                        }
                    }
                    Some(f) => {
                        return Err(format!("expected a close {codes:?}, got {}", show(&f)));
                    }
                    None if codes.contains(&1006) => return Ok(()),
                    None => return Err(format!("EOF, expected a close {codes:?}")),
                }
                // RFC 6455 §7.1.7: after failing, the endpoint closes the connection.
                self.eof().await?;
            }
            Quiet(ms) => self.quiet(Duration::from_millis(*ms)).await?,
        }
        Ok(())
    }
}

async fn pause(ms: u64) {
    if ms == 0 {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

fn valid_reason(f: &RawFrame) -> bool {
    std::str::from_utf8(&f.payload[2..]).is_ok()
}

/// A frame from our side, for failure messages.
fn show(f: &RawFrame) -> String {
    let fin = if f.fin { "" } else { "/fin=0" };
    match f.close_code() {
        Some(code) => format!(
            "close{fin} code {code} reason {:?}",
            String::from_utf8_lossy(&f.payload[2..])
        ),
        None => format!("op{}{fin} {:?}", f.opcode, P(f.payload.clone())),
    }
}

fn same_payload(got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let at = got.iter().zip(want).position(|(a, b)| a != b);
    Err(format!(
        "payload differs: got {:?}, expected {:?}, first difference at {}",
        P(got.to_vec()),
        P(want.to_vec()),
        at.map_or("the end".into(), |i| i.to_string())
    ))
}

/// Runs one case against our endpoint in role `ours`.
async fn run_case(case: Case, ours: Ours) -> Result<(), String> {
    let (peer, app) = open(ours, case.config.unwrap_or_default(), case.app).await;
    let mut run = Run {
        peer,
        ours,
        withheld: Vec::new(),
    };
    let mut steps = case.steps;
    if !matches!(steps.last(), Some(Close(_) | Fail(_))) {
        // Every case ends with a normal closing handshake started by the raw peer.
        steps.push(send([close(1000, "")]));
        steps.push(Close(Some(1000)));
    }
    for (i, step) in steps.iter().enumerate() {
        run.step(step)
            .await
            .map_err(|e| format!("step {i} {step:?}: {e}"))?;
    }
    let end = tokio::time::timeout(WAIT, app)
        .await
        .map_err(|_| "our application did not finish".to_string())?
        .map_err(|e| format!("our application panicked: {e}"))?;
    match (steps.last(), end) {
        (Some(Close(_)), Err(e)) => Err(format!("clean close, but our application saw {e}")),
        (Some(Fail(_)), Ok(())) => {
            Err("failed connection, but our application saw a clean end".into())
        }
        _ => Ok(()),
    }
}

/// Runs every case of a group in role `ours` (a few at a time); fails naming each failed case.
async fn run_group(group: &str, cases: Vec<Case>, ours: Ours) {
    let total = cases.len();
    let failures: Vec<String> = stream::iter(cases)
        .map(|case| async move {
            let id = case.id.clone();
            let run = tokio::spawn(tokio::time::timeout(CASE_WAIT, run_case(case, ours)));
            let result = match run.await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(format!("did not finish within {CASE_WAIT:?}")),
                Err(e) => Err(format!("panicked: {e}")),
            };
            result.err().map(|e| format!("{id} [{ours:?}]: {e}"))
        })
        .buffer_unordered(PARALLEL)
        .filter_map(|r| async move { r })
        .collect()
        .await;
    eprintln!(
        "{group} [{ours:?}]: {} of {total} cases passed",
        total - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{group} [{ours:?}]: {} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// 1 Framing
// ---------------------------------------------------------------------------------------------

const LENGTHS: [usize; 7] = [0, 125, 126, 127, 128, 65535, 65536];

fn size_name(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}m", n >> 20),
        n if n >= 4096 && n % 1024 == 0 => format!("{}k", n >> 10),
        n => n.to_string(),
    }
}

fn g1_framing() -> Vec<Case> {
    let mut cases = Vec::new();
    for (sub, name, op) in [(1, "text", 1u8), (2, "binary", 2)] {
        let fill = if op == 1 { b'*' } else { 0xfe };
        for (i, len) in LENGTHS.into_iter().enumerate() {
            let payload = vec![fill; len];
            cases.push(case(
                format!("c1_{sub}_{}_{name}_{}", i + 1, size_name(len)),
                vec![send([F::new(op, &payload)]), Echo(op, P(payload))],
            ));
        }
        // Autobahn 1.x.8: 64 KiB written in chops of 997 bytes.
        let payload = vec![fill; 65536];
        cases.push(case(
            format!("c1_{sub}_8_{name}_64k_chopped_997"),
            vec![
                Chop(vec![F::new(op, &payload)], 997, 0),
                Echo(op, P(payload)),
            ],
        ));
        // Extra: a short message written one byte at a time.
        cases.push(case(
            format!("c1_{sub}_9_{name}_130_chopped_1"),
            vec![
                Chop(vec![F::new(op, [fill; 130])], 1, 0),
                Echo(op, P(vec![fill; 130])),
            ],
        ));
        // Extra: several messages of the boundary lengths in one write, echoed in order.
        let all: Vec<F> = LENGTHS.iter().map(|&n| F::new(op, vec![fill; n])).collect();
        let mut steps = vec![Send(all)];
        steps.extend(LENGTHS.iter().map(|&n| Echo(op, P(vec![fill; n]))));
        cases.push(case(
            format!("c1_{sub}_10_{name}_all_lengths_in_one_write"),
            steps,
        ));
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// 2 Pings and pongs
// ---------------------------------------------------------------------------------------------

fn g2_pings() -> Vec<Case> {
    let binary = [0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff];
    let ten: Vec<String> = (0..10).map(|i| format!("payload-{i}")).collect();
    let mut ten_pongs: Vec<Step> = ten.iter().map(expect_pong).collect();
    let mut cases = vec![
        case("c2_1_ping_empty", vec![send([ping("")]), expect_pong("")]),
        case(
            "c2_2_ping_text",
            vec![send([ping("Hello, world!")]), expect_pong("Hello, world!")],
        ),
        case(
            "c2_3_ping_binary",
            vec![send([ping(binary)]), expect_pong(binary)],
        ),
        case(
            "c2_4_ping_125",
            vec![send([ping([0xfe; 125])]), expect_pong([0xfe; 125])],
        ),
        case(
            "c2_5_ping_126_fails",
            vec![send([ping([0xfe; 126])]), Fail(&[1002])],
        ),
        case(
            "c2_6_ping_125_chopped_1",
            vec![
                Chop(vec![ping([0xfe; 125])], 1, 1),
                expect_pong([0xfe; 125]),
            ],
        ),
        case(
            "c2_7_unsolicited_pong_empty",
            vec![send([pong("")]), Quiet(50)],
        ),
        case(
            "c2_8_unsolicited_pong_payload",
            vec![send([pong("unsolicited pong payload")]), Quiet(50)],
        ),
        case(
            "c2_9_unsolicited_pong_then_ping",
            vec![
                send([pong("unsolicited pong payload"), ping("ping payload")]),
                expect_pong("ping payload"),
            ],
        ),
    ];
    let mut steps = vec![send(ten.iter().map(ping))];
    steps.append(&mut ten_pongs.clone());
    cases.push(case("c2_10_ten_pings", steps));
    let mut steps = vec![Chop(ten.iter().map(ping).collect(), 1, 0)];
    steps.append(&mut ten_pongs);
    cases.push(case("c2_11_ten_pings_chopped_1", steps));
    // Extra: pings interleaved with messages are answered in order.
    cases.push(case(
        "c2_12_pings_between_messages",
        vec![
            send([text("a"), ping("1"), bin("b"), ping("2"), text("c")]),
            echo_text("a"),
            expect_pong("1"),
            echo_bin("b"),
            expect_pong("2"),
            echo_text("c"),
        ],
    ));
    // Extra: an oversize ping fails on its header, before its payload arrives.
    cases.push(case(
        "c2_13_ping_126_fails_on_the_header",
        vec![Prefix(ping([0xfe; 126]), 0), Fail(&[1002])],
    ));
    cases
}

// ---------------------------------------------------------------------------------------------
// 3 Reserved bits
// ---------------------------------------------------------------------------------------------

fn g3_reserved_bits() -> Vec<Case> {
    let mut cases = vec![
        case(
            "c3_1_text_rsv1",
            vec![send([text("Hello, world!").rsv(1)]), Fail(&[1002])],
        ),
        case(
            "c3_2_text_rsv2_after_valid_text",
            vec![
                send([
                    text("Hello, world!"),
                    text("Hello, world!").rsv(2),
                    ping(""),
                ]),
                echo_text("Hello, world!"),
                Fail(&[1002]),
            ],
        ),
        case(
            "c3_3_text_rsv3_framewise",
            vec![
                Frames(
                    vec![
                        text("Hello, world!"),
                        text("Hello, world!").rsv(3),
                        ping(""),
                    ],
                    1,
                ),
                echo_text("Hello, world!"),
                Fail(&[1002]),
            ],
        ),
        case(
            "c3_4_text_rsv4_octetwise",
            vec![
                Chop(
                    vec![
                        text("Hello, world!"),
                        text("Hello, world!").rsv(4),
                        ping(""),
                    ],
                    1,
                    0,
                ),
                echo_text("Hello, world!"),
                Fail(&[1002]),
            ],
        ),
        case(
            "c3_5_binary_rsv5",
            vec![send([bin([0xff; 8]).rsv(5)]), Fail(&[1002])],
        ),
        case(
            "c3_6_ping_rsv6",
            vec![send([ping("Hello, world!").rsv(6)]), Fail(&[1002])],
        ),
        case(
            "c3_7_close_rsv7",
            vec![send([close(1000, "").rsv(7)]), Fail(&[1002])],
        ),
    ];
    // Extra: each single RSV bit on each kind of frame, after a valid text that is echoed first.
    let kinds = [
        ("text", vec![text("bad")]),
        ("binary", vec![bin([1, 2, 3])]),
        ("ping", vec![ping("p")]),
        ("pong", vec![pong("p")]),
        ("close", vec![close(1000, "")]),
        ("continuation", vec![text("frag").more(), cont("ment")]),
    ];
    let mut n = 0;
    for (kind, frames) in kinds {
        for (bit, rsv) in [(1, 0b100), (2, 0b010), (3, 0b001)] {
            n += 1;
            let mut frames = frames.clone();
            let last = frames.len() - 1;
            frames[last].rsv = rsv;
            let mut all = vec![text("valid first")];
            all.extend(frames);
            cases.push(case(
                format!("c3_8_{n}_{kind}_rsv{bit}"),
                vec![Send(all), echo_text("valid first"), Fail(&[1002])],
            ));
        }
    }
    // Extra: reserved bits fail a frame on its header, before its payload arrives.
    cases.push(case(
        "c3_9_1_rsv1_fails_on_the_header",
        vec![Prefix(bin([0; 1000]).rsv(4), 0), Fail(&[1002])],
    ));
    cases
}

// ---------------------------------------------------------------------------------------------
// 4 Opcodes
// ---------------------------------------------------------------------------------------------

fn g4_opcodes() -> Vec<Case> {
    let mut cases = Vec::new();
    for (sub, ops) in [(1, 3u8..=7), (2, 11u8..=15)] {
        for (i, op) in ops.enumerate() {
            // Autobahn sends x.1 empty and the others with a payload and a ping after.
            let payload: &[u8] = if i == 0 { b"" } else { b"reserved opcode" };
            cases.push(case(
                format!("c4_{sub}_{}_opcode_{op}", i + 1),
                vec![
                    send([text("Hello, world!"), F::new(op, payload), ping("")]),
                    echo_text("Hello, world!"),
                    Fail(&[1002]),
                ],
            ));
        }
    }
    // Extra: a reserved opcode in the middle of a fragmented message.
    cases.push(case(
        "c4_3_1_reserved_opcode_between_fragments",
        vec![
            send([text("frag").more(), F::new(3, "x"), cont("ment")]),
            Fail(&[1002]),
        ],
    ));
    cases.push(case(
        "c4_3_2_reserved_opcode_fails_on_the_header",
        vec![Prefix(F::new(4, [0; 1000]), 0), Fail(&[1002])],
    ));
    cases
}

// ---------------------------------------------------------------------------------------------
// 5 Fragmentation
// ---------------------------------------------------------------------------------------------

fn g5_fragmentation() -> Vec<Case> {
    let two = || vec![text("fragment1").more(), cont("fragment2")];
    let two_ping = || {
        vec![
            text("fragment1").more(),
            ping("ping payload"),
            cont("fragment2"),
        ]
    };
    let whole = "fragment1fragment2";
    // The 5.9–5.11 / 5.12–5.14 preludes: a stray continuation, then a valid message and a ping.
    let stray = |fin: bool| {
        let c = cont("non-continuation payload");
        vec![
            if fin { c } else { c.more() },
            text("Hello, world!").more(),
            cont("Hello, world!"),
            ping(""),
        ]
    };
    let mut cases = vec![
        case(
            "c5_1_ping_in_2_fragments",
            vec![
                send([ping("fragment1").more(), cont("fragment2")]),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_2_pong_in_2_fragments",
            vec![
                send([pong("fragment1").more(), cont("fragment2")]),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_3_text_in_2_fragments",
            vec![Send(two()), echo_text(whole)],
        ),
        case(
            "c5_4_text_in_2_fragments_octetwise",
            vec![Chop(two(), 1, 0), echo_text(whole)],
        ),
        case(
            "c5_5_text_in_2_fragments_framewise",
            vec![Frames(two(), 20), echo_text(whole)],
        ),
        case(
            "c5_6_text_in_2_fragments_ping_between",
            vec![
                Send(two_ping()),
                expect_pong("ping payload"),
                echo_text(whole),
            ],
        ),
        case(
            "c5_7_text_in_2_fragments_ping_between_octetwise",
            vec![
                Chop(two_ping(), 1, 0),
                expect_pong("ping payload"),
                echo_text(whole),
            ],
        ),
        case(
            "c5_8_text_in_2_fragments_ping_between_framewise",
            vec![
                Frames(two_ping(), 20),
                expect_pong("ping payload"),
                echo_text(whole),
            ],
        ),
        case(
            "c5_9_stray_continuation_fin",
            vec![Send(stray(true)), Fail(&[1002])],
        ),
        case(
            "c5_10_stray_continuation_fin_framewise",
            vec![Frames(stray(true), 5), Fail(&[1002])],
        ),
        case(
            "c5_11_stray_continuation_fin_octetwise",
            vec![Chop(stray(true), 1, 0), Fail(&[1002])],
        ),
        case(
            "c5_12_stray_continuation_nofin",
            vec![Send(stray(false)), Fail(&[1002])],
        ),
        case(
            "c5_13_stray_continuation_nofin_framewise",
            vec![Frames(stray(false), 5), Fail(&[1002])],
        ),
        case(
            "c5_14_stray_continuation_nofin_octetwise",
            vec![Chop(stray(false), 1, 0), Fail(&[1002])],
        ),
        case(
            "c5_15_message_then_stray_continuation",
            vec![
                send([
                    text("fragment1").more(),
                    cont("fragment2"),
                    cont("fragment3").more(),
                    text("fragment4"),
                ]),
                echo_text(whole),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_16_stray_continuation_twice",
            vec![
                send([
                    cont("fragment1").more(),
                    text("fragment2").more(),
                    cont("fragment3"),
                    cont("fragment1").more(),
                    text("fragment2").more(),
                    cont("fragment3"),
                ]),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_17_stray_final_continuation_twice",
            vec![
                send([
                    cont("fragment1"),
                    text("fragment2").more(),
                    cont("fragment3"),
                    cont("fragment1"),
                    text("fragment2").more(),
                    cont("fragment3"),
                ]),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_18_text_then_new_text_instead_of_continuation",
            vec![
                send([text("fragment1").more(), text("fragment2")]),
                Fail(&[1002]),
            ],
        ),
    ];
    // 5.19/5.20: five fragments with two pings, and a pause in the middle (1 s in Autobahn).
    let five = |framewise: bool| {
        let first = vec![
            text("fragment1").more(),
            cont("fragment2").more(),
            ping("pongme 1!"),
        ];
        let second = vec![
            cont("fragment3").more(),
            cont("fragment4").more(),
            ping("pongme 2!"),
        ];
        let third = vec![cont("fragment5")];
        let s = |v: Vec<F>| if framewise { Frames(v, 10) } else { Send(v) };
        vec![
            s(first),
            expect_pong("pongme 1!"),
            Pause(200),
            s(second),
            expect_pong("pongme 2!"),
            s(third),
            echo_text("fragment1fragment2fragment3fragment4fragment5"),
        ]
    };
    cases.push(case("c5_19_five_fragments_two_pings", five(false)));
    cases.push(case("c5_20_five_fragments_two_pings_framewise", five(true)));
    // Extras.
    let hello = "Hello, fragmented world!";
    cases.extend([
        case(
            "c5_21_text_in_1_byte_fragments",
            vec![Send(fragments(1, hello.as_bytes(), 1)), echo_text(hello)],
        ),
        case(
            "c5_22_binary_in_1_byte_fragments",
            vec![Send(fragments(2, &[0xfe; 40], 1)), echo_bin([0xfe; 40])],
        ),
        case("c5_23_text_in_200_fragments_with_pings", {
            let payload: Vec<u8> = (0..1000).map(|i| b'a' + (i % 26) as u8).collect();
            let mut frames = fragments(1, &payload, 5);
            for k in (10..200).step_by(10).rev() {
                frames.insert(k, ping(format!("p{k}")));
            }
            let mut steps = vec![Send(frames)];
            steps.extend((10..200).step_by(10).map(|k| expect_pong(format!("p{k}"))));
            steps.push(echo_text(payload));
            steps
        }),
        case(
            "c5_24_empty_fragments",
            vec![
                send([
                    text("").more(),
                    cont("").more(),
                    cont("middle").more(),
                    cont("").more(),
                    cont(""),
                ]),
                echo_text("middle"),
            ],
        ),
        case(
            "c5_25_all_fragments_empty",
            vec![
                send([bin("").more(), cont("").more(), cont("")]),
                echo_bin(""),
            ],
        ),
        case(
            "c5_26_close_in_2_fragments",
            vec![
                send([F::new(8, [0x03]).more(), cont([0xe8])]),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_27_binary_then_new_binary_instead_of_continuation",
            vec![send([bin("a").more(), bin("b")]), Fail(&[1002])],
        ),
        case(
            "c5_28_two_fragmented_messages_back_to_back",
            vec![
                send([
                    text("ab").more(),
                    cont("cd"),
                    bin([1]).more(),
                    cont([2]).more(),
                    cont([3]),
                ]),
                echo_text("abcd"),
                echo_bin([1, 2, 3]),
            ],
        ),
        case(
            "c5_29_close_between_fragments_ends_without_echo",
            vec![
                send([text("frag").more(), close(1000, ""), cont("ment")]),
                Close(Some(1000)),
            ],
        ),
        case(
            "c5_30_stray_continuation_fails_on_the_header",
            vec![Prefix(cont([b'x'; 1000]), 0), Fail(&[1002])],
        ),
        case(
            "c5_31_new_message_during_fragments_fails_on_the_header",
            vec![
                send([text("frag").more()]),
                Prefix(text([b'x'; 1000]), 0),
                Fail(&[1002]),
            ],
        ),
    ]);
    cases
}

// ---------------------------------------------------------------------------------------------
// 6 UTF-8
// ---------------------------------------------------------------------------------------------

/// "κόσμε" as in Autobahn and Markus Kuhn's test file, with U+1F79 (three bytes) for the ό.
const KOSME: &str = "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}";

/// Valid UTF-8 (Markus Kuhn's test, Autobahn 6.2–6.23): `(case number, name, bytes)`.
fn valid_utf8() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("6_2_1", "hello", "Hello-µ@ßöäüàá-UTF-8!!".into()),
        ("6_5_1", "kosme", KOSME.into()),
        ("6_7_1", "u0000", vec![0x00]),
        ("6_7_2", "u0080", vec![0xc2, 0x80]),
        ("6_7_3", "u0800", vec![0xe0, 0xa0, 0x80]),
        ("6_7_4", "u10000", vec![0xf0, 0x90, 0x80, 0x80]),
        ("6_9_1", "u007f", vec![0x7f]),
        ("6_9_2", "u07ff", vec![0xdf, 0xbf]),
        ("6_9_3", "uffff", vec![0xef, 0xbf, 0xbf]),
        ("6_9_4", "u10ffff", vec![0xf4, 0x8f, 0xbf, 0xbf]),
        ("6_11_1", "ud7ff", vec![0xed, 0x9f, 0xbf]),
        ("6_11_2", "ue000", vec![0xee, 0x80, 0x80]),
        ("6_11_3", "ufffd", vec![0xef, 0xbf, 0xbd]),
        ("6_22_1", "ufffe_nonchar", vec![0xef, 0xbf, 0xbe]),
        ("6_22_2", "ufdd0_nonchar", vec![0xef, 0xb7, 0x90]),
        ("6_22_3", "u1fffe_nonchar", vec![0xf0, 0x9f, 0xbf, 0xbe]),
        ("6_22_4", "u10fffe_nonchar", vec![0xf4, 0x8f, 0xbf, 0xbe]),
        (
            "6_23_1",
            "mixed",
            "a\u{7f}\u{80}é\u{7ff}\u{800}€\u{ffff}\u{10000}😀\u{10ffff}z".into(),
        ),
    ]
}

/// Invalid UTF-8 (Autobahn 6.3–6.21): `(case number, name, bytes)`.
fn invalid_utf8() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let kosme = |bad: &[u8]| [KOSME.as_bytes(), bad, b"edited"].concat();
    vec![
        ("6_3_1", "surrogate_in_text", kosme(&[0xed, 0xa0, 0x80])),
        (
            "6_6_1",
            "kosme_prefix_cut",
            KOSME.as_bytes()[..KOSME.len() - 1].to_vec(),
        ),
        (
            "6_8_1",
            "five_byte_form",
            vec![0xf8, 0x88, 0x80, 0x80, 0x80],
        ),
        (
            "6_8_2",
            "six_byte_form",
            vec![0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
        ),
        ("6_10_1", "u1fffff_4_bytes", vec![0xf7, 0xbf, 0xbf, 0xbf]),
        (
            "6_10_2",
            "five_byte_max",
            vec![0xfb, 0xbf, 0xbf, 0xbf, 0xbf],
        ),
        (
            "6_10_3",
            "six_byte_max",
            vec![0xfd, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf],
        ),
        ("6_11_5", "u110000", vec![0xf4, 0x90, 0x80, 0x80]),
        ("6_12_1", "lone_continuation_80", vec![0x80]),
        ("6_12_2", "lone_continuation_bf", vec![0xbf]),
        ("6_12_3", "continuations_80_bf", vec![0x80, 0xbf]),
        ("6_12_8", "all_continuations", (0x80..=0xbf).collect()),
        ("6_13_1", "lonely_start_c0", vec![0xc0, 0x20]),
        ("6_13_2", "lonely_start_e0", vec![0xe0, 0x20]),
        ("6_13_3", "lonely_start_f0", vec![0xf0, 0x20]),
        ("6_14_1", "truncated_c2_at_end", vec![b'a', 0xc2]),
        ("6_14_2", "truncated_e0a0_at_end", vec![b'a', 0xe0, 0xa0]),
        (
            "6_14_3",
            "truncated_f09080_at_end",
            vec![b'a', 0xf0, 0x90, 0x80],
        ),
        ("6_14_4", "truncated_df_at_end", vec![0xdf]),
        ("6_14_5", "truncated_efbf_at_end", vec![0xef, 0xbf]),
        ("6_14_6", "truncated_f48fbf_at_end", vec![0xf4, 0x8f, 0xbf]),
        (
            "6_14_7",
            "truncated_euro_at_end",
            vec![b'a', b'b', 0xe2, 0x82],
        ),
        (
            "6_15_1",
            "concatenated_truncated",
            vec![
                0xc0, 0xe0, 0x80, 0xf0, 0x80, 0x80, 0xf8, 0x80, 0x80, 0x80, 0xfc, 0x80, 0x80, 0x80,
                0x80, 0xdf, 0xef, 0xbf, 0xf7, 0xbf, 0xbf,
            ],
        ),
        ("6_16_1", "byte_fe", vec![0xfe]),
        ("6_16_2", "byte_ff", vec![0xff]),
        ("6_16_3", "bytes_fefeffff", vec![0xfe, 0xfe, 0xff, 0xff]),
        ("6_17_1", "overlong_slash_2", vec![0xc0, 0xaf]),
        ("6_17_2", "overlong_slash_3", vec![0xe0, 0x80, 0xaf]),
        ("6_17_3", "overlong_slash_4", vec![0xf0, 0x80, 0x80, 0xaf]),
        (
            "6_17_4",
            "overlong_slash_5",
            vec![0xf8, 0x80, 0x80, 0x80, 0xaf],
        ),
        ("6_18_1", "max_overlong_2", vec![0xc1, 0xbf]),
        ("6_18_2", "max_overlong_3", vec![0xe0, 0x9f, 0xbf]),
        ("6_18_3", "max_overlong_4", vec![0xf0, 0x8f, 0xbf, 0xbf]),
        ("6_19_1", "overlong_nul_2", vec![0xc0, 0x80]),
        ("6_19_2", "overlong_nul_3", vec![0xe0, 0x80, 0x80]),
        ("6_19_3", "overlong_nul_4", vec![0xf0, 0x80, 0x80, 0x80]),
        (
            "6_19_4",
            "overlong_nul_5",
            vec![0xf8, 0x80, 0x80, 0x80, 0x80],
        ),
        (
            "6_19_5",
            "overlong_nul_6",
            vec![0xfc, 0x80, 0x80, 0x80, 0x80, 0x80],
        ),
        ("6_20_1", "surrogate_d800", vec![0xed, 0xa0, 0x80]),
        ("6_20_2", "surrogate_db7f", vec![0xed, 0xad, 0xbf]),
        ("6_20_3", "surrogate_db80", vec![0xed, 0xae, 0x80]),
        ("6_20_4", "surrogate_dbff", vec![0xed, 0xaf, 0xbf]),
        ("6_20_5", "surrogate_dc00", vec![0xed, 0xb0, 0x80]),
        ("6_20_6", "surrogate_df80", vec![0xed, 0xbe, 0x80]),
        ("6_20_7", "surrogate_dfff", vec![0xed, 0xbf, 0xbf]),
        (
            "6_21_1",
            "surrogate_pair_first",
            vec![0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80],
        ),
        (
            "6_21_8",
            "surrogate_pair_last",
            vec![0xed, 0xaf, 0xbf, 0xed, 0xbf, 0xbf],
        ),
    ]
}

fn g6_utf8() -> Vec<Case> {
    let mut cases = vec![
        case("c6_1_1_empty_text", vec![send([text("")]), echo_text("")]),
        case(
            "c6_1_2_empty_text_in_3_fragments",
            vec![
                send([text("").more(), cont("").more(), cont("")]),
                echo_text(""),
            ],
        ),
        case(
            "c6_1_3_text_with_empty_first_and_last_fragments",
            vec![
                send([
                    text("").more(),
                    cont("middle frame payload").more(),
                    cont(""),
                ]),
                echo_text("middle frame payload"),
            ],
        ),
        // 6.2.2: split at code point boundaries; 6.2.3/6.2.4: split inside code points.
        case(
            "c6_2_2_hello_in_2_fragments_at_a_boundary",
            vec![
                send([text("Hello-µ@ßöä").more(), cont("üàá-UTF-8!!")]),
                echo_text("Hello-µ@ßöäüàá-UTF-8!!"),
            ],
        ),
        case(
            "c6_2_4_kosme_fragments_inside_code_points",
            vec![
                send([
                    text([0xce]).more(),
                    cont([0xba, 0xe1]).more(),
                    cont([0xbd]).more(),
                    cont(&KOSME.as_bytes()[4..]),
                ]),
                echo_text(KOSME),
            ],
        ),
    ];
    for (n, name, bytes) in valid_utf8() {
        cases.push(case(
            format!("c{n}_{name}_whole"),
            vec![send([text(&bytes)]), echo_text(&bytes)],
        ));
        cases.push(case(
            format!("c{n}_{name}_1_byte_fragments"),
            vec![Send(fragments(1, &bytes, 1)), echo_text(&bytes)],
        ));
        cases.push(case(
            format!("c{n}_{name}_chopped_1"),
            vec![Chop(vec![text(&bytes)], 1, 0), echo_text(&bytes)],
        ));
    }
    for (n, name, bytes) in invalid_utf8() {
        cases.push(case(
            format!("c{n}_{name}_whole"),
            vec![send([text(&bytes)]), Fail(&[1007])],
        ));
        cases.push(case(
            format!("c{n}_{name}_1_byte_fragments"),
            vec![Send(fragments(1, &bytes, 1)), Fail(&[1007])],
        ));
        // After a valid text, which must be echoed first.
        cases.push(case(
            format!("c{n}_{name}_after_valid_text"),
            vec![
                send([text(KOSME), text(&bytes)]),
                echo_text(KOSME),
                Fail(&[1007]),
            ],
        ));
    }
    // 6.4: fail fast. The invalid sequence arrives while the rest of the message is withheld;
    // our side must close with 1007 without waiting for it.
    let kosme = KOSME.as_bytes();
    let frame = [kosme, &[0xf4, 0x90, 0x80, 0x80], b"edited"].concat();
    cases.extend([
        case(
            "c6_4_1_fail_fast_on_fragment_with_u110000",
            vec![
                send([text(kosme).more()]),
                Pause(50),
                send([cont([0xf4, 0x90, 0x80, 0x80]).more()]),
                // The final fragment (`cont("edited")`) is never sent.
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_2_fail_fast_on_fragment_after_f4",
            vec![
                send([text(kosme).more()]),
                Pause(50),
                send([cont([0xf4]).more()]),
                Pause(50),
                send([cont([0x90, 0x80, 0x80]).more()]),
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_3_fail_fast_mid_frame",
            vec![
                Prefix(text(&frame), kosme.len()),
                Pause(50),
                More(4),
                // The last 6 bytes of the frame are withheld.
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_4_fail_fast_mid_frame_one_byte_past",
            vec![
                Prefix(text(&frame), kosme.len()),
                Pause(50),
                More(1),
                Pause(50),
                More(1),
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_5_fail_fast_mid_frame_ff",
            vec![
                Prefix(text([b"ab".as_slice(), &[0xff], &[b'c'; 200]].concat()), 3),
                Fail(&[1007]),
            ],
        ),
        // A code point split around a ping: the ping's payload is not text.
        case(
            "c6_4_6_ping_payload_does_not_complete_a_split_code_point",
            vec![
                send([text([0xce]).more(), ping([0xba]), cont("x")]),
                expect_pong([0xba]),
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_7_code_point_split_around_a_ping",
            vec![
                send([text([0xce]).more(), ping([0xff]), cont([0xba])]),
                expect_pong([0xff]),
                echo_text("\u{3ba}"),
            ],
        ),
        case(
            "c6_4_8_invalid_utf8_in_the_third_fragment_with_the_rest_withheld",
            vec![
                send([text("ab").more(), cont([0xe2, 0x82]).more()]),
                Prefix(
                    cont([[0xac, b'c', 0xc0].as_slice(), &[b'd'; 100]].concat()),
                    3,
                ),
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_9_binary_is_not_utf8_checked",
            vec![
                send([bin([0xc0, 0x80, 0xff, 0xed, 0xa0, 0x80])]),
                echo_bin([0xc0, 0x80, 0xff, 0xed, 0xa0, 0x80]),
            ],
        ),
    ]);
    cases
}

// ---------------------------------------------------------------------------------------------
// 7 Close
// ---------------------------------------------------------------------------------------------

fn g7_close() -> Vec<Case> {
    let reason = "Hello World!";
    let mut cases = vec![
        case(
            "c7_1_1_text_then_close",
            vec![
                send([text("Hello World!"), close(1000, "")]),
                echo_text("Hello World!"),
                Close(Some(1000)),
            ],
        ),
        case(
            "c7_1_2_two_closes",
            vec![send([close(1000, ""), close(1000, "")]), Close(Some(1000))],
        ),
        case(
            "c7_1_3_ping_after_close_not_answered",
            vec![
                send([close(1000, ""), ping("Hello World!")]),
                Close(Some(1000)),
            ],
        ),
        case(
            "c7_1_4_text_after_close_ignored",
            vec![
                send([close(1000, ""), text("Hello World!")]),
                Close(Some(1000)),
            ],
        ),
        case(
            "c7_1_5_close_between_fragments",
            vec![
                send([text("fragment1").more(), close(1000, ""), cont("fragment2")]),
                Close(Some(1000)),
            ],
        ),
        case("c7_1_6_256k_text_then_close_then_ping", {
            let big = vec![b'B'; 256 << 10];
            vec![
                send([text(&big), close(1000, ""), ping("Hello World!")]),
                echo_text(big),
                Close(Some(1000)),
            ]
        }),
        case(
            "c7_3_1_close_empty",
            vec![send([F::new(8, [])]), Close(None)],
        ),
        case(
            "c7_3_2_close_1_byte",
            vec![send([F::new(8, [b'a'])]), Fail(&[1002])],
        ),
        case(
            "c7_3_3_close_1000_no_reason",
            vec![send([close(1000, "")]), Close(Some(1000))],
        ),
        case(
            "c7_3_4_close_1000_reason",
            vec![send([close(1000, reason)]), Close(Some(1000))],
        ),
        case(
            "c7_3_5_close_1000_reason_123",
            vec![send([close(1000, [b'*'; 123])]), Close(Some(1000))],
        ),
        case(
            "c7_3_6_close_1000_reason_124",
            vec![send([close(1000, [b'*'; 124])]), Fail(&[1002])],
        ),
        case(
            "c7_5_1_close_reason_invalid_utf8",
            vec![
                send([close(
                    1000,
                    [KOSME.as_bytes(), &[0xed, 0xa0, 0x80], b"edited"].concat(),
                )]),
                Fail(&[1007]),
            ],
        ),
        case(
            "c7_5_2_close_reason_truncated_utf8",
            vec![send([close(1000, [b'a', 0xe2, 0x82])]), Fail(&[1007])],
        ),
        case(
            "c7_5_3_close_reason_multibyte_utf8_valid",
            vec![send([close(1001, "κόσμε 😀")]), Close(Some(1001))],
        ),
        // The close reason is checked on its own, not as part of an unfinished text message.
        case(
            "c7_5_4_close_reason_checked_apart_from_a_split_code_point",
            vec![
                send([text([0xce]).more(), close(1000, "\u{e9}")]),
                Close(Some(1000)),
            ],
        ),
        case(
            "c7_1_7_close_chopped_1",
            vec![Chop(vec![close(1000, reason)], 1, 1), Close(Some(1000))],
        ),
        case(
            "c7_1_8_close_after_ping_and_message",
            vec![
                send([ping("p"), text("m"), close(3000, "bye")]),
                expect_pong("p"),
                echo_text("m"),
                Close(Some(3000)),
            ],
        ),
    ];
    let valid = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ];
    for (i, code) in valid.into_iter().enumerate() {
        cases.push(case(
            format!("c7_7_{}_close_code_{code}", i + 1),
            vec![send([close(code, reason)]), Close(Some(code))],
        ));
    }
    // Extra: registered after RFC 6455 (IANA), valid on the wire.
    for (i, code) in [1012, 1013, 1014].into_iter().enumerate() {
        cases.push(case(
            format!("c7_8_{}_close_code_{code}", i + 1),
            vec![send([close(code, reason)]), Close(Some(code))],
        ));
    }
    let invalid = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];
    for (i, code) in invalid.into_iter().enumerate() {
        cases.push(case(
            format!("c7_9_{}_close_code_{code}", i + 1),
            vec![send([close(code, reason)]), Fail(&[1002])],
        ));
    }
    for (i, code) in [5000, 65535, 1015].into_iter().enumerate() {
        cases.push(case(
            format!("c7_13_{}_close_code_{code}", i + 1),
            vec![send([close(code, reason)]), Fail(&[1002])],
        ));
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// 9 Limits and performance (scaled down; no timing assertions)
// ---------------------------------------------------------------------------------------------

fn g9_limits() -> Vec<Case> {
    let mib = 1 << 20;
    let text_1m: Vec<u8> = (0..mib).map(|i| b'a' + (i % 26) as u8).collect();
    let bin_1m: Vec<u8> = (0..mib).map(|i| (i * 7 % 251) as u8).collect();
    let mut cases = vec![
        case(
            "c9_1_3_text_1m",
            vec![send([text(&text_1m)]), echo_text(&text_1m)],
        ),
        case(
            "c9_2_3_binary_1m",
            vec![send([bin(&bin_1m)]), echo_bin(&bin_1m)],
        ),
        // Autobahn 9.2.6: the largest message its defaults (and ours) allow in one frame.
        case(
            "c9_2_6_binary_16m",
            vec![
                send([bin(vec![0xfe; 16 * mib])]),
                echo_bin(vec![0xfe; 16 * mib]),
            ],
        ),
        case(
            "c9_3_1_text_1m_in_64_byte_fragments",
            vec![Send(fragments(1, &text_1m, 64)), echo_text(&text_1m)],
        ),
        case(
            "c9_3_4_text_1m_in_4k_fragments",
            vec![Send(fragments(1, &text_1m, 4096)), echo_text(&text_1m)],
        ),
        case(
            "c9_4_1_binary_1m_in_64_byte_fragments",
            vec![Send(fragments(2, &bin_1m, 64)), echo_bin(&bin_1m)],
        ),
        case(
            "c9_4_4_binary_1m_in_4k_fragments",
            vec![Send(fragments(2, &bin_1m, 4096)), echo_bin(&bin_1m)],
        ),
        case(
            "c9_5_1_text_1m_chopped_64",
            vec![Chop(vec![text(&text_1m)], 64, 0), echo_text(&text_1m)],
        ),
        case(
            "c9_6_4_binary_1m_chopped_4k",
            vec![Chop(vec![bin(&bin_1m)], 4096, 0), echo_bin(&bin_1m)],
        ),
    ];
    // 9.7/9.8: 1000 messages, here pipelined in one write; all echoed in order.
    for (id, op, size) in [
        ("c9_7_2_1000_texts_of_16", 1u8, 16usize),
        ("c9_8_3_1000_binaries_of_64", 2, 64),
    ] {
        let msgs: Vec<Vec<u8>> = (0..1000)
            .map(|i| {
                let mut m = format!("{i:06}").into_bytes();
                m.resize(size, b'.');
                m
            })
            .collect();
        let mut steps = vec![Send(msgs.iter().map(|m| F::new(op, m)).collect())];
        steps.extend(msgs.into_iter().map(|m| Echo(op, P(m))));
        cases.push(case(id, steps));
    }
    // Extra: max_message_size on the endpoint under test.
    let small = || {
        let mut c = Config::default();
        c.max_message_size = 1000;
        c
    };
    cases.extend([
        case(
            "c9_9_1_message_at_max_message_size",
            vec![send([bin([1; 1000])]), echo_bin([1; 1000])],
        )
        .config(small()),
        case(
            "c9_9_2_message_over_max_message_size",
            vec![send([bin([1; 1001])]), Fail(&[1009])],
        )
        .config(small()),
        case(
            "c9_9_3_text_over_max_message_size",
            vec![
                send([text("ok"), text([b'x'; 1001])]),
                echo_text("ok"),
                Fail(&[1009]),
            ],
        )
        .config(small()),
        case(
            "c9_9_4_fragmented_message_over_max_message_size",
            vec![send([bin([1; 600]).more(), cont([2; 401])]), Fail(&[1009])],
        )
        .config(small()),
        case(
            "c9_9_5_fragments_at_max_message_size",
            vec![
                send([bin([1; 600]).more(), cont([2; 400])]),
                echo_bin([[1; 600].as_slice(), &[2; 400]].concat()),
            ],
        )
        .config(small()),
        // The limit is enforced on a frame header, before its payload arrives.
        case(
            "c9_9_6_over_max_message_size_fails_on_the_header",
            vec![Prefix(bin([1; 1001]), 0), Fail(&[1009])],
        )
        .config(small()),
        case(
            "c9_9_7_fragment_over_max_message_size_fails_on_its_header",
            vec![
                send([bin([1; 600]).more()]),
                Prefix(cont([2; 401]), 0),
                Fail(&[1009]),
            ],
        )
        .config(small()),
    ]);
    cases
}

// ---------------------------------------------------------------------------------------------
// 10 Miscellaneous: auto-fragmentation
// ---------------------------------------------------------------------------------------------

fn g10_misc() -> Vec<Case> {
    let payload: Vec<u8> = (0..65536).map(|i| b'a' + (i % 26) as u8).collect();
    let frags = fragments(1, &payload, 1300);
    let ours_writes: Vec<Message> = fragments(2, &[7; 65536], 4096)
        .into_iter()
        .map(|f| Message {
            fin: f.fin,
            opcode: if f.op == 0 {
                coro_websocket::Opcode::Continuation
            } else {
                coro_websocket::Opcode::Binary
            },
            len: f.payload.0.len(),
            payload: f.payload.0.into(),
            ..Message::default()
        })
        .collect();
    vec![
        // Autobahn 10.1.1: 64 KiB, auto-fragmented in 1300-byte frames by the peer.
        case(
            "c10_1_1_text_64k_in_1300_byte_fragments",
            vec![Send(frags.clone()), echo_text(&payload)],
        ),
        // Our writer sends the fragments our application writes (fin = false frames) as they are.
        case(
            "c10_1_2_fragments_echoed_frame_by_frame",
            vec![Send(frags.clone()), EchoFrames(frags)],
        )
        .app(App::FrameEcho),
        case(
            "c10_1_3_our_application_writes_16_fragments",
            vec![
                EchoFrames(fragments(2, &[7; 65536], 4096)),
                send([text("after")]),
                echo_text("after"),
            ],
        )
        .app(App::Push(ours_writes.clone())),
        case(
            "c10_1_4_our_fragments_reassembled",
            vec![echo_bin([7; 65536])],
        )
        .app(App::Push(ours_writes)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

macro_rules! groups {
    ($($group:ident),* $(,)?) => {$(
        mod $group {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn server() {
                run_group(stringify!($group), super::$group(), Ours::Server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn client() {
                run_group(stringify!($group), super::$group(), Ours::Client).await;
            }
        }
    )*

        /// Every id is unique and names its Autobahn section.
        #[test]
        fn case_ids_are_unique_and_numbered() {
            let mut seen = std::collections::HashSet::new();
            for (group, cases) in [$((stringify!($group), $group())),*] {
                let section = group.split('_').next().unwrap().trim_start_matches('g');
                for c in cases {
                    assert!(c.id.starts_with(&format!("c{section}_")), "{group}: {}", c.id);
                    assert!(seen.insert(c.id.clone()), "duplicate case id {}", c.id);
                }
            }
        }
    };
}

groups!(
    g1_framing,
    g2_pings,
    g3_reserved_bits,
    g4_opcodes,
    g5_fragmentation,
    g6_utf8,
    g7_close,
    g9_limits,
    g10_misc,
);
