//! permessage-deflate interop with real peers: Python `websockets` and Node `ws`, in both
//! directions (our client against their echo servers, their clients against our server), with
//! and without context takeover, with window bits 9, 12 and 15, and with each library's
//! defaults.
//!
//! The peers are the scripts in `tests-peers/`, installed by `tests-peers/setup.sh` (a Python
//! venv in `tests-peers/.venv`, `ws` in `tests-peers/node/node_modules`). When they are not
//! installed these tests print "skipped: run tests-peers/setup.sh" (on stderr) and pass, unless
//! the `CI` environment variable is set (to anything but "", "0" or "false"): then they fail, so
//! that CI never skips them silently.
//!
//! Every connection runs through a counting TCP proxy, so besides checking the negotiated
//! parameters and that every message comes back intact, the tests check that both directions
//! really carried compressed data.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use coro_websocket::proto::deflate::{negotiate_client, negotiate_server};
use coro_websocket::{connect, CloseCode, DeflateConfig, Message, Opcode, Options, ServerOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
/// Peers are separate processes on a possibly busy machine: wait for them generously.
const PEER_PATIENCE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Finding the peers
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    Python,
    Node,
}

fn peers_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests-peers");
    dir.canonicalize().unwrap_or(dir)
}

fn python() -> PathBuf {
    peers_dir().join(".venv/bin/python")
}

/// Why `lang`'s peer cannot run, if it cannot.
fn missing(lang: Lang) -> Option<String> {
    let works = |program: &Path, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    match lang {
        Lang::Python => (!works(&python(), &["-c", "import websockets"])).then(|| {
            format!(
                "{} cannot import websockets (no venv with websockets)",
                python().display()
            )
        }),
        Lang::Node => {
            let ws = peers_dir().join("node/node_modules/ws/package.json");
            if !works(Path::new("node"), &["--version"]) {
                Some("node is not on PATH".to_owned())
            } else if !ws.exists() {
                Some(format!("{} does not exist", ws.display()))
            } else {
                None
            }
        }
    }
}

/// Whether `lang`'s peer can run. If not: fails under CI, else prints why and the test returns.
fn installed(lang: Lang) -> bool {
    let Some(why) = missing(lang) else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
        panic!("{lang:?} interop peer not installed ({why}); CI must run tests-peers/setup.sh");
    }
    eprintln!("skipped: run tests-peers/setup.sh ({lang:?} peer not installed: {why})");
    false
}

// ---------------------------------------------------------------------------------------------
// Compression settings, as the peers' command lines and as our options
// ---------------------------------------------------------------------------------------------

/// One setting both ends are configured with.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Context takeover on or off, and both window limits (`None`: no limit asked).
    Set { takeover: bool, bits: Option<u8> },
    /// Each library's own defaults (websockets' server asks for 12-bit windows).
    Defaults,
}

const MODES: [Mode; 9] = [
    Mode::Set {
        takeover: true,
        bits: Some(9),
    },
    Mode::Set {
        takeover: true,
        bits: Some(12),
    },
    Mode::Set {
        takeover: true,
        bits: Some(15),
    },
    Mode::Set {
        takeover: false,
        bits: Some(9),
    },
    Mode::Set {
        takeover: false,
        bits: Some(12),
    },
    Mode::Set {
        takeover: false,
        bits: Some(15),
    },
    Mode::Set {
        takeover: true,
        bits: None,
    },
    Mode::Set {
        takeover: false,
        bits: None,
    },
    Mode::Defaults,
];

impl Mode {
    /// The peer scripts' `<takeover> <bits>` arguments.
    fn args(self) -> [String; 2] {
        match self {
            Mode::Set { takeover, bits } => [
                if takeover { "on" } else { "off" }.to_owned(),
                bits.map_or("none".to_owned(), |b| b.to_string()),
            ],
            Mode::Defaults => ["default".to_owned(), "none".to_owned()],
        }
    }

    /// Our settings for the same mode (the same for client and server).
    fn config(self) -> DeflateConfig {
        let mut c = DeflateConfig::default();
        if let Mode::Set { takeover, bits } = self {
            c.server_no_context_takeover = !takeover;
            c.client_no_context_takeover = !takeover;
            c.server_max_window_bits = bits;
            c.client_max_window_bits = bits;
        }
        c
    }

    /// Checks an agreed `Sec-WebSocket-Extensions` answer against the mode; `their_server` says
    /// whether the peer was the server that answered.
    fn check_answer(self, lang: Lang, their_server: bool, answer: &str) {
        let agreed = negotiate_client([answer].into_iter(), &self.config())
            .unwrap_or_else(|e| panic!("{lang:?} {self:?}: {answer:?}: {e}"))
            .unwrap_or_else(|| panic!("{lang:?} {self:?}: compression not negotiated"));
        match self {
            Mode::Set { takeover, bits } => {
                assert_eq!(
                    (
                        agreed.local_no_context_takeover,
                        agreed.remote_no_context_takeover
                    ),
                    (!takeover, !takeover),
                    "{lang:?} {self:?}: {answer}"
                );
                if let Some(bits) = bits {
                    assert_eq!(
                        (agreed.local_max_window_bits, agreed.remote_max_window_bits),
                        (bits, bits),
                        "{lang:?} {self:?}: {answer}"
                    );
                }
            }
            Mode::Defaults => {
                assert!(
                    !agreed.local_no_context_takeover && !agreed.remote_no_context_takeover,
                    "{lang:?}: {answer}"
                );
                if lang == Lang::Python && their_server {
                    // websockets' server limits both windows to 12 bits by default.
                    assert_eq!(
                        (agreed.local_max_window_bits, agreed.remote_max_window_bits),
                        (12, 12),
                        "{answer}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Peer processes
// ---------------------------------------------------------------------------------------------

/// A running peer script; killed when dropped.
struct Peer {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
    what: String,
}

impl Peer {
    async fn spawn(lang: Lang, script: &str, port: u16, mode: Mode) -> Peer {
        let [takeover, bits] = mode.args();
        let mut cmd = match lang {
            Lang::Python => {
                let mut c = Command::new(python());
                c.arg(peers_dir().join("python").join(format!("{script}.py")));
                c
            }
            Lang::Node => {
                let mut c = Command::new("node");
                c.arg(peers_dir().join("node").join(format!("{script}.js")));
                c
            }
        };
        cmd.args([port.to_string(), takeover, bits])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawning a peer script");
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = err_pipe.read_to_end(&mut buf).await;
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf));
        });
        Peer {
            child,
            stdout,
            stderr,
            what: format!("{lang:?} {script} {mode:?}"),
        }
    }

    /// The next line the peer prints, which must start with `tag`; returns the rest.
    async fn expect_line(&mut self, tag: &str) -> String {
        let line = tokio::time::timeout(PEER_PATIENCE, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("{}: nothing printed in time", self.what));
        let line = match line {
            Ok(Some(line)) => line,
            _ => {
                // Let the stderr reader finish, then show what the peer said.
                let _ = tokio::time::timeout(PEER_PATIENCE, self.child.wait()).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "{}: exited before printing {tag}; stderr:\n{}",
                    self.what,
                    self.stderr.lock().unwrap()
                );
            }
        };
        match line.strip_prefix(tag) {
            Some(rest) => rest.trim().to_owned(),
            None => panic!("{}: expected {tag}, got {line:?}", self.what),
        }
    }

    /// Waits for the peer to exit and checks that it succeeded.
    async fn expect_success(&mut self) {
        let status = tokio::time::timeout(PEER_PATIENCE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{}: did not exit in time", self.what))
            .unwrap();
        if !status.success() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            panic!(
                "{}: {status}; stderr:\n{}",
                self.what,
                self.stderr.lock().unwrap()
            );
        }
    }
}

/// A TCP proxy for one connection to `upstream`; the handle gives the bytes carried each way
/// (client to server, server to client) once both ends have closed.
async fn counting_proxy(upstream: SocketAddr) -> (SocketAddr, JoinHandle<(u64, u64)>) {
    let (l, addr) = listener().await;
    let task = tokio::spawn(async move {
        let (mut down, _) = l.accept().await.unwrap();
        let mut up = TcpStream::connect(upstream).await.unwrap();
        tokio::io::copy_bidirectional(&mut down, &mut up)
            .await
            .unwrap_or((0, 0))
    });
    (addr, task)
}

// ---------------------------------------------------------------------------------------------
// The messages
// ---------------------------------------------------------------------------------------------

/// One message to send, as one or more frames, and the message expected back.
struct Case {
    frames: Vec<Message>,
    opcode: Opcode,
    payload: Vec<u8>,
}

fn whole(msg: Message) -> Case {
    Case {
        opcode: msg.opcode,
        payload: msg.payload.to_vec(),
        frames: vec![msg],
    }
}

/// The messages every test exchanges, and the payload bytes they add up to.
fn cases() -> (Vec<Case>, usize) {
    let json = json_ish(100 * KIB, 0);
    let parts = [
        json_ish(20 * KIB, 1),
        json_ish(30 * KIB, 2),
        json_ish(5 * KIB, 3),
    ];
    let mut first = Message::text(parts[0].clone());
    first.fin = false;
    let mut middle = Message::new(Opcode::Continuation, parts[1].clone());
    middle.fin = false;
    let cases = vec![
        whole(Message::text("hello")),
        whole(Message::text(json.clone())),
        whole(Message::binary(noise(64 * KIB, 5))),
        whole(Message::binary(
            b"binary \x00\x01\x02\xff ".repeat(16 * KIB),
        )),
        whole(Message::text("")),
        whole(Message::binary(Vec::new())),
        // Again: with context takeover it compresses to almost nothing.
        whole(Message::text(json.clone())),
        whole(Message::text("héllo wörld, ünïcödé ✓ — ".repeat(400))),
        whole(Message::binary(json_ish(MIB, 7).into_bytes())),
        // Not compressed by us; still compressed by them on the way back.
        whole(Message {
            compress: false,
            ..Message::text(json_ish(50 * KIB, 9))
        }),
        // Fragmented by the application: sent uncompressed, echoed as one compressed message.
        Case {
            frames: vec![
                first,
                middle,
                Message::new(Opcode::Continuation, parts[2].clone()),
            ],
            opcode: Opcode::Text,
            payload: parts.concat().into_bytes(),
        },
        whole(Message::text(json)),
    ];
    let total = cases.iter().map(|c| c.payload.len()).sum();
    (cases, total)
}

/// Sends every case on `write` and checks each echo on `read`.
async fn exchange(
    what: &str,
    read: &mut coro_websocket::Reader,
    write: &mut coro_websocket::Writer,
    cases: &[Case],
) {
    for (i, case) in cases.iter().enumerate() {
        for frame in &case.frames {
            tokio::time::timeout(PEER_PATIENCE, write.write(frame.clone()))
                .await
                .unwrap_or_else(|_| panic!("{what}: message {i}: write timed out"))
                .unwrap_or_else(|e| panic!("{what}: message {i}: {e}"));
        }
        let echo = tokio::time::timeout(PEER_PATIENCE, read.read_message())
            .await
            .unwrap_or_else(|_| panic!("{what}: message {i}: no echo in time"))
            .unwrap_or_else(|e| panic!("{what}: message {i}: {e}"))
            .unwrap_or_else(|| panic!("{what}: message {i}: closed instead of echoing"));
        assert_eq!(echo.opcode, case.opcode, "{what}: message {i}");
        assert_eq!(
            echo.payload.len(),
            case.payload.len(),
            "{what}: message {i}"
        );
        assert!(echo.payload == case.payload, "{what}: message {i} differs");
    }
}

/// Checks that each direction carried far fewer bytes than the payloads: both ends compressed.
fn check_compressed(what: &str, (up, down): (u64, u64), payload: usize) {
    eprintln!("{what}: {payload} payload bytes each way; on the wire {up} up, {down} down");
    let limit = payload as u64 / 2;
    assert!(
        up < limit,
        "{what}: {up} bytes to the server, payload {payload}"
    );
    assert!(
        down < limit,
        "{what}: {down} bytes to the client, payload {payload}"
    );
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// Our client against `lang`'s echo server, in every mode.
async fn our_client_against(lang: Lang) {
    if !installed(lang) {
        return;
    }
    let (cases, payload) = cases();
    for mode in MODES {
        let what = format!("our client -> {lang:?} server, {mode:?}");
        let mut server = Peer::spawn(lang, "echo_server", 0, mode).await;
        let port: u16 = server.expect_line("PORT").await.parse().unwrap();
        let (addr, counts) = counting_proxy(SocketAddr::from(([127, 0, 0, 1], port))).await;
        let (res, mut read, mut write) = tokio::time::timeout(
            PEER_PATIENCE,
            connect(Options {
                compression: Some(mode.config()),
                ..client_options(addr)
            }),
        )
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let answer = res
            .extensions
            .clone()
            .unwrap_or_else(|| panic!("{what}: compression not negotiated"));
        mode.check_answer(lang, true, &answer);
        // The server reports the same answer.
        assert_eq!(server.expect_line("EXT").await, answer, "{what}");

        exchange(&what, &mut read, &mut write, &cases).await;
        write.close(CloseCode::NORMAL, "done").await.unwrap();
        let end = tokio::time::timeout(PEER_PATIENCE, read.read_message())
            .await
            .unwrap();
        assert!(matches!(end, Ok(None)), "{what}: {end:?}");
        assert_eq!(
            read.close_frame().map(|f| f.code),
            Some(CloseCode::NORMAL),
            "{what}"
        );
        // Our end of the TCP connection closes when the session is dropped.
        drop((res, read, write));
        let counts = tokio::time::timeout(PEER_PATIENCE, counts)
            .await
            .unwrap()
            .unwrap();
        check_compressed(&what, counts, payload);
    }
}

/// `lang`'s client against our server, in every mode. The client sends one message of its own,
/// then echoes what our server sends until our server closes.
async fn their_client_against_ours(lang: Lang) {
    if !installed(lang) {
        return;
    }
    let (cases, payload) = cases();
    for mode in MODES {
        let what = format!("{lang:?} client -> our server, {mode:?}");
        let (server_addr, accepted) = accept_one(ServerOptions {
            compression: Some(mode.config()),
            ..Default::default()
        })
        .await;
        let (proxy_addr, counts) = counting_proxy(server_addr).await;
        let mut client = Peer::spawn(lang, "echo_client", proxy_addr.port(), mode).await;

        let (request, mut read, mut write) = tokio::time::timeout(PEER_PATIENCE, accepted)
            .await
            .unwrap_or_else(|_| panic!("{what}: no connection in time"))
            .unwrap()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        // What our server answered, recomputed from the offer, is what the client reports.
        let offer = request
            .headers
            .get("sec-websocket-extensions")
            .unwrap_or_else(|| panic!("{what}: the client offered no compression"))
            .to_owned();
        let (_, answer) = negotiate_server([offer.as_str()].into_iter(), &mode.config())
            .unwrap_or_else(|| panic!("{what}: offer {offer:?} declined"));
        let reported = client.expect_line("EXT").await;
        mode.check_answer(lang, false, &reported);
        assert_eq!(
            negotiate_client([reported.as_str()].into_iter(), &mode.config()),
            negotiate_client([answer.as_str()].into_iter(), &mode.config()),
            "{what}: client reports {reported:?}, we answered {answer:?}"
        );

        let hello = tokio::time::timeout(PEER_PATIENCE, read.read_message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let expected = format!("hello from {}", format!("{lang:?}").to_lowercase());
        assert_eq!(hello.as_text(), Some(expected.as_str()), "{what}");

        exchange(&what, &mut read, &mut write, &cases).await;
        write.close(CloseCode::NORMAL, "done").await.unwrap();
        let end = tokio::time::timeout(PEER_PATIENCE, read.read_message())
            .await
            .unwrap();
        assert!(matches!(end, Ok(None)), "{what}: {end:?}");
        assert_eq!(
            client.expect_line("CLOSED").await,
            format!("1000 {}", cases.len()),
            "{what}"
        );
        client.expect_success().await;
        let counts = tokio::time::timeout(PEER_PATIENCE, counts)
            .await
            .unwrap()
            .unwrap();
        check_compressed(&what, counts, payload);
    }
}

#[tokio::test]
async fn our_client_against_python_websockets_server() {
    our_client_against(Lang::Python).await;
}

#[tokio::test]
async fn python_websockets_client_against_our_server() {
    their_client_against_ours(Lang::Python).await;
}

#[tokio::test]
async fn our_client_against_node_ws_server() {
    our_client_against(Lang::Node).await;
}

#[tokio::test]
async fn node_ws_client_against_our_server() {
    their_client_against_ours(Lang::Node).await;
}

/// Without compression on our side, the peers' offers are declined and plain traffic works.
#[tokio::test]
async fn peers_work_with_compression_declined() {
    for lang in [Lang::Python, Lang::Node] {
        if !installed(lang) {
            continue;
        }
        let what = format!("{lang:?} client -> our server without compression");
        let (server_addr, accepted) = accept_one(ServerOptions::default()).await;
        let mut client = Peer::spawn(lang, "echo_client", server_addr.port(), Mode::Defaults).await;
        let (request, mut read, mut write) = tokio::time::timeout(PEER_PATIENCE, accepted)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(request.headers.get("sec-websocket-extensions").is_some());
        assert_eq!(client.expect_line("EXT").await, "", "{what}");
        let _hello = read.read_message().await.unwrap().unwrap();
        let json = json_ish(10 * KIB, 0);
        exchange(&what, &mut read, &mut write, &[whole(Message::text(json))]).await;
        write.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(matches!(read.read_message().await, Ok(None)));
        assert_eq!(client.expect_line("CLOSED").await, "1000 1", "{what}");
        client.expect_success().await;

        let what = format!("our client without compression -> {lang:?} server");
        let mut server = Peer::spawn(lang, "echo_server", 0, Mode::Defaults).await;
        let port: u16 = server.expect_line("PORT").await.parse().unwrap();
        let (res, mut read, mut write) =
            connect(client_options(SocketAddr::from(([127, 0, 0, 1], port))))
                .await
                .unwrap();
        assert_eq!(res.extensions, None, "{what}");
        assert_eq!(server.expect_line("EXT").await, "", "{what}");
        exchange(
            &what,
            &mut read,
            &mut write,
            &[whole(Message::binary(noise(10 * KIB, 1)))],
        )
        .await;
        write.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(matches!(read.read_message().await, Ok(None)));
    }
}
