//! Helpers shared by the CLI's integration tests: the binary, running `serve` and `connect`, TLS
//! files, and the pieces of a hand-written server (reading the upgrade request, answering it,
//! writing frames).
//!
//! Each test file compiles this module separately and uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use coro_websocket::handshake::accept_key;

/// The `coro-websocket` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_coro-websocket");

/// A loopback port that refuses connections for as long as the returned socket lives: the socket
/// is bound but never listens, so a connection attempt gets a reset (connection refused, on
/// Linux), and no other test or process can take the port meanwhile. (A port taken from a
/// dropped listener may be reused by anyone, and port 9 may be open.)
pub fn refusing_port() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// Starts `coro-websocket connect ARGS` with stdin, stdout and stderr piped.
pub fn spawn_connect(args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("connect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn connect")
}

/// Runs `connect` with `input` on stdin; returns (exit code, stdout, stderr).
pub fn run_connect(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = spawn_connect(args);
    let written = child.stdin.take().unwrap().write_all(input.as_bytes());
    // A connect that fails exits without reading its input: the pipe is then closed.
    if let Err(e) = written {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {e}"
        );
    }
    outcome(child.wait_with_output().unwrap())
}

/// A finished process as (exit code, stdout, stderr); -1 when killed by a signal.
pub fn outcome(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads an HTTP head byte by byte (so nothing after it is consumed); `None` if the stream ends
/// or fails first.
pub fn read_head(tcp: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// The `Sec-WebSocket-Key` of an upgrade request head.
pub fn websocket_key(head: &str) -> Option<&str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| v.trim())
    })
}

/// A valid 101 answer for `key`, with `extra` header lines (each ending in CRLF).
pub fn switching(key: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_key(key)
    )
    .into_bytes()
}

/// A final frame of under 126 bytes: unmasked (as a server sends), or masked with `mask`.
pub fn frame(opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut out = vec![0x80 | opcode, payload.len() as u8];
    match mask {
        Some(key) => {
            out[1] |= 0x80;
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A running `serve`, killed (by its own PID) when dropped.
pub struct Server {
    child: Child,
    /// Its stderr, line by line (a thread reads it).
    stderr: Receiver<String>,
    /// The lines [`Server::wait_for_stderr`] took.
    read: String,
    /// The URL it printed: `ws://127.0.0.1:PORT`, `wss://...` or `ws+unix://PATH`.
    pub url: String,
}

impl Server {
    /// Starts `serve ARGS` and waits for its `listening on URL` line.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// [`Server::start`] with environment variables set (e.g. `RUST_LOG`).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim()
            .to_owned();
        let (lines, stderr) = std::sync::mpsc::channel();
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines() {
                let Ok(line) = line else { return };
                if lines.send(line + "\n").is_err() {
                    return;
                }
            }
        });
        Server {
            child,
            stderr,
            read: String::new(),
            url,
        }
    }

    /// Reads its stderr up to a line containing `needle`; fails if it exits first, or if no
    /// such line comes within 30 s (a bound on a hang, not a timing).
    pub fn wait_for_stderr(&mut self, needle: &str) {
        loop {
            let line = self
                .stderr
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("no {needle:?} on stderr ({e}): {}", self.read));
            self.read.push_str(&line);
            if line.contains(needle) {
                return;
            }
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `HOST:PORT` of a TCP server.
    pub fn addr(&self) -> &str {
        let rest = self.url.split_once("://").expect("a URL").1;
        rest.trim_end_matches('/')
    }

    /// Sends SIGTERM and waits for the exit (failing if it takes over 5 s).
    pub fn terminate(mut self) -> ExitStatus {
        self.stop()
    }

    /// Everything it wrote on stderr, once SIGTERM has ended it (with status 0, as the CLI
    /// contract says).
    pub fn stderr_at_exit(mut self) -> String {
        let status = self.stop();
        assert!(status.success(), "serve exits 0 on SIGTERM: {status}");
        let mut err = std::mem::take(&mut self.read);
        // The reading thread ends at EOF, now that serve has exited.
        err.extend(self.stderr.iter());
        err
    }

    fn stop(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not exit on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA, and a certificate it signed for `localhost` and `127.0.0.1`, written as PEM files into a
/// fresh directory (removed on drop).
pub struct TlsFiles {
    /// The directory holding the files.
    pub dir: std::path::PathBuf,
    /// The CA certificate (what a client trusts).
    pub ca: String,
    /// The server's certificate.
    pub cert: String,
    /// The server's private key.
    pub key: String,
}

impl TlsFiles {
    /// Fresh files in a directory named after `tag` (unique within one test binary).
    pub fn new(tag: &str) -> TlsFiles {
        let dir = std::env::temp_dir().join(format!("coro-ws-cli-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(
            {
                let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
                p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
                p
            },
            rcgen::KeyPair::generate().unwrap(),
        )
        .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path.to_str().unwrap().to_owned()
        };
        TlsFiles {
            ca: write("ca.pem", ca.pem()),
            cert: write("cert.pem", cert.pem()),
            key: write("key.pem", key.serialize_pem()),
            dir,
        }
    }

    /// `serve` on an ephemeral loopback port with these files.
    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// [`TlsFiles::serve`] with more flags.
    pub fn serve_with(&self, more: &[&str]) -> Server {
        let mut args = vec!["--listen", "127.0.0.1:0"];
        args.extend(["--tls-cert", &self.cert, "--tls-key", &self.key]);
        args.extend_from_slice(more);
        Server::start(&args)
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the tests run under CI (`CI` set to anything but "", "0" or "false"): a missing peer
/// then fails the test instead of skipping it.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether `program --version` runs. If not: panics under CI, else says why on stderr and
/// returns false (the test then passes without running).
pub fn available(program: &str, install: &str) -> bool {
    let works = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        assert!(
            !under_ci(),
            "{program} is not installed; CI must install it ({install})"
        );
        eprintln!("skipped: {program} is not installed ({install})");
    }
    works
}
