//! The listeners of `serve`, and for each connection the choice of who serves it: HTTP/2 (the
//! client preface on TCP, ALPN `h2` on TLS) and `--static` go to hyper (`service`), anything else
//! to `coro_websocket::accept` over the stream itself, as before HTTP/2 existed.
//!
//! It must not buffer or consume a byte of a connection it hands to `accept`: on TCP it only
//! peeks.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::{AsyncRead, AsyncWrite, Interest};
use tokio::net::{TcpListener, TcpStream};
#[cfg(unix)]
use tokio::net::{UnixListener, UnixStream};
use tokio_rustls::TlsAcceptor;

use super::service::{self, Peer, Protocols};
use super::Site;

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A bound echo server, ready to run.
pub struct EchoServer {
    listener: Listener,
    tls: Option<TlsAcceptor>,
    site: Arc<Site>,
    /// The URL clients connect to, as printed on start.
    pub url: String,
    /// The TCP port, when listening on TCP.
    pub local_port: Option<u16>,
}

enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(UnixListener, PathBuf),
}

impl EchoServer {
    /// Binds a TCP echo server.
    pub async fn bind_tcp(
        addr: &str,
        tls: Option<TlsAcceptor>,
        site: Arc<Site>,
    ) -> Result<EchoServer> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        EchoServer::on_tcp(listener, tls, site)
    }

    /// `n` listeners on one address with `SO_REUSEPORT` (the kernel spreads new connections
    /// over them), for `--threads`: the first bound as `addr` says (port 0 picks one), the
    /// others on the same port. The others come back as std listeners, to move to their
    /// threads' runtimes.
    #[cfg(unix)]
    pub async fn bind_tcp_group(
        addr: &str,
        n: usize,
        tls: Option<TlsAcceptor>,
        site: Arc<Site>,
    ) -> Result<(EchoServer, Vec<std::net::TcpListener>)> {
        let wanted = tokio::net::lookup_host(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?
            .next()
            .with_context(|| format!("cannot listen on {addr}: no address"))?;
        let first =
            reuseport_listener(wanted).with_context(|| format!("cannot listen on {addr}"))?;
        let local = first.local_addr()?;
        let mut others = Vec::with_capacity(n.saturating_sub(1));
        for _ in 1..n {
            let listener = reuseport_listener(local)
                .with_context(|| format!("cannot listen on {local} again (SO_REUSEPORT)"))?;
            others.push(listener.into_std()?);
        }
        Ok((EchoServer::on_tcp(first, tls, site)?, others))
    }

    /// A server on a listener bound elsewhere (a `--threads` group's).
    pub fn from_std(
        listener: std::net::TcpListener,
        tls: Option<TlsAcceptor>,
        site: Arc<Site>,
    ) -> Result<EchoServer> {
        EchoServer::on_tcp(TcpListener::from_std(listener)?, tls, site)
    }

    fn on_tcp(listener: TcpListener, tls: Option<TlsAcceptor>, site: Arc<Site>) -> Result<Self> {
        let local = listener.local_addr()?;
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        Ok(EchoServer {
            listener: Listener::Tcp(listener),
            tls,
            site,
            url: format!("{scheme}://{local}"),
            local_port: Some(local.port()),
        })
    }

    #[cfg(not(unix))]
    pub fn bind_unix(path: PathBuf, _: Option<TlsAcceptor>, _: Arc<Site>) -> Result<Self> {
        anyhow::bail!(
            "cannot listen on {}: Unix sockets are not supported on this platform",
            path.display()
        )
    }

    /// Binds a Unix socket echo server at `path`, replacing a socket file left there.
    #[cfg(unix)]
    pub fn bind_unix(path: PathBuf, tls: Option<TlsAcceptor>, site: Arc<Site>) -> Result<Self> {
        // A socket file left by an earlier run would make bind fail.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        }) {
            std::fs::remove_file(&path)?;
        }
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        Ok(EchoServer {
            url: format!("ws+unix://{}", path.display()),
            listener: Listener::Unix(listener, path),
            tls,
            site,
            local_port: None,
        })
    }

    /// Accepts connections forever, serving each in its own task.
    pub async fn run(self) -> Result<()> {
        loop {
            match &self.listener {
                Listener::Tcp(l) => {
                    let (stream, peer) = l.accept().await?;
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_tcp(
                        stream,
                        self.tls.clone(),
                        self.site.clone(),
                        Peer::from(peer.to_string()),
                    ));
                }
                #[cfg(unix)]
                Listener::Unix(l, path) => {
                    let (stream, _) = l.accept().await?;
                    // A Unix client's own address is almost always unnamed: name the socket.
                    let peer = Peer::from(path.display().to_string());
                    tokio::spawn(serve_unix(
                        stream,
                        self.tls.clone(),
                        self.site.clone(),
                        peer,
                    ));
                }
            }
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Listener::Unix(_, path) = &self.listener {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A listening socket with `SO_REUSEPORT` set before it was bound.
#[cfg(unix)]
fn reuseport_listener(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Serves one TCP connection: TLS first if configured; then HTTP/2 if it opens with the client
/// preface, else HTTP/1.1. With `--static`, hyper tells the two apart itself.
// An `async move` block, not an async fn: an async fn stores its arguments twice (see
// `service::echo`).
#[allow(clippy::manual_async_fn)]
fn serve_tcp(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    site: Arc<Site>,
    peer: Peer,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        // The other branches are boxed: a task is as large as its largest branch for its whole
        // life, and `accept`'s echo (the common case, by the ten thousand) is the smallest.
        if let Some(acceptor) = tls {
            return Box::pin(serve_tls(tcp, acceptor, site, peer, Protocols::Both)).await;
        }
        if site.static_dir.is_some() {
            return Box::pin(service::serve(tcp, site, peer, Protocols::Both)).await;
        }
        let limit = site.options.config.handshake_timeout;
        match tokio::time::timeout(limit, opens_with_preface(&tcp)).await {
            Ok(Ok(Some(true))) => Box::pin(service::serve(tcp, site, peer, Protocols::Http2)).await,
            Ok(Ok(Some(false))) => service::accept_and_echo(tcp, site, peer).await,
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::debug!("reading the first bytes failed: {e}"),
            Err(_) => tracing::debug!("no request within {limit:?}"),
        }
    }
}

/// Serves one Unix socket connection: HTTP/1.1 (HTTP/2 only if TLS agreed on it by ALPN).
#[cfg(unix)]
async fn serve_unix(stream: UnixStream, tls: Option<TlsAcceptor>, site: Arc<Site>, peer: Peer) {
    match tls {
        // Boxed, as in `serve_tcp`.
        Some(acceptor) => Box::pin(serve_tls(stream, acceptor, site, peer, Protocols::Http1)).await,
        None => serve_http1(stream, site, peer, Protocols::Http1).await,
    }
}

/// The TLS handshake, then HTTP/2 if ALPN chose `h2`, else HTTP/1.1 (`http1`: what hyper may
/// speak there with `--static`).
async fn serve_tls<S>(
    stream: S,
    acceptor: TlsAcceptor,
    site: Arc<Site>,
    peer: Peer,
    http1: Protocols,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let limit = site.options.config.handshake_timeout;
    let tls = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return tracing::debug!("TLS handshake failed: {e}"),
        Err(_) => return tracing::debug!("TLS handshake timed out"),
    };
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        Box::pin(service::serve(tls, site, peer, Protocols::Http2)).await
    } else {
        serve_http1(tls, site, peer, http1).await
    }
}

/// An HTTP/1.1 connection: `accept` and echo over the stream itself, or with `--static` hyper
/// speaking `protocols`.
async fn serve_http1<S>(stream: S, site: Arc<Site>, peer: Peer, protocols: Protocols)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    if site.static_dir.is_some() {
        Box::pin(service::serve(stream, site, peer, protocols)).await
    } else {
        service::accept_and_echo(stream, site, peer).await
    }
}

/// Whether the connection opens with the HTTP/2 client preface, peeking without consuming a
/// byte: `Some(false)` at the first byte that differs (or if the client half-closes inside the
/// preface), `Some(true)` once the whole preface is there, `None` if the connection ends before
/// any byte.
async fn opens_with_preface(tcp: &TcpStream) -> io::Result<Option<bool>> {
    let mut buf = [0u8; PREFACE.len()];
    loop {
        let ready = tcp.ready(Interest::READABLE).await?;
        let n = tcp.peek(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        if buf[..n] != PREFACE[..n] {
            return Ok(Some(false));
        }
        if n == PREFACE.len() {
            return Ok(Some(true));
        }
        if ready.is_read_closed() {
            // No more bytes can come: not HTTP/2. `accept` reads what there is and answers it.
            return Ok(Some(false));
        }
        tracing::debug!("{n} bytes of the HTTP/2 preface so far: waiting for the rest");
        // A prefix of the preface, waiting for the rest. Peeking leaves the socket readable in
        // tokio's eyes, so the next peek would return at once, forever: clear that readiness;
        // the next segment (or the FIN) sets it again. A wake-up with nothing new (epoll
        // reports every ready direction when any changes) only goes round again. The runtime
        // is single-threaded, so no readiness can be recorded between the peek and this.
        let _ = tcp.try_io(Interest::READABLE, || {
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
    }
}
