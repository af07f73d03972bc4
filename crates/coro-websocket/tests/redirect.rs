//! Redirects of the upgrade request, against real servers that answer 3xx through
//! `ServerOptions::on_request` and echo otherwise.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use coro_websocket::{
    accept, connect,
    error::{HandshakeError, RedirectError},
    Error, Headers, Message, Options, Proxy, Rejection, ServerOptions, Tls, TlsConfig,
};
use tokio::net::TcpListener;

/// The requests a server saw: path and headers.
type Seen = Arc<Mutex<Vec<(String, Headers)>>>;

/// Where a path redirects: status and Location, or `None` to accept.
type Routes = Arc<dyn Fn(&str) -> Option<(u16, Option<String>)> + Send + Sync>;

fn hooked(routes: Routes, seen: Seen) -> ServerOptions {
    ServerOptions {
        on_request: Some(Arc::new(move |req| {
            seen.lock()
                .unwrap()
                .push((req.path.clone(), req.headers.clone()));
            match routes(&req.path) {
                None => Ok(()),
                Some((status, location)) => {
                    let mut r = Rejection::new(status, "moved");
                    if let Some(l) = location {
                        r.headers.push("Location", l);
                    }
                    Err(r)
                }
            }
        })),
        ..Default::default()
    }
}

async fn serve_echo(
    l: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    options: ServerOptions,
) {
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let (options, tls) = (options.clone(), tls.clone());
            tokio::spawn(async move {
                let session = match tls {
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(s) => accept(s, options).await,
                        Err(_) => return,
                    },
                    None => accept(tcp, options).await,
                };
                let Ok((_, mut read, mut write)) = session else {
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
}

/// A ws server routing by `routes`; its address and the requests it saw.
async fn server(
    routes: impl Fn(SocketAddr, &str) -> Option<(u16, Option<String>)> + Send + Sync + 'static,
) -> (SocketAddr, Seen) {
    let (l, addr) = listener().await;
    let seen = Seen::default();
    let routes: Routes = Arc::new(move |path| routes(addr, path));
    serve_echo(l, None, hooked(routes, seen.clone())).await;
    (addr, seen)
}

fn options(url: &str) -> Options {
    Options {
        proxy: Proxy::None,
        ..Options::from_url(url).unwrap()
    }
}

async fn echo(options: Options) -> Result<Vec<String>, Error> {
    let (res, mut read, mut write) = connect(options).await?;
    write.write(Message::text("hi")).await?;
    assert_eq!(
        soon(read.read_message()).await?.unwrap().as_text(),
        Some("hi")
    );
    write.close(coro_websocket::CloseCode::NORMAL, "").await?;
    Ok(res.url_chain)
}

#[tokio::test]
async fn every_redirect_status_is_followed() {
    let (dest, _) = server(|_, _| None).await;
    for status in [301, 302, 303, 307, 308] {
        // http:// in Location maps to ws://.
        let scheme = if status == 303 { "http" } else { "ws" };
        let location = format!("{scheme}://127.0.0.1:{}/dest?s={status}", dest.port());
        let (start, _) = server(move |_, _| Some((status, Some(location.clone())))).await;
        let chain = echo(options(&format!("ws://127.0.0.1:{}/", start.port())))
            .await
            .unwrap();
        assert_eq!(
            chain,
            vec![
                format!("ws://127.0.0.1:{}/", start.port()),
                format!("ws://127.0.0.1:{}/dest?s={status}", dest.port()),
            ]
        );
    }
}

#[tokio::test]
async fn no_redirect_gives_a_one_entry_chain() {
    let (addr, _) = server(|_, _| None).await;
    let url = format!("ws://127.0.0.1:{}/x", addr.port());
    assert_eq!(echo(options(&url)).await.unwrap(), vec![url]);
}

#[tokio::test]
async fn relative_location_keeps_headers_on_the_same_host() {
    let (addr, seen) = server(|_, path| match path {
        "/old" => Some((302, Some("new?x=1".into()))),
        _ => None,
    })
    .await;
    let mut opts = options(&format!("ws://127.0.0.1:{}/old", addr.port()));
    opts.headers.push("Authorization", "Bearer t0ken");
    let chain = echo(opts).await.unwrap();
    assert_eq!(chain[1], format!("ws://127.0.0.1:{}/new?x=1", addr.port()));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].0, "/new?x=1");
    assert_eq!(seen[1].1.get("authorization"), Some("Bearer t0ken"));
}

#[tokio::test]
async fn credentials_and_custom_headers_stay_with_the_original_host() {
    let (dest, dest_seen) = server(|_, _| None).await;
    // Same machine, another host name: the headers must not follow.
    let location = format!("ws://localhost:{}/", dest.port());
    let (start, start_seen) = server(move |_, _| Some((307, Some(location.clone())))).await;
    let mut opts = options(&format!("ws://127.0.0.1:{}/", start.port()));
    opts.headers.push("Authorization", "Basic c2VjcmV0");
    opts.headers.push("X-Custom", "1");
    echo(opts).await.unwrap();
    assert_eq!(
        start_seen.lock().unwrap()[0].1.get("authorization"),
        Some("Basic c2VjcmV0")
    );
    let dest_seen = dest_seen.lock().unwrap();
    assert_eq!(dest_seen[0].1.get("authorization"), None);
    assert_eq!(dest_seen[0].1.get("x-custom"), None);
    assert_eq!(
        dest_seen[0].1.get("host"),
        Some(format!("localhost:{}", dest.port()).as_str())
    );
}

#[tokio::test]
async fn a_redirect_loop_ends_with_a_typed_error() {
    let (addr, seen) = server(|_, path| match path {
        "/a" => Some((302, Some("/b".into()))),
        _ => Some((302, Some("/a".into()))),
    })
    .await;
    let err = connect(options(&format!("ws://127.0.0.1:{}/a", addr.port())))
        .await
        .unwrap_err();
    assert_eq!(
        match err {
            Error::Redirect(e) => e,
            other => panic!("{other:?}"),
        },
        RedirectError::Loop(format!("ws://127.0.0.1:{}/a", addr.port()))
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn the_redirect_limit_is_enforced() {
    // /1 -> /2 -> /3 -> ... never ends.
    let (addr, seen) = server(|_, path| {
        let n: u32 = path[1..].parse().unwrap();
        Some((301, Some(format!("/{}", n + 1))))
    })
    .await;
    let url = format!("ws://127.0.0.1:{}/1", addr.port());
    let err = connect(options(&url)).await.unwrap_err();
    assert!(
        matches!(err, Error::Redirect(RedirectError::TooMany(10))),
        "{err:?}"
    );
    assert_eq!(seen.lock().unwrap().len(), 11);

    let mut opts = options(&url);
    opts.max_redirects = 2;
    let err = connect(opts).await.unwrap_err();
    assert!(
        matches!(err, Error::Redirect(RedirectError::TooMany(2))),
        "{err:?}"
    );

    // 0 follows nothing: the 3xx is a refused upgrade, as before.
    let mut opts = options(&url);
    opts.max_redirects = 0;
    let err = connect(opts).await.unwrap_err();
    assert_eq!(err.http_status(), Some(301));
    assert!(matches!(err, Error::Handshake(HandshakeError::Rejected(_))));
}

#[tokio::test]
async fn a_redirect_without_location_is_an_error() {
    let (addr, _) = server(|_, _| Some((302, None))).await;
    let err = connect(options(&format!("ws://127.0.0.1:{}/", addr.port())))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Redirect(RedirectError::InvalidLocation(_))),
        "{err:?}"
    );
}

/// A wss server with a self-signed certificate that redirects every request to `location`.
async fn wss_redirector(location: String) -> SocketAddr {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls_pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key.into())
    .unwrap();
    let (l, addr) = listener().await;
    let routes: Routes = Arc::new(move |_| Some((302, Some(location.clone()))));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    serve_echo(l, Some(acceptor), hooked(routes, Seen::default())).await;
    addr
}

#[tokio::test]
async fn wss_to_ws_is_refused_unless_allowed() {
    let (dest, _) = server(|_, _| None).await;
    let location = format!("ws://127.0.0.1:{}/plain", dest.port());
    let start = wss_redirector(location.clone()).await;
    let secure = || {
        let mut opts = options(&format!("wss://localhost:{}/", start.port()));
        opts.tls = Tls::Config(TlsConfig::new().dangerous_accept_invalid_certs(true));
        opts
    };
    let err = connect(secure()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Redirect(RedirectError::Insecure(to)) if *to == location),
        "{err:?}"
    );
    let mut allowed = secure();
    allowed.allow_insecure_redirects = true;
    let chain = echo(allowed).await.unwrap();
    assert_eq!(chain.last(), Some(&location));
}
