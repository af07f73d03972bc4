//! Helpers shared by the integration tests: servers on ephemeral ports, raw peers that complete the
//! opening handshake by hand, and a frame builder/parser for hand-crafted wire bytes.
//!
//! Each test file compiles this module separately and uses only part of it.
#![allow(dead_code)]

pub mod h2;

use std::net::SocketAddr;
use std::time::Duration;

use coro_websocket::handshake::accept_key;
use coro_websocket::proto::Role;
use coro_websocket::{
    accept, wrap_io, Config, Error, FrameCodec, Heartbeat, Reader, Request, ServerOptions,
    WrapOptions, Writer,
};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_util::codec::Framed;

/// How long a raw peer waits for something that should arrive; generous so a loaded machine does
/// not make tests flaky. Only a failing test ever waits this long.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A listener on an ephemeral loopback port.
pub async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A loopback port that refuses connections for as long as the returned socket lives: the socket
/// is bound but never listens, so a connection attempt gets a reset (connection refused, on
/// Linux), and no other test or process can take the port meanwhile. (A port taken from a
/// dropped listener may be reused by anyone, and port 9 may be open.)
pub fn refusing_port() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// A server that echoes every whole message on every connection, until the peer closes.
pub async fn echo_server(options: ServerOptions) -> SocketAddr {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                return;
            };
            let options = options.clone();
            tokio::spawn(async move {
                let Ok((_req, mut read, mut write)) = accept(tcp, options).await else {
                    return;
                };
                while let Ok(Some(msg)) = read.read_message().await {
                    if write.write(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// The session (or error) of the one connection an [`accept_one`] server takes.
pub type Accepted = Result<(Request, Reader, Writer), Error>;

/// A server that accepts one connection and hands the session to the test.
pub async fn accept_one(options: ServerOptions) -> (SocketAddr, oneshot::Receiver<Accepted>) {
    let (l, addr) = listener().await;
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let _ = tx.send(accept(tcp, options).await);
    });
    (addr, rx)
}

/// Waits for a future, failing the test if it takes longer than [`PATIENCE`].
pub async fn soon<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .expect("timed out waiting")
}

// ---------------------------------------------------------------------------------------------
// Raw frames
// ---------------------------------------------------------------------------------------------

/// A frame as a raw peer sees it on the wire (payload already unmasked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The status code of a close frame, if it carries one.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Encodes a frame with an explicit FIN, RSV bits (`0b100` = RSV1), raw opcode and optional mask.
pub fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = header(fin, rsv, opcode, mask, payload.len() as u64);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        for (i, b) in out[start..].iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    out
}

/// Encodes only a frame header announcing `len` payload bytes (the payload follows separately,
/// masked by the caller with [`mask_from`] if needed).
pub fn header(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0xf)];
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= u16::MAX as u64 {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// Masks `payload` with `key` as if it started at payload offset `offset`.
pub fn mask_from(payload: &[u8], key: [u8; 4], offset: usize) -> Vec<u8> {
    payload
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ key[(offset + i) % 4])
        .collect()
}

/// A close frame payload: the code, then the reason bytes.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// Parses one frame from the start of `buf`: `None` if incomplete.
pub fn parse_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let masked = buf[1] & 0x80 != 0;
    let (len, mut pos) = match buf[1] & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().unwrap()) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap()) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let key = if masked {
        let k: [u8; 4] = buf.get(pos..pos + 4)?.try_into().unwrap();
        pos += 4;
        Some(k)
    } else {
        None
    };
    let body = buf.get(pos..pos + len)?;
    let payload = match key {
        Some(k) => mask_from(body, k, 0),
        None => body.to_vec(),
    };
    Some((
        RawFrame {
            fin: buf[0] & 0x80 != 0,
            rsv: (buf[0] >> 4) & 7,
            opcode: buf[0] & 0xf,
            masked,
            payload,
        },
        pos + len,
    ))
}

// ---------------------------------------------------------------------------------------------
// Raw peers
// ---------------------------------------------------------------------------------------------

/// A peer that speaks WebSocket by hand over a TCP stream (or, for the paused-clock tests, over
/// one end of an in-memory pipe: see [`server_over_pipe`]).
pub struct RawPeer<S = TcpStream> {
    pub tcp: S,
    pub buf: Vec<u8>,
    /// Whether this peer is the client (and so masks what it sends by default).
    pub client: bool,
}

/// The fixed masking key raw clients use.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

impl<S: AsyncRead + AsyncWrite + Unpin> RawPeer<S> {
    /// The masking key this peer's role uses for well-formed frames.
    pub fn mask(&self) -> Option<[u8; 4]> {
        self.client.then_some(KEY)
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// Sends a well-formed frame for this peer's role (masked if it is the client).
    pub async fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let bytes = frame(fin, 0, opcode, self.mask(), payload);
        self.send(&bytes).await;
    }

    /// Reads until a head ending in CRLFCRLF has arrived; returns it, keeping the rest buffered.
    pub async fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end + 4]).into_owned();
                self.buf.drain(..end + 4);
                return head;
            }
            let n = soon(self.tcp.read_buf(&mut self.buf)).await.unwrap();
            assert!(n > 0, "EOF before the end of the HTTP head");
        }
    }

    /// The next frame, or `None` at EOF (or on a connection reset after the peer closed).
    pub async fn next_frame(&mut self) -> Option<RawFrame> {
        loop {
            if let Some((f, n)) = parse_frame(&self.buf) {
                self.buf.drain(..n);
                return Some(f);
            }
            match soon(self.tcp.read_buf(&mut self.buf)).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads frames until a close frame arrives, skipping others; returns it.
    pub async fn expect_close(&mut self) -> RawFrame {
        loop {
            let f = self
                .next_frame()
                .await
                .expect("EOF before a close frame arrived");
            if f.opcode == 8 {
                return f;
            }
        }
    }

    /// Asserts that the connection reaches EOF with no further frame.
    pub async fn expect_eof(&mut self) {
        if let Some(f) = self.next_frame().await {
            panic!("expected EOF, got {f:?}");
        }
    }

    /// Whether nothing at all (no byte, no EOF) arrives within `d`.
    pub async fn silent_for(&mut self, d: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        tokio::time::timeout(d, self.tcp.read_buf(&mut self.buf))
            .await
            .is_err()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The value of a header in a raw HTTP head, by case-insensitive name.
pub fn head_header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A valid upgrade request, with `extra` header lines (each ending in CRLF) before the blank line.
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Connects a raw client to `addr` and completes the upgrade by hand.
pub async fn raw_client(addr: SocketAddr) -> RawPeer {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut peer = RawPeer {
        tcp,
        buf: Vec::new(),
        client: true,
    };
    peer.send(upgrade_request("/", "").as_bytes()).await;
    let head = peer.read_head().await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(
        head_header(&head, "sec-websocket-accept"),
        Some(accept_key("dGhlIHNhbXBsZSBub25jZQ==").as_str())
    );
    peer
}

/// Reads a client's upgrade request on an accepted TCP stream, answering nothing yet: returns the
/// server-side raw peer, the request head and its `Sec-WebSocket-Key`.
pub async fn read_upgrade_request(tcp: TcpStream) -> (RawPeer, String, String) {
    let mut peer = RawPeer {
        tcp,
        buf: Vec::new(),
        client: false,
    };
    let head = peer.read_head().await;
    let key = head_header(&head, "sec-websocket-key")
        .expect("request has a key")
        .to_owned();
    (peer, head, key)
}

/// Completes the server side of the upgrade by hand on an accepted TCP stream; returns the peer
/// and the request head it read.
pub async fn raw_server_handshake(tcp: TcpStream) -> (RawPeer, String) {
    let (mut peer, head, key) = read_upgrade_request(tcp).await;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    );
    peer.send(response.as_bytes()).await;
    (peer, head)
}

/// A listener whose first connection is handed to the test as a raw server peer, handshake done.
pub async fn raw_server() -> (SocketAddr, oneshot::Receiver<(RawPeer, String)>) {
    let (l, addr) = listener().await;
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let _ = tx.send(raw_server_handshake(tcp).await);
    });
    (addr, rx)
}

/// This process's memory as `/proc/self/status` reports it, in bytes: `field` is `VmRSS` (resident
/// now) or `VmHWM` (peak resident so far). For the tests that bound memory, each alone in its
/// binary so that no other test's allocations count.
pub fn proc_memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: u64 = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib << 10
}

// ---------------------------------------------------------------------------------------------
// Sessions over in-memory pipes, for the paused-clock tests
// ---------------------------------------------------------------------------------------------
//
// A test that runs on tokio's paused clock (`#[tokio::test(start_paused = true)]`) sees time jump
// to the next timer whenever the runtime has nothing to do. Over a real socket that can happen
// while bytes are still on their way, firing a timeout early; over an in-memory pipe nothing is
// ever in flight, so time moves only when every task is truly waiting. `connect` needs a real
// socket, so the client side is the session `connect` builds after its handshake: `wrap_io` over
// a [`FrameCodec`].

/// The buffer of each direction of a pipe.
pub const PIPE_BUFFER: usize = 64 << 10;

/// Our server (`accept` with `options`) on one end of an in-memory pipe, and on the other a raw
/// client that has done the upgrade.
pub async fn server_over_pipe(options: ServerOptions) -> (RawPeer<DuplexStream>, Reader, Writer) {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let server = tokio::spawn(accept(ours, options));
    let mut peer = RawPeer {
        tcp: theirs,
        buf: Vec::new(),
        client: true,
    };
    peer.send(upgrade_request("/", "").as_bytes()).await;
    let head = peer.read_head().await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let (_req, reader, writer) = soon(server).await.unwrap().unwrap();
    (peer, reader, writer)
}

/// Wraps one end of a pipe as a session in `role`, as `connect` (client) or `accept` (server)
/// would after the handshake.
fn session_over(
    stream: DuplexStream,
    role: Role,
    config: Config,
    heartbeat: Option<Heartbeat>,
) -> (Reader, Writer) {
    let (sink, frames) = Framed::new(stream, FrameCodec::new(role, &config)).split();
    let options = WrapOptions {
        heartbeat,
        mask: role == Role::Client,
        config,
    };
    wrap_io(frames, sink, options)
}

/// Our client's session (with `config` and `heartbeat`) on one end of an in-memory pipe, and on
/// the other a raw server.
pub fn client_over_pipe(
    config: Config,
    heartbeat: Option<Heartbeat>,
) -> (RawPeer<DuplexStream>, Reader, Writer) {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let (reader, writer) = session_over(ours, Role::Client, config, heartbeat);
    let peer = RawPeer {
        tcp: theirs,
        buf: Vec::new(),
        client: false,
    };
    (peer, reader, writer)
}

/// Our client's session (with `heartbeat`) connected over an in-memory pipe to our server's
/// session, which echoes every whole message (answering pings on the way) until the end.
pub fn client_of_pipe_echo(heartbeat: Option<Heartbeat>) -> (Reader, Writer) {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let (mut read, mut write) = session_over(theirs, Role::Server, Config::default(), None);
    tokio::spawn(async move {
        while let Ok(Some(msg)) = read.read_message().await {
            if write.write(msg).await.is_err() {
                break;
            }
        }
    });
    session_over(ours, Role::Client, Config::default(), heartbeat)
}

/// A unique path for a Unix socket under the system temp dir.
pub fn unix_socket_path(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::env::temp_dir().join(format!(
        "coro-ws-{tag}-{}-{n}-{nanos}.sock",
        std::process::id()
    ))
}

// ---------------------------------------------------------------------------------------------
// Servers and clients for the hostile-peer tests
// ---------------------------------------------------------------------------------------------

/// How one connection of an [`echo_server_with_outcomes`] ended: `Ok(())` when its reader
/// returned `Ok(None)`, else the error of `accept()` or of the read that ended it.
pub type Outcome = Result<(), Error>;

/// Like [`echo_server`], but reports how each connection ended, in the order they end.
pub async fn echo_server_with_outcomes(
    options: ServerOptions,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Outcome>) {
    let (l, addr) = listener().await;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let options = options.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let outcome = async {
                    let (_req, mut read, mut write) = accept(tcp, options).await?;
                    while let Some(msg) = read.read_message().await? {
                        write.write(msg).await?;
                    }
                    Ok(())
                }
                .await;
                let _ = tx.send(outcome);
            });
        }
    });
    (addr, rx)
}

/// Client options for a plain `ws://` connection to `addr`.
pub fn client_options(addr: SocketAddr) -> coro_websocket::Options {
    coro_websocket::Options {
        host: Some("127.0.0.1".into()),
        port: Some(addr.port()),
        ..Default::default()
    }
}

/// Connects our client to the echo server at `addr`, sends `text`, checks the echo and closes.
pub async fn echo_round_trip(addr: SocketAddr, text: &str) {
    use coro_websocket::{CloseCode, Message};
    let (_res, mut read, mut write) = soon(coro_websocket::connect(client_options(addr)))
        .await
        .unwrap_or_else(|e| panic!("connect for {text:?}: {e}"));
    soon(write.write(Message::text(text.to_owned())))
        .await
        .unwrap();
    let echo = soon(read.read_message()).await.unwrap().expect("an echo");
    assert_eq!(echo.as_text(), Some(text));
    soon(write.close(CloseCode::NORMAL, "")).await.unwrap();
    // The server echoes the close and ends the connection.
    assert!(soon(read.read_message()).await.unwrap().is_none());
}

/// Reads from `tcp` until EOF or an error (a reset); true if that came within `limit` with no
/// data before it.
pub async fn ends_without_data(tcp: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 256];
    matches!(
        tokio::time::timeout(limit, tcp.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// A wss echo server: TLS by `acceptor` (tokio-rustls), then `accept()` and an echo loop, for
/// every connection. A client that refuses the certificate ends its connection in the TLS
/// handshake.
pub async fn wss_echo_server(acceptor: tokio_rustls::TlsAcceptor) -> SocketAddr {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok((_, mut read, mut write)) = accept(tls, ServerOptions::default()).await
                else {
                    return;
                };
                while let Ok(Some(m)) = read.read_message().await {
                    if write.write(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A test CA (its PEM, for clients to trust) and a TLS acceptor serving a certificate it signed.
pub struct TestPki {
    pub ca_pem: String,
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// The server's configuration, for tests that change it (e.g. ALPN).
    pub config: std::sync::Arc<rustls::ServerConfig>,
}

/// Makes a CA with rcgen and a server certificate signed by it for the DNS `names`.
pub fn test_pki(names: &[&str]) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::CrlSign,
    ];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "coro-websocket test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut leaf_params = CertificateParams::new(names).unwrap();
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params
        .extended_key_usages
        .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let key: PrivateKeyDer<'static> = PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)
        .unwrap();
    let config = std::sync::Arc::new(config);
    TestPki {
        ca_pem: ca_cert.pem(),
        acceptor: tokio_rustls::TlsAcceptor::from(config.clone()),
        config,
    }
}

/// JSON-like text of exactly `len` bytes, compressible like real API traffic; `seed` varies it.
pub fn json_ish(len: usize, seed: u64) -> String {
    let mut s = String::from("[");
    let mut i = seed;
    while s.len() < len {
        s.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user-{}\",\"email\":\"user{}@example.org\",\"active\":{},\
             \"score\":{},\"tags\":[\"alpha\",\"beta\",\"gamma\"]}},",
            i % 97,
            i % 89,
            i % 3 == 0,
            (i * 7919) % 1000
        ));
        i += 1;
    }
    s.truncate(len.saturating_sub(1));
    s.push(']');
    s.truncate(len);
    s
}

/// Incompressible bytes (xorshift), reproducible from `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
