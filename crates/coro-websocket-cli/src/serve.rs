//! `coro-websocket serve`: an echo server over TCP, TLS or a Unix socket.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use coro_websocket::{accept, Config, DeflateConfig, ServerOptions};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
#[cfg(unix)]
use tokio::net::UnixListener;
use tokio_rustls::TlsAcceptor;

/// Flags of `serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9001", value_name = "HOST:PORT")]
    listen: String,
    /// Listen on a Unix socket at PATH instead of TCP.
    #[arg(long, value_name = "PATH", conflicts_with = "listen")]
    unix: Option<PathBuf>,
    /// PEM certificate chain: serve wss:// (needs --tls-key).
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A subprotocol to accept; the first one the client offers among these is selected.
    #[arg(long = "subprotocol", value_name = "P")]
    subprotocols: Vec<String>,
    /// Largest message accepted, in bytes; larger ones are closed with 1009.
    #[arg(long, value_name = "BYTES")]
    max_message: Option<u64>,
    /// Accept permessage-deflate offers (RFC 7692); without it, offers are declined.
    #[arg(long)]
    compress: bool,
}

/// A bound echo server, ready to run.
pub struct EchoServer {
    listener: Listener,
    tls: Option<TlsAcceptor>,
    options: ServerOptions,
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
        options: ServerOptions,
    ) -> Result<EchoServer> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        Ok(EchoServer {
            listener: Listener::Tcp(listener),
            tls,
            options,
            url: format!("{scheme}://{local}"),
            local_port: Some(local.port()),
        })
    }

    #[cfg(not(unix))]
    fn bind_unix(path: PathBuf, _: Option<TlsAcceptor>, _: ServerOptions) -> Result<Self> {
        anyhow::bail!(
            "cannot listen on {}: Unix sockets are not supported on this platform",
            path.display()
        )
    }

    #[cfg(unix)]
    fn bind_unix(path: PathBuf, tls: Option<TlsAcceptor>, options: ServerOptions) -> Result<Self> {
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
            options,
            local_port: None,
        })
    }

    /// Accepts connections forever, echoing on each in its own task.
    pub async fn run(self) -> Result<()> {
        loop {
            match &self.listener {
                Listener::Tcp(l) => {
                    let (stream, _) = l.accept().await?;
                    let _ = stream.set_nodelay(true);
                    self.spawn(stream);
                }
                #[cfg(unix)]
                Listener::Unix(l, _) => {
                    let (stream, _) = l.accept().await?;
                    self.spawn(stream);
                }
            }
        }
    }

    fn spawn<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let options = self.options.clone();
        match self.tls.clone() {
            Some(acceptor) => {
                tokio::spawn(async move {
                    let limit = options.config.handshake_timeout;
                    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => echo(tls, options).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
            None => {
                tokio::spawn(echo(stream, options));
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

/// Echoes every data message back with the same type until the connection ends.
async fn echo<S>(stream: S, options: ServerOptions)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (_, mut reader, mut writer) = match accept(stream, options).await {
        Ok(accepted) => accepted,
        Err(e) => {
            tracing::debug!("handshake failed: {e}");
            return;
        }
    };
    loop {
        match reader.read_message().await {
            Ok(Some(message)) => {
                if let Err(e) = writer.write(message).await {
                    tracing::debug!("write failed: {e}");
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!("connection ended: {e}");
                break;
            }
        }
    }
}

/// Registers SIGINT and SIGTERM handlers now, and returns a future that resolves on either.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Ctrl-C, where there are no Unix signals.
#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Runs `serve`.
pub async fn run(args: ServeArgs) -> Result<ExitCode> {
    let mut config = Config::default();
    if let Some(max) = args.max_message {
        config.max_message_size = max;
        config.max_frame_size = config.max_frame_size.min(max);
    }
    config.validate()?;
    let options = ServerOptions {
        subprotocols: args.subprotocols,
        compression: args.compress.then(DeflateConfig::default),
        config,
        ..ServerOptions::default()
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let cert =
                std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
            let key =
                std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
            Some(TlsAcceptor::from(crate::tls::server_config_from_pem(
                &cert, &key,
            )?))
        }
        _ => None,
    };
    let server = match args.unix {
        Some(path) => EchoServer::bind_unix(path, tls, options)?,
        None => EchoServer::bind_tcp(&args.listen, tls, options).await?,
    };
    let signal = shutdown_signal()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", server.url)?;
        out.flush()?;
    }
    tokio::select! {
        result = server.run() => result?,
        () = signal => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// An in-process TLS echo server for the demo: returns its port.
pub async fn spawn_tls_echo(server_config: Arc<rustls::ServerConfig>) -> Result<u16> {
    let server = EchoServer::bind_tcp(
        "127.0.0.1:0",
        Some(TlsAcceptor::from(server_config)),
        ServerOptions::default(),
    )
    .await?;
    let port = server.local_port.unwrap_or_default();
    tokio::spawn(server.run());
    Ok(port)
}
