//! wss: a tokio-rustls acceptor in front of `accept()`, with a CA and server certificate made by
//! rcgen, and the client's TLS options against it.

mod common;

use std::net::SocketAddr;

use common::*;
use coro_websocket::{connect, Error, Message, Options, Tls, TlsConfig};

fn pki() -> TestPki {
    test_pki(&["localhost"])
}

async fn wss_echo_server(pki: &TestPki) -> SocketAddr {
    common::wss_echo_server(pki.acceptor.clone()).await
}

fn wss(host: &str, addr: SocketAddr, tls: Tls) -> Options {
    Options {
        host: Some(host.into()),
        port: Some(addr.port()),
        tls,
        ..Default::default()
    }
}

async fn echo_once(options: Options) -> Result<(), Error> {
    let (res, mut read, mut write) = connect(options).await?;
    assert_eq!(res.code, 101);
    write.write(Message::text("over tls")).await?;
    let big = vec![0xA5u8; 200_000];
    write.write(Message::binary(big.clone())).await?;
    let text = soon(read.read_message()).await?.unwrap();
    assert_eq!(text.as_text(), Some("over tls"));
    let bin = soon(read.read_message()).await?.unwrap();
    assert_eq!(&bin.payload[..], &big[..]);
    write.close(coro_websocket::CloseCode::NORMAL, "").await?;
    assert!(soon(read.read_message()).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn wss_with_a_custom_root_echoes() {
    let pki = pki();
    let addr = wss_echo_server(&pki).await;
    let tls = TlsConfig::new()
        .add_root_pem(pki.ca_pem.as_bytes())
        .unwrap();
    // "localhost" may resolve to ::1 first; connect falls back to 127.0.0.1.
    echo_once(wss("localhost", addr, Tls::Config(tls)))
        .await
        .unwrap();
}

#[tokio::test]
async fn wss_url_with_custom_root() {
    let pki = pki();
    let addr = wss_echo_server(&pki).await;
    let mut options = Options::from_url(&format!("wss://localhost:{}/x", addr.port())).unwrap();
    assert!(options.tls.is_on());
    options.tls = TlsConfig::new()
        .add_root_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .into();
    echo_once(options).await.unwrap();
}

#[tokio::test]
async fn default_tls_rejects_an_unknown_issuer() {
    let pki = pki();
    let addr = wss_echo_server(&pki).await;
    let err = connect(wss("localhost", addr, Tls::On)).await.unwrap_err();
    let Error::Tls(e) = &err else {
        panic!("expected a TLS error, got {err:?}");
    };
    let text = e.to_string();
    assert!(
        text.contains("UnknownIssuer") && text.contains("certificate"),
        "{text}"
    );
}

#[tokio::test]
async fn dangerous_accept_invalid_certs_connects() {
    let pki = pki();
    let addr = wss_echo_server(&pki).await;
    let tls = TlsConfig::new().dangerous_accept_invalid_certs(true);
    // Neither the issuer nor the name (an IP, not "localhost") would pass verification.
    echo_once(wss("127.0.0.1", addr, Tls::Config(tls)))
        .await
        .unwrap();
}

#[tokio::test]
async fn server_name_override_verifies_against_that_name() {
    let pki = pki();
    let addr = wss_echo_server(&pki).await;
    let root = || {
        TlsConfig::new()
            .add_root_pem(pki.ca_pem.as_bytes())
            .unwrap()
    };
    // The certificate is for "localhost", not for the IP connected to...
    let err = connect(wss("127.0.0.1", addr, Tls::Config(root())))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Tls(e) if format!("{e:?}").contains("NotValidForName")),
        "{err:?}"
    );
    // ...so naming it makes the same connection succeed.
    echo_once(wss(
        "127.0.0.1",
        addr,
        Tls::Config(root().server_name("localhost")),
    ))
    .await
    .unwrap();
}

#[test]
fn bad_root_pem_is_a_config_error() {
    let err = TlsConfig::new()
        .add_root_pem(b"-----BEGIN NOTHING-----\n")
        .unwrap_err();
    assert!(matches!(err, Error::TlsConfig(_)), "{err:?}");
}
