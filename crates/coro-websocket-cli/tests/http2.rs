//! `serve` speaking HTTP/1.1 and HTTP/2 (RFC 8441) on one port, plain (h2c by prior knowledge)
//! and TLS (ALPN), with its `-v` lines; `connect --http2` and `-v`; and an HTTP/2 WebSocket
//! client no one here wrote: Node's own `http2` module driven by tests-peers/node.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use coro_websocket::{
    connect, CloseCode, DeflateConfig, Http, Message, Opcode, Options, ServerOptions, Tls,
    TlsConfig,
};

mod common;
use common::{available, outcome, run_connect, Server, TlsFiles};

/// `(PATH, PROTOCOL)` of each `-v` line, `accepted PEER PATH over PROTOCOL`, checking that
/// PEER is a loopback address.
fn accepted(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            match words[..] {
                ["accepted", peer, path, "over", over] => {
                    assert!(peer.starts_with("127.0.0.1:"), "{line}");
                    (path.to_owned(), over.to_owned())
                }
                _ => panic!("not a -v line: {line:?}"),
            }
        })
        .collect()
}

fn pair(path: &str, over: &str) -> (String, String) {
    (path.to_owned(), over.to_owned())
}

/// Our client over `http` to `url`: a text and a 100 kB binary message echoed, then a normal
/// close. Returns the HTTP version and the agreed extensions.
async fn echo_with_our_client(
    url: &str,
    http: Http,
    ca: Option<&str>,
    compress: bool,
) -> (http::Version, Option<String>) {
    let mut options = Options::from_url(url).unwrap();
    options.http = http;
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        options.tls = Tls::Config(TlsConfig::new().add_root_pem(&pem).unwrap());
    }
    options.compression = compress.then(DeflateConfig::default);
    let (res, mut read, mut write) = connect(options).await.unwrap();
    let big: Bytes = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    for message in [
        Message::text("hello both ways"),
        Message::new(Opcode::Binary, big),
    ] {
        write.write(message.clone()).await.unwrap();
        let echo = read.read_message().await.unwrap().unwrap();
        assert_eq!(
            (echo.opcode, echo.payload),
            (message.opcode, message.payload)
        );
    }
    write.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(read.read_message().await.unwrap().is_none());
    assert_eq!(read.close_frame().map(|f| f.code), Some(CloseCode::NORMAL));
    (res.version, res.extensions)
}

/// One `serve` (plain or TLS, with or without --compress), our client over HTTP/1.1 and HTTP/2.
async fn both_versions_on_one_port(tls: Option<&TlsFiles>, compress: bool) {
    let mut flags = vec!["-v"];
    if compress {
        flags.push("--compress");
    }
    let server = match tls {
        Some(files) => files.serve_with(&flags),
        None => Server::start(&[&["--listen", "127.0.0.1:0"], &flags[..]].concat()),
    };
    let ca = tls.map(|files| files.ca.as_str());
    for (path, http, version) in [
        ("/one", Http::Http1, http::Version::HTTP_11),
        ("/two", Http::Http2, http::Version::HTTP_2),
    ] {
        let url = format!("{}{path}", server.url);
        let (got, extensions) = echo_with_our_client(&url, http, ca, compress).await;
        assert_eq!(got, version, "{url}");
        assert_eq!(extensions.is_some(), compress, "{url}: {extensions:?}");
    }
    assert_eq!(
        accepted(&server.stderr_at_exit()),
        [pair("/one", "HTTP/1.1"), pair("/two", "HTTP/2")]
    );
}

#[tokio::test]
async fn plain_serve_takes_http1_and_h2c_on_one_port() {
    both_versions_on_one_port(None, false).await;
    both_versions_on_one_port(None, true).await;
}

#[tokio::test]
async fn tls_serve_takes_http1_and_alpn_h2_on_one_port() {
    let files = TlsFiles::new("both-versions");
    both_versions_on_one_port(Some(&files), false).await;
    both_versions_on_one_port(Some(&files), true).await;
}

#[test]
fn connect_http2_to_serve_and_v_says_which() {
    let files = TlsFiles::new("connect-http2");
    let plain = Server::start(&["--listen", "127.0.0.1:0", "-v"]);
    let tls = files.serve_with(&["-v"]);
    for (server, trust) in [(&plain, vec![]), (&tls, vec!["--ca", &files.ca])] {
        for (http2, over) in [(true, "HTTP/2"), (false, "HTTP/1.1")] {
            let mut args = trust.clone();
            args.push("-v");
            if http2 {
                args.push("--http2");
            }
            args.push(&server.url);
            let (code, out, err) = run_connect(&args, "one\ntwo\n");
            assert_eq!((code, out.as_str()), (0, "one\ntwo\n"), "{args:?}: {err}");
            assert_eq!(err, format!("connected to {} over {over}\n", server.url));
        }
    }
    for server in [plain, tls] {
        let lines = accepted(&server.stderr_at_exit());
        assert_eq!(lines, [pair("/", "HTTP/2"), pair("/", "HTTP/1.1")]);
    }
}

/// A plain HTTP/1.1 server that answers anything (an HTTP/2 preface included) with 400, as
/// HTTP/1.1-only servers do.
fn http1_only_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { return };
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf);
            let _ = tcp.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    addr
}

/// A WSS echo server whose TLS offers no ALPN protocol, so no HTTP/2: rustls and `accept`.
fn wss_without_alpn(files: &TlsFiles) -> SocketAddr {
    use rustls_pki_types::pem::PemObject;
    let chain = rustls_pki_types::CertificateDer::pem_file_iter(&files.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&files.key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let options = ServerOptions::default();
                    if let Ok((_, mut read, mut write)) = coro_websocket::accept(tls, options).await
                    {
                        while let Ok(Some(message)) = read.read_message().await {
                            if write.write(message).await.is_err() {
                                break;
                            }
                        }
                    }
                });
            }
        });
    });
    addr
}

#[test]
fn connect_http2_without_http2_fails_in_one_line() {
    let plain = format!("ws://{}/", http1_only_server());
    let (code, out, err) = run_connect(&["--http2", &plain], "unsent\n");
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: HTTP/2: "), "{err}");

    let files = TlsFiles::new("no-alpn");
    let tls = format!("wss://{}/", wss_without_alpn(&files));
    let (code, out, err) = run_connect(&["--http2", "--ca", &files.ca, &tls], "unsent\n");
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "error: HTTP/2: the server did not agree to HTTP/2 (ALPN h2)\n"
    );
    // The same server takes HTTP/1.1.
    let (code, out, err) = run_connect(&["-v", "--ca", &files.ca, &tls], "sent\n");
    assert_eq!((code, out.as_str()), (0, "sent\n"), "{err}");
    assert_eq!(err, format!("connected to {tls} over HTTP/1.1\n"));
}

/// Reads one HTTP/2 frame: (type, flags, payload).
fn read_frame(tcp: &mut TcpStream) -> (u8, u8, Vec<u8>) {
    let mut head = [0u8; 9];
    tcp.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).unwrap();
    (head[3], head[4], payload)
}

/// A `serve` that logs (at debug level) each time it has seen only part of the HTTP/2 preface,
/// and a connection to it.
fn preface_watching_server() -> (Server, TcpStream) {
    let log = [("RUST_LOG", "coro_websocket::serve=debug")];
    let server = Server::start_with_env(&["--listen", "127.0.0.1:0"], &log);
    let tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_nodelay(true).unwrap();
    (server, tcp)
}

#[test]
fn a_preface_in_pieces_is_http2_and_the_server_announces_extended_connect() {
    let (mut server, mut tcp) = preface_watching_server();
    // The server sees each piece alone: it must wait for the rest, not decide.
    tcp.write_all(b"PRI * HT").unwrap();
    server.wait_for_stderr("8 bytes of the HTTP/2 preface so far");
    tcp.write_all(b"TP/2.0\r\n").unwrap();
    server.wait_for_stderr("16 bytes of the HTTP/2 preface so far");
    tcp.write_all(b"\r\nSM\r\n\r\n").unwrap();
    tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap(); // an empty SETTINGS frame
    let (kind, flags, payload) = read_frame(&mut tcp);
    assert_eq!(
        (kind, flags & 1),
        (4, 0),
        "the server's SETTINGS come first"
    );
    let settings: Vec<(u16, u32)> = payload
        .chunks(6)
        .map(|s| {
            let id = u16::from_be_bytes([s[0], s[1]]);
            (id, u32::from_be_bytes([s[2], s[3], s[4], s[5]]))
        })
        .collect();
    // RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) = 1.
    assert!(settings.contains(&(0x8, 1)), "{settings:?}");
    // RFC 9113 §6.5.2: the stream window coro_websocket::upgrade asks for (256 KiB).
    assert!(settings.contains(&(0x4, 256 << 10)), "{settings:?}");
}

#[test]
fn a_client_that_stops_inside_the_preface_is_closed_not_kept() {
    let (mut server, mut tcp) = preface_watching_server();
    tcp.write_all(b"PRI * HT").unwrap();
    server.wait_for_stderr("8 bytes of the HTTP/2 preface so far");
    tcp.shutdown(std::net::Shutdown::Write).unwrap();
    // Well under the 10 s handshake timeout: a wait for bytes that cannot come would hit it.
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer)
        .expect("the server closes the connection");
}

#[test]
fn a_request_that_is_not_a_websocket_gets_426_over_http2_too() {
    let server = Server::start(&["--listen", "127.0.0.1:0"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, headers) = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let io = hyper_util::rt::TokioIo::new(tcp);
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = http::Request::get(format!("http://{}/", server.addr()))
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        (res.status(), res.headers().clone())
    });
    assert_eq!(status, 426);
    assert_eq!(headers["sec-websocket-version"], "13");
    assert!(
        !headers.contains_key("upgrade"),
        "no connection-specific headers in HTTP/2"
    );
}

/// Runs tests-peers/node/h2_websocket_client.js against `url`; returns its stdout.
fn node_h2_client(url: &str, deflate: bool) -> String {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests-peers/node/h2_websocket_client.js");
    let mut node = Command::new("node");
    node.arg(&script).arg(url);
    if deflate {
        node.arg("deflate");
    }
    let (code, out, err) = outcome(node.output().unwrap());
    assert_eq!(
        code, 0,
        "{url} deflate={deflate}: stdout: {out}\nstderr: {err}"
    );
    out
}

#[test]
fn node_http2_client_opens_websockets_by_extended_connect() {
    if !available("node", "Node 20 or later") {
        return;
    }
    let files = TlsFiles::new("node-h2");
    for compress in [false, true] {
        let flag: &[&str] = if compress {
            &["-v", "--compress"]
        } else {
            &["-v"]
        };
        let plain = Server::start(&[&["--listen", "127.0.0.1:0"], flag].concat());
        let tls = files.serve_with(flag);
        for server in [plain, tls] {
            let origin = server.url.replacen("ws", "http", 1);
            let out = node_h2_client(&format!("{origin}/node?q=1"), compress);
            // Messages too small to gain are sent as they are.
            let deflated = if compress { " deflated" } else { "" };
            let extensions = if compress {
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            } else {
                ""
            };
            let expected = format!(
                "STATUS 200\nEXT {extensions}\nECHO text 27 ok\nECHO binary 6 ok\n\
                 ECHO binary 70000 ok{deflated}\nCLOSE 1000\nEND\n"
            );
            assert_eq!(out, expected, "{}", server.url);
            let lines = accepted(&server.stderr_at_exit());
            assert_eq!(lines, [pair("/node?q=1", "HTTP/2")]);
        }
    }
}
