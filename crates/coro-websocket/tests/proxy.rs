//! Proxies, against real proxies started here: an HTTP CONNECT proxy written below (plain TCP or
//! TLS to the proxy, optional Basic auth) and a SOCKS5 server from fast-socks5 (no auth or
//! username/password, names resolved by the server). Origins named `*.test` exist only for the
//! proxies, which map them to the local echo servers: a connection to one proves the name was
//! resolved by the proxy.
//!
//! Only `proxy_settings_come_from_the_environment` touches the process environment; every other
//! test names its proxy explicitly, so the environment cannot change what it does.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::*;
use coro_websocket::{
    connect, proxy::ProxyError, Error, Message, Options, Proxy, ServerOptions, Tls, TlsConfig,
};
use fast_socks5::server::Socks5ServerProtocol;
use fast_socks5::util::target_addr::TargetAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

fn pki() -> TestPki {
    test_pki(&["localhost", "origin.test"])
}

fn trusting(pki: &TestPki) -> Tls {
    Tls::Config(
        TlsConfig::new()
            .add_root_pem(pki.ca_pem.as_bytes())
            .unwrap(),
    )
}

/// An HTTP CONNECT proxy for tests.
#[derive(Clone, Default)]
struct ConnectProxy {
    /// `user:password` the proxy requires, if any.
    credentials: Option<String>,
    /// TLS to the proxy.
    tls: Option<TlsAcceptor>,
    /// Where `*.test` names lead.
    test_origin: Option<SocketAddr>,
    /// The CONNECT targets asked for, in order.
    seen: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    async fn start(self) -> SocketAddr {
        let (l, addr) = listener().await;
        tokio::spawn(async move {
            while let Ok((tcp, _)) = l.accept().await {
                let proxy = self.clone();
                tokio::spawn(async move {
                    match proxy.tls.clone() {
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                proxy.serve(tls).await;
                            }
                        }
                        None => proxy.serve(tcp).await,
                    }
                });
            }
        });
        addr
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut client: S) {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            if client.read(&mut byte).await.unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let target = head
            .strip_prefix("CONNECT ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or("")
            .to_owned();
        self.seen.lock().unwrap().push(target.clone());
        if let Some(credentials) = &self.credentials {
            let expected = format!(
                "proxy-authorization: basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            );
            if !head.lines().any(|l| l.eq_ignore_ascii_case(&expected)) {
                let _ = client
                    .write_all(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                          Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
                    )
                    .await;
                return;
            }
        }
        let (host, port) = target.rsplit_once(':').unwrap_or((&target, "80"));
        if host == "forbidden.test" {
            let _ = client
                .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        }
        let upstream = match (host.ends_with(".test"), self.test_origin) {
            (true, Some(origin)) => TcpStream::connect(origin).await,
            _ => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                TcpStream::connect((host, port.parse::<u16>().unwrap())).await
            }
        };
        let Ok(mut upstream) = upstream else {
            let _ = client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        };
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

/// A SOCKS5 proxy by fast-socks5. Domain names are resolved by the proxy; `*.test` names lead
/// to `test_origin`, `refused.test` is refused by ruleset (reply 2).
#[derive(Clone, Default)]
struct SocksProxy {
    credentials: Option<(String, String)>,
    test_origin: Option<SocketAddr>,
    /// The targets asked for: `domain:port` or `ip:port`.
    seen: Arc<Mutex<Vec<String>>>,
}

impl SocksProxy {
    async fn start(self) -> SocketAddr {
        let (l, addr) = listener().await;
        tokio::spawn(async move {
            while let Ok((tcp, _)) = l.accept().await {
                let proxy = self.clone();
                tokio::spawn(async move {
                    let _ = proxy.serve(tcp).await;
                });
            }
        });
        addr
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    async fn serve(&self, tcp: TcpStream) -> Result<(), Box<dyn std::error::Error>> {
        let proto = match &self.credentials {
            None => Socks5ServerProtocol::accept_no_auth(tcp).await?,
            Some((user, password)) => {
                Socks5ServerProtocol::accept_password_auth(tcp, |u, p| u == *user && p == *password)
                    .await?
                    .0
            }
        };
        let (proto, _command, target) = proto.read_command().await?;
        self.seen.lock().unwrap().push(target.to_string());
        let target = match &target {
            TargetAddr::Domain(name, _) if name == "refused.test" => {
                proto
                    .reply_error(&fast_socks5::ReplyError::ConnectionNotAllowed)
                    .await?;
                return Ok(());
            }
            TargetAddr::Domain(name, _) if name.ends_with(".test") => {
                TargetAddr::Ip(self.test_origin.expect("a test origin"))
            }
            _ => target,
        };
        fast_socks5::server::run_tcp_proxy(proto, &target, Duration::from_secs(5), true).await?;
        Ok(())
    }
}

/// Options for `url` through `proxy`.
fn via(url: &str, proxy: String) -> Options {
    Options {
        proxy: Proxy::Url(proxy),
        ..Options::from_url(url).unwrap()
    }
}

async fn echo_through(options: Options) -> Result<(), Error> {
    let (_res, mut read, mut write) = connect(options).await?;
    write.write(Message::text("through the proxy")).await?;
    let big = vec![7u8; 100_000];
    write.write(Message::binary(big.clone())).await?;
    let reply = soon(read.read_message()).await?.unwrap();
    assert_eq!(reply.as_text(), Some("through the proxy"));
    assert_eq!(soon(read.read_message()).await?.unwrap().payload, big);
    write.close(coro_websocket::CloseCode::NORMAL, "").await?;
    assert!(soon(read.read_message()).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn http_connect_proxy_tunnels_ws() {
    let origin = echo_server(ServerOptions::default()).await;
    let proxy = ConnectProxy::default();
    let paddr = proxy.clone().start().await;
    let url = format!("ws://127.0.0.1:{}/", origin.port());
    echo_through(via(&url, format!("http://{paddr}")))
        .await
        .unwrap();
    assert_eq!(proxy.seen(), vec![format!("127.0.0.1:{}", origin.port())]);
    // Without a scheme, the proxy URL is an HTTP proxy.
    echo_through(via(&url, paddr.to_string())).await.unwrap();
    assert_eq!(proxy.seen().len(), 2);
}

#[tokio::test]
async fn http_proxy_resolves_the_origin_name() {
    let origin = echo_server(ServerOptions::default()).await;
    let proxy = ConnectProxy {
        test_origin: Some(origin),
        ..Default::default()
    };
    let paddr = proxy.clone().start().await;
    echo_through(via("ws://origin.test:1234/", format!("http://{paddr}")))
        .await
        .unwrap();
    assert_eq!(proxy.seen(), vec!["origin.test:1234".to_owned()]);
}

#[tokio::test]
async fn http_proxy_basic_auth_succeeds_with_the_right_credentials() {
    let origin = echo_server(ServerOptions::default()).await;
    let proxy = ConnectProxy {
        credentials: Some("alice:s3cret pass".into()),
        ..Default::default()
    };
    let paddr = proxy.clone().start().await;
    let url = format!("ws://127.0.0.1:{}/", origin.port());
    echo_through(via(&url, format!("http://alice:s3cret%20pass@{paddr}")))
        .await
        .unwrap();
}

#[tokio::test]
async fn http_proxy_auth_failure_is_a_typed_407() {
    let origin = echo_server(ServerOptions::default()).await;
    let proxy = ConnectProxy {
        credentials: Some("alice:right".into()),
        ..Default::default()
    };
    let paddr = proxy.start().await;
    let url = format!("ws://127.0.0.1:{}/", origin.port());
    for proxy_url in [
        format!("http://alice:wrong@{paddr}"),
        format!("http://{paddr}"),
    ] {
        let err = connect(via(&url, proxy_url)).await.unwrap_err();
        assert!(
            matches!(err, Error::Proxy(ProxyError::AuthFailed { status: 407 })),
            "{err:?}"
        );
        assert!(err.to_string().contains("407"), "{err}");
    }
}

#[tokio::test]
async fn http_proxy_refusal_carries_the_status() {
    let proxy = ConnectProxy::default().start().await;
    let err = connect(via("ws://forbidden.test/", format!("http://{proxy}")))
        .await
        .unwrap_err();
    match err {
        Error::Proxy(ProxyError::ConnectRefused { status, reason }) => {
            assert_eq!((status, reason.as_str()), (403, "Forbidden"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unreachable_proxy_is_reported_as_such() {
    let (_refusing, addr) = refusing_port();
    let err = connect(via("ws://origin.test/", format!("http://{addr}")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Proxy(ProxyError::Unreachable { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn https_proxy_with_tls_to_the_proxy() {
    let pki = pki();
    let origin = echo_server(ServerOptions::default()).await;
    let proxy = ConnectProxy {
        tls: Some(pki.acceptor.clone()),
        credentials: Some("u:p".into()),
        test_origin: Some(origin),
        ..Default::default()
    };
    let paddr = proxy.clone().start().await;
    let mut options = via(
        "ws://origin.test/",
        format!("https://u:p@localhost:{}", paddr.port()),
    );
    options.proxy_tls = trusting(&pki);
    echo_through(options).await.unwrap();
    assert_eq!(proxy.seen(), vec!["origin.test:80".to_owned()]);

    // The proxy's certificate is checked: the default roots do not trust it.
    let options = via(
        "ws://origin.test/",
        format!("https://u:p@localhost:{}", paddr.port()),
    );
    let err = connect(options).await.unwrap_err();
    assert!(matches!(err, Error::Proxy(ProxyError::Tls(_))), "{err:?}");
}

#[tokio::test]
async fn wss_is_tunnelled_with_tls_to_the_origin() {
    let pki = pki();
    let origin = wss_echo_server(pki.acceptor.clone()).await;
    // Plain HTTP proxy: the proxy sees only the CONNECT and opaque TLS.
    let proxy = ConnectProxy {
        test_origin: Some(origin),
        ..Default::default()
    };
    let paddr = proxy.clone().start().await;
    let mut options = via("wss://origin.test/", format!("http://{paddr}"));
    options.tls = trusting(&pki);
    echo_through(options).await.unwrap();
    assert_eq!(proxy.seen(), vec!["origin.test:443".to_owned()]);

    // TLS to the proxy, and TLS to the origin inside it.
    let tls_proxy = ConnectProxy {
        tls: Some(pki.acceptor.clone()),
        test_origin: Some(origin),
        ..Default::default()
    }
    .start()
    .await;
    let mut options = via(
        "wss://origin.test/",
        format!("https://localhost:{}", tls_proxy.port()),
    );
    options.tls = trusting(&pki);
    options.proxy_tls = trusting(&pki);
    echo_through(options).await.unwrap();
}

#[tokio::test]
async fn socks5h_sends_the_name_to_the_proxy() {
    let origin = echo_server(ServerOptions::default()).await;
    let proxy = SocksProxy {
        test_origin: Some(origin),
        ..Default::default()
    };
    let paddr = proxy.clone().start().await;
    echo_through(via("ws://origin.test:8080/", format!("socks5h://{paddr}")))
        .await
        .unwrap();
    assert_eq!(proxy.seen(), vec!["origin.test:8080".to_owned()]);
}

#[tokio::test]
async fn socks5_resolves_names_locally() {
    let origin = echo_server(ServerOptions::default()).await;
    let proxy = SocksProxy::default();
    let paddr = proxy.clone().start().await;
    // The origin listens on 127.0.0.1 only; localhost may resolve to ::1 first.
    echo_through(via(
        &format!("ws://127.0.0.1:{}/", origin.port()),
        format!("socks5://{paddr}"),
    ))
    .await
    .unwrap();
    let seen = proxy.seen();
    assert_eq!(seen, vec![format!("127.0.0.1:{}", origin.port())]);
    // A name is resolved here: the proxy gets an address, not the name.
    let (_refusing, refusing) = refusing_port();
    let _ = connect(via(
        &format!("ws://localhost:{}/", refusing.port()),
        format!("socks5://{paddr}"),
    ))
    .await;
    let seen = proxy.seen();
    assert!(!seen[1].contains("localhost"), "{seen:?}");
}

#[tokio::test]
async fn socks5_password_auth_success_and_failure() {
    let origin = echo_server(ServerOptions::default()).await;
    let proxy = SocksProxy {
        credentials: Some(("bob".into(), "pw".into())),
        test_origin: Some(origin),
        ..Default::default()
    };
    let paddr = proxy.start().await;
    echo_through(via(
        "ws://origin.test/",
        format!("socks5h://bob:pw@{paddr}"),
    ))
    .await
    .unwrap();
    let err = connect(via(
        "ws://origin.test/",
        format!("socks5h://bob:nope@{paddr}"),
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Proxy(ProxyError::AuthFailed { .. })),
        "{err:?}"
    );
    // No credentials offered to a proxy that wants some.
    let err = connect(via("ws://origin.test/", format!("socks5h://{paddr}")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Proxy(ProxyError::AuthFailed { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn socks5_refusal_carries_the_reply_code() {
    let proxy = SocksProxy::default().start().await;
    let err = connect(via("ws://refused.test/", format!("socks5h://{proxy}")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Proxy(ProxyError::SocksReply { code: 2 })),
        "{err:?}"
    );
    assert!(err.to_string().contains("not allowed"), "{err}");
}

#[tokio::test]
async fn wss_through_socks5() {
    let pki = pki();
    let origin = wss_echo_server(pki.acceptor.clone()).await;
    let proxy = SocksProxy {
        test_origin: Some(origin),
        ..Default::default()
    }
    .start()
    .await;
    let mut options = via("wss://origin.test/", format!("socks5h://{proxy}"));
    options.tls = trusting(&pki);
    echo_through(options).await.unwrap();
}

/// The one test that sets process environment variables; nothing else here reads them.
#[tokio::test]
async fn proxy_settings_come_from_the_environment() {
    let origin = echo_server(ServerOptions::default()).await;
    let proxy = ConnectProxy {
        test_origin: Some(origin),
        ..Default::default()
    };
    let paddr = proxy.clone().start().await;
    let names = [
        "ws_proxy",
        "WS_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
        "wss_proxy",
        "WSS_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
    ];
    for name in names {
        std::env::remove_var(name);
    }
    std::env::set_var("ws_proxy", format!("http://{paddr}"));
    let from_env = || Options::from_url("ws://origin.test/").unwrap();
    echo_through(from_env()).await.unwrap();
    assert_eq!(proxy.seen(), vec!["origin.test:80".to_owned()]);

    // An explicit "no proxy" overrides the environment: the name does not resolve here.
    let err = connect(Options {
        proxy: Proxy::None,
        ..from_env()
    })
    .await
    .unwrap_err();
    assert!(!matches!(err, Error::Proxy(_)), "{err:?}");

    // no_proxy exempts the host (by domain suffix), so the connection is direct and fails.
    std::env::set_var("no_proxy", "example.org, .test");
    let err = connect(from_env()).await.unwrap_err();
    assert!(!matches!(err, Error::Proxy(_)), "{err:?}");
    assert_eq!(proxy.seen().len(), 1);

    // Loopback never goes through an environment proxy.
    std::env::set_var("no_proxy", "");
    std::env::set_var("ws_proxy", "http://127.0.0.1:1");
    echo_through(Options::from_url(&format!("ws://127.0.0.1:{}/", origin.port())).unwrap())
        .await
        .unwrap();
    for name in names {
        std::env::remove_var(name);
    }
}
