//! Helpers shared by the CLI's integration tests: the binary, spawning `connect`, and the pieces
//! of a hand-written server (reading the upgrade request, answering it, writing frames).
//!
//! Each test file compiles this module separately and uses only part of it.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};

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
