//! The client's choice of HTTP version: HTTP/2 when offered (ALPN over TLS, prior knowledge
//! over TCP), the fallback to HTTP/1.1, and the typed errors of strict HTTP/2.

use std::sync::Arc;

use coro_websocket::error::Http2Error;
use coro_websocket::{Error, Http, Options, Tls, TlsConfig};

use super::apps::hyper_server;
use super::common::{echo_server, test_pki};
use super::{echo_both, options};

#[tokio::test]
async fn when_offered_falls_back_to_http1_on_a_server_without_http2() {
    let addr = echo_server(Default::default()).await;
    let (res, mut read, mut write) =
        coro_websocket::connect(options(addr, "/", Http::Http2WhenOffered))
            .await
            .unwrap();
    assert_eq!((res.code, res.version), (101, http::Version::HTTP_11));
    echo_both(&mut read, &mut write).await;
}

#[tokio::test]
async fn strict_http2_fails_clearly_on_a_server_without_http2() {
    let addr = echo_server(Default::default()).await;
    let err = coro_websocket::connect(options(addr, "/", Http::Http2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Http2(Http2Error::Connection(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_server_without_extended_connect_is_a_typed_error_or_a_fallback() {
    let addr = hyper_server(false, None).await;
    let err = coro_websocket::connect(options(addr, "/", Http::Http2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Http2(Http2Error::ExtendedConnectNotOffered)),
        "{err:?}"
    );
    let (res, mut read, mut write) =
        coro_websocket::connect(options(addr, "/", Http::Http2WhenOffered))
            .await
            .unwrap();
    assert_eq!(res.version, http::Version::HTTP_11);
    echo_both(&mut read, &mut write).await;
}

#[tokio::test]
async fn hyper_with_extended_connect_takes_http2_by_prior_knowledge() {
    let addr = hyper_server(true, None).await;
    for http in [Http::Http2, Http::Http2WhenOffered] {
        let (res, mut read, mut write) = coro_websocket::connect(options(addr, "/x", http))
            .await
            .unwrap();
        assert_eq!((res.code, res.version), (200, http::Version::HTTP_2));
        echo_both(&mut read, &mut write).await;
    }
}

#[tokio::test]
async fn over_tls_alpn_decides() {
    let pki = test_pki(&["localhost"]);
    let mut h2_config = (*pki.config).clone();
    h2_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let both = hyper_server(true, Some(Arc::new(h2_config).into())).await;
    let h1_only = hyper_server(true, Some(pki.acceptor.clone())).await;
    let tls = || {
        let config = TlsConfig::new()
            .add_root_pem(pki.ca_pem.as_bytes())
            .unwrap();
        Tls::Config(config.server_name("localhost"))
    };
    let over = |addr: std::net::SocketAddr, http| Options {
        tls: tls(),
        ..options(addr, "/", http)
    };
    for (addr, http, version) in [
        (both, Http::Http2WhenOffered, http::Version::HTTP_2),
        (both, Http::Http2, http::Version::HTTP_2),
        (both, Http::Http1, http::Version::HTTP_11),
        (h1_only, Http::Http2WhenOffered, http::Version::HTTP_11),
    ] {
        let (res, mut read, mut write) = coro_websocket::connect(over(addr, http))
            .await
            .unwrap_or_else(|e| panic!("{http:?}: {e}"));
        assert_eq!(res.version, version, "{http:?}");
        echo_both(&mut read, &mut write).await;
    }
    let err = coro_websocket::connect(over(h1_only, Http::Http2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Http2(Http2Error::NotNegotiated)),
        "{err:?}"
    );
}
