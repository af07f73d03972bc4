//! The generator's transport: a plain `TcpStream` for ws://, or tokio-rustls over one for wss://,
//! behind one enum so the load loop in `conn.rs` is written once over `AsyncRead`/`AsyncWrite`.
//!
//! It owns connecting and the TLS handshake; it must not add buffering of its own: every byte the
//! load loop writes or reads goes straight to the socket or to rustls.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{bail, Context, Result};
use coro_websocket::{TlsConfig, WsUrl};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// One connection's byte stream.
pub enum BenchStream {
    /// ws://
    Plain(TcpStream),
    /// wss://
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for BenchStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            BenchStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for BenchStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            BenchStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_flush(cx),
            BenchStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            BenchStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The `--ca FILE` and `--insecure` flags of `bench` (and of the CLI's `connect`, which shares
/// their meaning) as the library's TLS settings: trust the PEM CA certificates in FILE if given,
/// else the Mozilla roots; or, with `insecure`, any certificate.
///
/// # Errors
/// An unreadable CA file, or one that holds no usable certificate.
pub fn tls_settings(ca: Option<&Path>, insecure: bool) -> Result<TlsConfig> {
    let mut tls = TlsConfig::new();
    if let Some(path) = ca {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        tls = tls.add_root_pem(&pem)?;
    }
    Ok(tls.dangerous_accept_invalid_certs(insecure))
}

/// How to reach the server: its address, and for wss:// the TLS connector and server name.
pub struct Transport {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Transport {
    /// The transport for `url` at `addr`. `ca` (a PEM file) and `insecure` apply to wss:// only.
    ///
    /// # Errors
    /// `--ca` or `--insecure` with a ws:// URL, an unreadable CA file, or a host that is not a
    /// valid TLS server name.
    pub fn new(url: &WsUrl, addr: SocketAddr, ca: Option<&Path>, insecure: bool) -> Result<Self> {
        if !url.tls {
            if ca.is_some() || insecure {
                bail!("--ca and --insecure need a wss:// URL");
            }
            return Ok(Transport { addr, tls: None });
        }
        let config = tls_settings(ca, insecure)?.client_config()?;
        let name = ServerName::try_from(url.host.clone())
            .with_context(|| format!("{:?} is not a valid TLS server name", url.host))?;
        Ok(Transport {
            addr,
            tls: Some((TlsConnector::from(config), name)),
        })
    }

    /// Opens a TCP connection (no Nagle) and, for wss://, completes the TLS handshake on it.
    ///
    /// # Errors
    /// The connection is refused, or the TLS handshake fails (e.g. an untrusted certificate).
    pub async fn connect(&self) -> Result<BenchStream> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        tcp.set_nodelay(true)?;
        Ok(match &self.tls {
            None => BenchStream::Plain(tcp),
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .context("TLS handshake failed")?;
                BenchStream::Tls(Box::new(tls))
            }
        })
    }
}
