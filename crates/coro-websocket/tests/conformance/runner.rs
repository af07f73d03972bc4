//! Running a case: our endpoint (server or client, with its application) on one end of a real
//! `127.0.0.1` connection, the raw peer playing the script on the other, and the group runner
//! that runs a section's cases a few at a time and names every failure.

use std::time::Duration;

use coro_websocket::{accept, connect, Config, Message, Options, Reader, ServerOptions, Writer};
use futures_util::stream::{self, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::h2::{raw_client_h2, raw_server_h2};
use crate::common::*;
use crate::script::*;

/// How long the raw peer waits for any one thing; only a failing case waits this long.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long one whole case may take.
pub const CASE_WAIT: Duration = Duration::from_secs(90);
/// How many cases of a group run at the same time (each on its own connection).
pub const PARALLEL: usize = 4;

/// Which end of the connection is ours (the other end is the raw peer), and over what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ours {
    Server,
    Client,
    /// Our server inside a hyper HTTP/2 connection (`upgrade`), the raw peer one stream of it
    /// (RFC 8441).
    ServerOverHttp2,
    /// Our client over HTTP/2 (`Http::Http2`), the raw peer a bare h2 server's stream.
    ClientOverHttp2,
}

impl Ours {
    fn is_client(self) -> bool {
        matches!(self, Ours::Client | Ours::ClientOverHttp2)
    }
}

/// The raw peer's byte stream: TCP, or one HTTP/2 stream.
pub type Stream = Box<dyn AsyncStream>;

pub trait AsyncStream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + std::marker::Send + Unpin
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + std::marker::Send + Unpin> AsyncStream
    for T
{
}

fn boxed<S: AsyncStream + 'static>(peer: RawPeer<S>) -> RawPeer<Stream> {
    RawPeer {
        tcp: Box::new(peer.tcp),
        buf: peer.buf,
        client: peer.client,
    }
}

/// Our application's side: `Ok` if its reader ended cleanly, `Err` with what it saw otherwise.
pub async fn run_app(app: App, mut read: Reader, mut write: Writer) -> Result<(), String> {
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
pub async fn open(
    ours: Ours,
    config: Config,
    app: App,
) -> (RawPeer<Stream>, tokio::task::JoinHandle<Result<(), String>>) {
    match ours {
        Ours::ServerOverHttp2 => return open_server_h2(config, app).await,
        Ours::ClientOverHttp2 => return open_client_h2(config, app).await,
        Ours::Server | Ours::Client => {}
    }
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
        Ours::ServerOverHttp2 | Ours::ClientOverHttp2 => unreachable!("opened above"),
    };
    peer.tcp.set_nodelay(true).unwrap();
    (boxed(peer), task)
}

/// Our server over HTTP/2: a hyper connection announcing extended CONNECT, with the WebSocket
/// answered by `upgrade` and run by `app`; the raw peer opens one stream by hand.
async fn open_server_h2(
    config: Config,
    app: App,
) -> (RawPeer<Stream>, tokio::task::JoinHandle<Result<(), String>>) {
    use coro_websocket::upgrade;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let (l, addr) = listener().await;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let app = std::sync::Mutex::new(Some((app, done_tx)));
        let service = hyper::service::service_fn(move |mut req| {
            let taken = app.lock().unwrap().take();
            let options = ServerOptions {
                config: config.clone(),
                ..Default::default()
            };
            async move {
                let (app, done) = taken.expect("one WebSocket per case");
                let Ok((response, upgrade)) = upgrade::upgrade(&mut req, options) else {
                    panic!("the raw peer's request was refused");
                };
                tokio::spawn(async move {
                    let result = match upgrade.await {
                        Ok((_req, read, write)) => run_app(app, read, write).await,
                        Err(e) => Err(format!("handshake: {e:?}")),
                    };
                    let _ = done.send(result);
                });
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .enable_connect_protocol()
            .serve_connection(TokioIo::new(tcp), service)
            .await;
    });
    let peer = raw_client_h2(addr).await;
    let task = tokio::spawn(async move {
        done_rx
            .await
            .unwrap_or_else(|_| Err("our server never ran".into()))
    });
    (boxed(peer), task)
}

/// Our client over HTTP/2 to a bare h2 server, whose first WebSocket stream is the raw peer.
async fn open_client_h2(
    config: Config,
    app: App,
) -> (RawPeer<Stream>, tokio::task::JoinHandle<Result<(), String>>) {
    let (addr, raw) = raw_server_h2().await;
    let task = tokio::spawn(async move {
        let (_res, read, write) = connect(Options {
            host: Some("127.0.0.1".into()),
            port: Some(addr.port()),
            http: coro_websocket::Http::Http2,
            config,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("handshake: {e:?}"))?;
        run_app(app, read, write).await
    });
    let peer = tokio::time::timeout(WAIT, raw)
        .await
        .expect("the client never connected")
        .unwrap();
    (boxed(peer), task)
}

/// The raw peer's end of one running case.
pub struct Run {
    peer: RawPeer<Stream>,
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
                if f.masked != self.ours.is_client() {
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
                match self.ours.is_client() {
                    // RFC 6455 §7.1.1: the server closes TCP first (over HTTP/2, ends its
                    // stream: RFC 8441 §5)...
                    false => self.eof().await?,
                    // ...and the client waits for it.
                    true => {
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

pub async fn pause(ms: u64) {
    if ms == 0 {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

pub fn valid_reason(f: &RawFrame) -> bool {
    std::str::from_utf8(&f.payload[2..]).is_ok()
}

/// A frame from our side, for failure messages.
pub fn show(f: &RawFrame) -> String {
    let fin = if f.fin { "" } else { "/fin=0" };
    match f.close_code() {
        Some(code) => format!(
            "close{fin} code {code} reason {:?}",
            String::from_utf8_lossy(&f.payload[2..])
        ),
        None => format!("op{}{fin} {:?}", f.opcode, P(f.payload.clone())),
    }
}

pub fn same_payload(got: &[u8], want: &[u8]) -> Result<(), String> {
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
pub async fn run_case(case: Case, ours: Ours) -> Result<(), String> {
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
pub async fn run_group(group: &str, cases: Vec<Case>, ours: Ours) {
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
