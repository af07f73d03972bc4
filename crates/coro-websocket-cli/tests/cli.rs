//! The CLI contract (the README's command-line section), exercised on the real binary over real sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

mod common;
use common::{outcome, refusing_port, run_connect, Server, TlsFiles, BIN};

#[test]
fn serve_prints_one_line_and_connect_echoes_lines() {
    let server = Server::start(&["--listen", "127.0.0.1:0"]);
    assert!(server.url.starts_with("ws://127.0.0.1:"), "{}", server.url);
    let (code, out, err) = run_connect(&[&server.url], "hello\nwörld\n\nlast\n");
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "hello\nwörld\n\nlast\n");
    assert!(server.terminate().success(), "serve exits 0 on SIGTERM");
}

#[test]
fn binary_mode_echoes_bytes() {
    let server = Server::start(&["--listen", "127.0.0.1:0"]);
    let (code, out, _) = run_connect(&["--binary", &server.url], "abc\n");
    assert_eq!((code, out.as_str()), (0, "abc\n"));
}

#[test]
fn serve_over_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("coro-ws-cli-{}.sock", std::process::id()));
    let path_str = path.to_str().unwrap();
    let server = Server::start(&["--unix", path_str, "-v"]);
    assert_eq!(server.url, format!("ws+unix://{path_str}"));
    let (code, out, err) = run_connect(&["--unix", path_str, "ws://localhost/u"], "via unix\n");
    assert_eq!((code, out.as_str()), (0, "via unix\n"), "stderr: {err}");
    // -v names the socket: a Unix client's own address is unnamed.
    let err = server.stderr_at_exit();
    assert_eq!(err, format!("accepted {path_str} /u over HTTP/1.1\n"));
    assert!(!path.exists(), "socket file removed on exit");
}

#[test]
fn serve_selects_the_first_offered_subprotocol_it_knows() {
    let server = Server::start(&[
        "--listen",
        "127.0.0.1:0",
        "--subprotocol",
        "b",
        "--subprotocol",
        "a",
    ]);
    let addr = server.url.strip_prefix("ws://").unwrap().to_owned();
    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        tcp,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: c, a, b\r\n\r\n"
    )
    .unwrap();
    let mut head = String::new();
    let mut reader = BufReader::new(tcp);
    while !head.ends_with("\r\n\r\n") {
        reader.read_line(&mut head).unwrap();
    }
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("Sec-WebSocket-Protocol: a\r\n"), "{head}");
}

#[test]
fn max_message_closes_with_1009() {
    let server = Server::start(&["--listen", "127.0.0.1:0", "--max-message", "10"]);
    let (code, out, err) = run_connect(&[&server.url], "short\nthis line is far too long\n");
    assert_eq!(code, 1);
    assert_eq!(out, "short\n");
    assert!(err.contains("closed: 1009"), "stderr: {err}");
}

/// A one-shot raw server answering the upgrade with `response`, then staying silent until the
/// client goes away.
fn raw_server(response: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = tcp.read(&mut buf);
        let _ = tcp.write_all(response.as_bytes());
        while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
    });
    format!("ws://{addr}/")
}

#[test]
fn refused_upgrade_names_the_status() {
    let url = raw_server("HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nno way");
    let (code, _, err) = run_connect(&[&url], "");
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("403"), "stderr: {err}");
}

#[test]
fn silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (code, _, err) = run_connect(&["--timeout", "300", &url], "");
    assert_eq!(code, 1);
    // The configured timeout is the one that fired (its timing is tested in the library, on
    // tokio's paused clock; a separate process cannot use it).
    assert!(err.contains("timed out after 300ms"), "stderr: {err}");
    drop(listener);
}

#[test]
fn connection_refused_is_one_clear_line() {
    let (_refusing, addr) = refusing_port();
    let (code, _, err) = run_connect(&[&format!("ws://{addr}/")], "");
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

#[test]
fn bad_url_is_refused() {
    let (code, _, err) = run_connect(&["http://example.com/"], "");
    assert_eq!(code, 1);
    assert!(err.contains("scheme"), "{err}");
}

#[test]
fn demo_runs_the_seed_example() {
    let out = Command::new(BIN).arg("demo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Host responded with Hello There!\nConnection closed!\n"
    );
}

#[test]
fn wss_serve_with_ca_and_insecure() {
    let files = TlsFiles::new("tls");
    let server = files.serve();
    assert!(server.url.starts_with("wss://"), "{}", server.url);
    let (code, out, err) = run_connect(&["--ca", &files.ca, &server.url], "secure\n");
    assert_eq!((code, out.as_str()), (0, "secure\n"), "stderr: {err}");
    let (code, out, _) = run_connect(&["--insecure", &server.url], "anyway\n");
    assert_eq!((code, out.as_str()), (0, "anyway\n"));
    let (code, _, err) = run_connect(&[&server.url], "untrusted\n");
    assert_eq!(code, 1);
    assert!(err.to_lowercase().contains("certificate"), "stderr: {err}");
}

/// Runs `bench` with `args` plus a short duration; returns (exit code, stdout, stderr).
fn run_bench(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("bench")
        .args(["--duration", "0.3"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn bench");
    outcome(out)
}

/// The number after `"key":` in bench's one-line JSON.
fn json_number(json: &str, key: &str) -> f64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + key.len()
        + 3;
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].trim().parse().unwrap()
}

#[test]
fn bench_counts_echoes_over_ws() {
    let server = Server::start(&["--listen", "127.0.0.1:0"]);
    let (code, out, err) = run_bench(&["--url", &server.url, "--conns", "2", "--json"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(json_number(&out, "messages") > 0.0, "{out}");
    assert_eq!(json_number(&out, "errors"), 0.0, "{out}");
}

#[test]
fn bench_counts_echoes_over_wss() {
    let files = TlsFiles::new("bench-tls");
    let server = files.serve();
    let trusts: [(&[&str], &str); 2] = [(&["--ca", &files.ca], "16"), (&["--insecure"], "70000")];
    for (trust, size) in trusts {
        let mut args = vec!["--url", &server.url, "--json", "--conns", "2"];
        args.extend(["--inflight", "4", "--size", size]);
        args.extend_from_slice(trust);
        let (code, out, err) = run_bench(&args);
        assert_eq!(code, 0, "{trust:?}: stderr: {err}");
        assert!(json_number(&out, "messages") > 0.0, "{out}");
        assert_eq!(json_number(&out, "errors"), 0.0, "{out}");
    }
}

#[test]
fn bench_over_wss_refuses_an_untrusted_certificate() {
    let files = TlsFiles::new("bench-untrusted");
    let server = files.serve();
    let (code, out, err) = run_bench(&["--url", &server.url]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.to_lowercase().contains("certificate"), "stderr: {err}");
}

#[test]
fn bench_refuses_tls_flags_on_ws() {
    let (_refusing, addr) = refusing_port();
    let url = format!("ws://{addr}/");
    let (code, _, err) = run_bench(&["--url", &url, "--insecure"]);
    assert_eq!(code, 1);
    assert!(err.contains("wss://"), "stderr: {err}");
}
