//! `coro-websocket connect` against servers that break the handshake or the protocol: each must
//! end the client with exit code 1 and one clear line on stderr, and where the protocol asks for
//! it, the right close code on the wire.
//!
//! The client's stdin is kept open (as at an interactive terminal) until it exits, so that it is
//! the server's behaviour, not stdin's end, that ends the session.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{frame, read_head, spawn_connect, switching, websocket_key};

/// How long the client may take to exit; only a failing test waits this long.
const PATIENCE: Duration = Duration::from_secs(10);

/// A one-connection server: reads the upgrade request, then runs `act` with the stream and the
/// client's key. `act`'s result comes back on the receiver.
fn hostile_server<T: Send + 'static>(
    act: impl FnOnce(&mut TcpStream, &str) -> T + Send + 'static,
) -> (String, mpsc::Receiver<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        let Some(head) = read_head(&mut tcp) else {
            return;
        };
        let key = websocket_key(&head)
            .expect("the request has a key")
            .to_owned();
        let _ = tx.send(act(&mut tcp, &key));
    });
    (format!("ws://{addr}/"), rx)
}

/// Reads client frames until a close frame; returns its status code (None: EOF, a reset, or a
/// close without a code).
fn client_close_code(tcp: &mut TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        // Client frames here are short: 7-bit length, masked.
        while buf.len() >= 2 {
            let len = (buf[1] & 0x7f) as usize;
            let masked = buf[1] & 0x80 != 0;
            let start = 2 + if masked { 4 } else { 0 };
            if len >= 126 || buf.len() < start + len {
                break;
            }
            let opcode = buf[0] & 0xf;
            let mut payload = buf[start..start + len].to_vec();
            if masked {
                let key = [buf[2], buf[3], buf[4], buf[5]];
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= key[i % 4];
                }
            }
            buf.drain(..start + len);
            if opcode == 8 {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
        match tcp.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Runs `connect` with stdin held open; returns (exit code, stdout, stderr) once it exits, or
/// kills it (by its own PID) and fails the test after [`PATIENCE`].
///
/// With `release_stdin`, stdin is closed as soon as the client has written a line to stderr:
/// by then the outcome is decided, and the close only lets the process exit despite the bug that
/// [`exits_while_stdin_stays_open_when_the_server_ends_the_session`] shows.
fn run_connect_interactive(args: &[&str], release_stdin: bool) -> (i32, String, String) {
    let mut child = spawn_connect(args);
    let mut stdin = Some(child.stdin.take().unwrap());
    let mut stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let (line_tx, line_rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut err = String::new();
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        while let Ok(line) = line_rx.try_recv() {
            err.push_str(&line);
            err.push('\n');
            if release_stdin {
                stdin = None;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "connect {args:?} did not exit within {PATIENCE:?} with stdin open; \
                 stderr so far: {err:?}"
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    // The stderr thread ends at EOF, once the process is gone.
    while let Ok(line) = line_rx.recv_timeout(PATIENCE) {
        err.push_str(&line);
        err.push('\n');
    }
    (status.code().unwrap_or(-1), out.join().unwrap(), err)
}

/// Asserts exit code 1 and exactly one stderr line containing `needle` (case-insensitive).
fn assert_fails_with(result: &(i32, String, String), needle: &str) {
    let (code, _, err) = result;
    assert_eq!(*code, 1, "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "stderr {err:?} does not mention {needle:?}"
    );
}

/// Keeps the connection open until the client goes away.
fn hold(tcp: &mut TcpStream) {
    let mut sink = Vec::new();
    let _ = tcp.read_to_end(&mut sink);
}

#[test]
fn wrong_accept_key() {
    let (url, _) = hostile_server(|tcp, _key| {
        tcp.write_all(&switching("dGhlIHNhbXBsZSBub25jZQ==", ""))
            .unwrap();
        hold(tcp);
    });
    let result = run_connect_interactive(&[&url], false);
    assert_fails_with(&result, "Sec-WebSocket-Accept");
}

#[test]
fn a_200_response_instead_of_101() {
    let (url, _) = hostile_server(|tcp, _key| {
        tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        hold(tcp);
    });
    let result = run_connect_interactive(&[&url], false);
    assert_fails_with(&result, "200");
}

#[test]
fn a_subprotocol_that_was_never_offered() {
    for offered in [None, Some("chat")] {
        let (url, _) = hostile_server(|tcp, key| {
            tcp.write_all(&switching(key, "Sec-WebSocket-Protocol: sneaky\r\n"))
                .unwrap();
            hold(tcp);
        });
        let mut args = vec![url.as_str()];
        if let Some(p) = offered {
            args.extend(["--subprotocol", p]);
        }
        let result = run_connect_interactive(&args, false);
        assert_fails_with(&result, "subprotocol");
        assert!(result.2.contains("sneaky"), "{offered:?}: {}", result.2);
    }
}

#[test]
fn an_extension_that_was_never_offered() {
    let (url, _) = hostile_server(|tcp, key| {
        tcp.write_all(&switching(
            key,
            "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        ))
        .unwrap();
        hold(tcp);
    });
    let result = run_connect_interactive(&[&url], false);
    assert_fails_with(&result, "extension");
}

/// The server reads the request, then never answers (but keeps the connection open).
#[test]
fn a_server_that_never_answers_times_out() {
    let (url, _) = hostile_server(|tcp, _key| hold(tcp));
    let started = Instant::now();
    let result = run_connect_interactive(&["--timeout", "500", &url], false);
    assert_fails_with(&result, "timed out after 500ms");
    // Never sooner (a lower bound on wall time cannot be broken by a slow machine).
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[test]
fn a_masked_server_frame_is_closed_with_1002() {
    let (url, close) = hostile_server(|tcp, key| {
        tcp.write_all(&switching(key, "")).unwrap();
        // Later than the 101, as a real server would: the client is reading stdin by then.
        thread::sleep(Duration::from_millis(200));
        tcp.write_all(&frame(1, Some([1, 2, 3, 4]), b"masked by the server"))
            .unwrap();
        client_close_code(tcp)
    });
    let result = run_connect_interactive(&[&url], true);
    assert_fails_with(&result, "masked");
    assert_eq!(
        close.recv_timeout(PATIENCE).unwrap(),
        Some(1002),
        "the client's close code"
    );
}

#[test]
fn invalid_utf8_text_is_closed_with_1007() {
    let (url, close) = hostile_server(|tcp, key| {
        tcp.write_all(&switching(key, "")).unwrap();
        thread::sleep(Duration::from_millis(200));
        tcp.write_all(&frame(1, None, b"fine so far \xff\xfe"))
            .unwrap();
        client_close_code(tcp)
    });
    let result = run_connect_interactive(&[&url], true);
    assert_fails_with(&result, "UTF-8");
    assert_eq!(
        close.recv_timeout(PATIENCE).unwrap(),
        Some(1007),
        "the client's close code"
    );
}

#[test]
fn tcp_close_without_a_close_frame() {
    let (url, _) = hostile_server(|tcp, key| {
        tcp.write_all(&switching(key, "")).unwrap();
        tcp.write_all(&frame(1, None, b"last words")).unwrap();
        // Dropping the stream closes TCP: no close frame was sent.
    });
    let result = run_connect_interactive(&[&url], true);
    assert_eq!(
        result.1, "last words\n",
        "messages before the drop are printed"
    );
    assert_fails_with(&result, "close frame");
}

/// The connection ends mid-frame, without a close frame: exit 1, not a hang.
#[test]
fn tcp_close_in_the_middle_of_a_frame() {
    let (url, _) = hostile_server(|tcp, key| {
        tcp.write_all(&switching(key, "")).unwrap();
        // A header announcing 100 bytes, followed by 10.
        let mut partial = vec![0x81, 100];
        partial.extend_from_slice(b"0123456789");
        tcp.write_all(&partial).unwrap();
        thread::sleep(Duration::from_millis(50));
        // The client must treat the cut frame as an abnormal end.
        let _ = tcp.shutdown(std::net::Shutdown::Both);
    });
    let result = run_connect_interactive(&[&url], true);
    assert_eq!(result.0, 1, "stderr: {}", result.2);
    assert_eq!(result.2.lines().count(), 1, "{:?}", result.2);
}

/// Interactive use: stdin stays open (a terminal), and the server ends the session, cleanly or
/// not. The client must exit without waiting for another line of input.
/// Regression: the runtime's shutdown used to wait for tokio::io::stdin's blocking read.
#[test]
fn exits_while_stdin_stays_open_when_the_server_ends_the_session() {
    // A normal close (exit 0 per the contract) and a TCP close without a close frame (exit 1).
    for clean in [true, false] {
        let (url, _) = hostile_server(move |tcp, key| {
            tcp.write_all(&switching(key, "")).unwrap();
            tcp.write_all(&frame(1, None, b"hello")).unwrap();
            thread::sleep(Duration::from_millis(300));
            if clean {
                tcp.write_all(&frame(8, None, &1000u16.to_be_bytes()))
                    .unwrap();
                // Wait for the client's echo, then close TCP (the server closes first).
                client_close_code(tcp);
            }
        });
        let (code, out, err) = run_connect_interactive(&[&url], false);
        assert_eq!(out, "hello\n");
        assert_eq!(code, if clean { 0 } else { 1 }, "stderr: {err}");
    }
}
