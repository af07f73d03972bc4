//! `serve --static DIR`: files for GET and HEAD over HTTP/1.1 and HTTP/2 (plain and TLS), safe
//! path mapping, and WebSockets on the same port, with hyper's client.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use coro_websocket::{connect, Http, Message, Options, Tls, TlsConfig};
use http::{Method, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite};

mod common;
use common::{Server, TlsFiles};

const INDEX: &str = "<!doctype html><title>home</title>\n";
const SCRIPT: &str = "console.log('hi');\n";

/// DIR/site with index.html, app.js, sub/data.json and "sp ace.txt"; DIR/secret.txt outside
/// it. Removed on drop.
struct Site(PathBuf);

impl Site {
    fn new(tag: &str) -> Site {
        let dir = std::env::temp_dir().join(format!("coro-ws-static-{tag}-{}", std::process::id()));
        let site = dir.join("site");
        std::fs::create_dir_all(site.join("sub")).unwrap();
        std::fs::write(site.join("index.html"), INDEX).unwrap();
        std::fs::write(site.join("app.js"), SCRIPT).unwrap();
        std::fs::write(site.join("sub/data.json"), "{}").unwrap();
        std::fs::write(site.join("sp ace.txt"), "spaced").unwrap();
        std::fs::write(dir.join("secret.txt"), "do not serve").unwrap();
        Site(dir)
    }

    fn root(&self) -> String {
        self.0.join("site").to_str().unwrap().to_owned()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An answer: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

/// A rustls client trusting `ca` and offering `alpn`.
fn tls_connector(ca: &str, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Sends `method path` on a new connection over `io` with HTTP `version`.
async fn send<S>(io: S, version: Version, authority: &str, method: &Method, path: &str) -> Answer
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let request = http::Request::builder().method(method).version(version);
    let res = if version == Version::HTTP_2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = request.uri(format!("http://{authority}{path}"));
        sender
            .send_request(req.body(Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = request.uri(path).header(http::header::HOST, authority);
        sender
            .send_request(req.body(Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap()
    };
    assert_eq!(res.version(), version);
    let (parts, body) = res.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// `method path` to `server` over `version`, through TLS (ALPN) when `ca` is given.
async fn request(
    server: &Server,
    ca: Option<&str>,
    version: Version,
    method: Method,
    path: &str,
) -> Answer {
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let Some(ca) = ca else {
        return send(tcp, version, server.addr(), &method, path).await;
    };
    let alpn: &[u8] = if version == Version::HTTP_2 {
        b"h2"
    } else {
        b"http/1.1"
    };
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tls_connector(ca, alpn).connect(name, tcp).await.unwrap();
    send(tls, version, server.addr(), &method, path).await
}

/// Every check of one `serve --static` over one HTTP version.
async fn check_files(server: &Server, ca: Option<&str>, version: Version) {
    let get = |path: &'static str| request(server, ca, version, Method::GET, path);
    let a = get("/").await;
    assert_eq!((a.status, &a.body[..]), (StatusCode::OK, INDEX.as_bytes()));
    assert_eq!(a.headers["content-type"], "text/html; charset=utf-8");
    let a = get("/app.js?v=1").await;
    assert_eq!((a.status, &a.body[..]), (StatusCode::OK, SCRIPT.as_bytes()));
    assert_eq!(a.headers["content-type"], "text/javascript; charset=utf-8");
    let a = get("/sub/data.json").await;
    assert_eq!(a.headers["content-type"], "application/json");
    let a = get("/sp%20ace.txt").await;
    assert_eq!((a.status, &a.body[..]), (StatusCode::OK, &b"spaced"[..]));
    let a = get("/sub").await;
    assert_eq!(a.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(a.headers["location"], "/sub/");
    assert_eq!(get("/missing.html").await.status, StatusCode::NOT_FOUND);
    for escape in [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
    ] {
        let a = get(escape).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{escape}");
        assert!(a.body.is_empty(), "{escape}");
    }
    let a = request(server, ca, version, Method::HEAD, "/app.js").await;
    assert_eq!((a.status, a.body.len()), (StatusCode::OK, 0));
    assert_eq!(
        a.headers["content-length"],
        SCRIPT.len().to_string().as_str()
    );
    let a = request(server, ca, version, Method::POST, "/app.js").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.headers["allow"], "GET, HEAD");
}

/// A WebSocket on the static server, over `http`: one echo.
async fn websocket_too(server: &Server, ca: Option<&str>, http: Http) -> Version {
    let mut options = Options::from_url(&format!("{}/ws", server.url)).unwrap();
    options.http = http;
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        options.tls = Tls::Config(TlsConfig::new().add_root_pem(&pem).unwrap());
    }
    let (res, mut read, mut write) = connect(options).await.unwrap();
    write
        .write(Message::text("beside the files"))
        .await
        .unwrap();
    let echo = read.read_message().await.unwrap().unwrap();
    assert_eq!(&echo.payload[..], b"beside the files");
    res.version
}

async fn files_and_websockets(tls: Option<&TlsFiles>, tag: &str) {
    let site = Site::new(tag);
    let root = site.root();
    let flags = ["--static", &root, "-v"];
    let server = match tls {
        Some(files) => files.serve_with(&flags),
        None => Server::start(&[&["--listen", "127.0.0.1:0"], &flags[..]].concat()),
    };
    let ca = tls.map(|files| files.ca.as_str());
    for version in [Version::HTTP_11, Version::HTTP_2] {
        check_files(&server, ca, version).await;
    }
    assert_eq!(
        websocket_too(&server, ca, Http::Http1).await,
        Version::HTTP_11
    );
    assert_eq!(
        websocket_too(&server, ca, Http::Http2).await,
        Version::HTTP_2
    );
    let err = server.stderr_at_exit();
    let overs: Vec<&str> = err
        .lines()
        .filter_map(|l| l.split(" /ws over ").nth(1))
        .collect();
    assert_eq!(overs, ["HTTP/1.1", "HTTP/2"], "{err}");
}

#[tokio::test]
async fn static_files_over_http1_and_h2c() {
    files_and_websockets(None, "plain").await;
}

#[tokio::test]
async fn static_files_over_tls_http1_and_h2() {
    let files = TlsFiles::new("static-tls");
    files_and_websockets(Some(&files), "tls").await;
}

#[test]
fn static_needs_a_directory() {
    let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-directory");
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--static"])
        .arg(&missing)
        .output()
        .unwrap();
    let (code, stdout, stderr) = common::outcome(out);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not a directory"), "{stderr}");
}
