//! `coro-websocket serve`: an echo server over TCP, TLS or a Unix socket, speaking HTTP/1.1 and,
//! on TCP and TLS, HTTP/2 (RFC 8441) on the same port.
//!
//! What lives where:
//! - here: the flags, the settings they make ([`Site`]), and the run until a signal;
//! - `listen`: the listeners and, per connection, which HTTP it speaks (peeking at the HTTP/2
//!   preface on TCP, ALPN on TLS) and so who serves it;
//! - `service`: the hyper side (HTTP/2, and HTTP/1.1 with `--static`): WebSocket upgrades with
//!   `coro_websocket::upgrade`, the echo, the `-v` lines;
//! - `files`: `--static`, answering GETs with files from a directory;
//! - `pubsub`: `--pubsub`, topics instead of the echo, across processes with `--redis`/`--nats`;
//! - `trim`: giving the heap back to the system after a burst of large messages.
//!
//! HTTP/1.1 WebSockets without `--static` never touch hyper: they are `coro_websocket::accept`
//! over the raw stream, the path the benchmarks measure.

mod files;
mod listen;
mod pubsub;
mod service;
mod trim;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use coro_websocket::{DeflateConfig, MemoryBudget, ServerOptions};
use tokio_rustls::TlsAcceptor;

use listen::EchoServer;

/// Flags of `serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9001", value_name = "HOST:PORT")]
    listen: String,
    /// Listen on a Unix socket at PATH instead of TCP (HTTP/1.1; HTTP/2 only by ALPN, with TLS).
    #[arg(long, value_name = "PATH", conflicts_with = "listen")]
    unix: Option<PathBuf>,
    /// PEM certificate chain: serve wss:// (needs --tls-key); ALPN offers h2 and http/1.1.
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
    /// Answer GET and HEAD requests that are not WebSocket upgrades with files from DIR (over
    /// HTTP/1.1 and HTTP/2), so that a page and its WebSocket share one origin.
    #[arg(long = "static", value_name = "DIR")]
    static_dir: Option<PathBuf>,
    /// Print one line on stderr per accepted WebSocket: "accepted PEER PATH over HTTP/1.1"
    /// (or HTTP/2).
    #[arg(short, long)]
    verbose: bool,
    /// Instead of echoing, each connection joins the topic named by its request path, and every
    /// data message it sends goes, with its type, to every other member of that topic.
    #[arg(long)]
    pubsub: bool,
    /// With --pubsub: extend the topics across every serve attached to this Redis server.
    #[arg(
        long,
        value_name = "redis://HOST:PORT",
        requires = "pubsub",
        conflicts_with = "nats"
    )]
    redis: Option<String>,
    /// Serve on N threads, each a single-threaded runtime with its own SO_REUSEPORT listener on
    /// the same port (the kernel spreads connections over them; nothing is shared per
    /// message). Default: the number of CPUs this process may run on. Unix sockets: one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Bytes this server may hold for incoming data across all its connections (frame and
    /// reassembly buffers, inflated output; each connection's first 64 KiB are outside it).
    /// A connection that needs more than is left waits, then is closed with 1013.
    /// Default: 256 MiB (docs/limits.md).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    memory_budget: Option<u64>,
    /// How long a connection waits for room in the memory budget before it is closed with
    /// 1013 (try again later), in milliseconds. Default: 5000.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    budget_wait: Option<u64>,
    /// With --pubsub: extend the topics across every serve attached to this NATS server.
    #[arg(long, value_name = "nats://HOST:PORT", requires = "pubsub")]
    nats: Option<String>,
}

/// What every connection of one `serve` shares.
pub struct Site {
    /// The WebSocket options, the same over HTTP/1.1 and HTTP/2.
    pub options: ServerOptions,
    /// `--static`: the directory files are served from.
    pub static_dir: Option<PathBuf>,
    /// `-v`: a stderr line per accepted WebSocket.
    pub verbose: bool,
    /// `--pubsub`: the topics connections join, instead of the echo.
    pub topics: Option<coro_websocket::pubsub::Topics>,
}

impl Site {
    /// Echo with `options`: no files, no `-v` lines.
    fn echo(options: ServerOptions) -> Site {
        Site {
            options,
            static_dir: None,
            verbose: false,
            topics: None,
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

/// The WebSocket options the flags ask for.
fn server_options(args: &ServeArgs) -> Result<ServerOptions> {
    // The default options carry the process's server budget.
    let mut config = ServerOptions::default().config;
    if let Some(bytes) = args.memory_budget {
        let bytes = usize::try_from(bytes).context("--memory-budget exceeds the address space")?;
        config.memory_budget = Some(MemoryBudget::new(bytes));
    }
    if let Some(ms) = args.budget_wait {
        config.budget_wait = std::time::Duration::from_millis(ms);
    }
    if let Some(max) = args.max_message {
        config.max_message_size = max;
        config.max_frame_size = config.max_frame_size.min(max);
    }
    config.validate()?;
    Ok(ServerOptions {
        subprotocols: args.subprotocols.clone(),
        compression: args.compress.then(DeflateConfig::default),
        config,
        ..ServerOptions::default()
    })
}

/// The TLS acceptor of `--tls-cert` and `--tls-key`, if given.
fn tls_acceptor(args: &ServeArgs) -> Result<Option<TlsAcceptor>> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let cert = std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
    let key = std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
    Ok(Some(TlsAcceptor::from(crate::tls::server_config_from_pem(
        &cert, &key,
    )?)))
}

/// The CPUs this process may run on (its affinity: `taskset -c 0` makes it one).
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `--threads N`: N listeners on one port; the first is returned to run on this thread, each
/// other runs on a thread of its own with a single-threaded runtime.
#[cfg(unix)]
async fn spawn_group(
    listen: &str,
    threads: usize,
    tls: Option<TlsAcceptor>,
    site: Arc<Site>,
) -> Result<EchoServer> {
    let (first, others) =
        EchoServer::bind_tcp_group(listen, threads, tls.clone(), site.clone()).await?;
    for (i, listener) in others.into_iter().enumerate() {
        let (tls, site) = (tls.clone(), site.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a runtime for --threads")?;
        std::thread::Builder::new()
            .name(format!("serve-{}", i + 1))
            .spawn(move || {
                runtime.block_on(async move {
                    let server = EchoServer::from_std(listener, tls, site)?;
                    server.run().await
                })
            })
            .context("cannot start a thread for --threads")?;
    }
    Ok(first)
}

/// Without `SO_REUSEPORT`, one thread.
#[cfg(not(unix))]
async fn spawn_group(
    listen: &str,
    _threads: usize,
    tls: Option<TlsAcceptor>,
    site: Arc<Site>,
) -> Result<EchoServer> {
    EchoServer::bind_tcp(listen, tls, site).await
}

/// Runs `serve`.
pub async fn run(args: ServeArgs) -> Result<ExitCode> {
    let options = server_options(&args)?;
    let tls = tls_acceptor(&args)?;
    if let Some(dir) = &args.static_dir {
        anyhow::ensure!(dir.is_dir(), "--static {}: not a directory", dir.display());
    }
    let topics = match args.pubsub {
        true => Some(pubsub::topics(args.redis.as_deref(), args.nats.as_deref()).await?),
        false => None,
    };
    let site_budget = options.config.memory_budget.clone();
    let site = Arc::new(Site {
        options,
        static_dir: args.static_dir,
        verbose: args.verbose,
        topics,
    });
    let threads = args.threads.map_or_else(cpus, usize::from);
    let server = match args.unix {
        Some(path) => EchoServer::bind_unix(path, tls, site)?,
        None if threads > 1 => spawn_group(&args.listen, threads, tls, site).await?,
        None => EchoServer::bind_tcp(&args.listen, tls, site).await?,
    };
    if let Some(budget) = site_budget {
        trim::spawn(budget);
    }
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
        Arc::new(Site::echo(ServerOptions::default())),
    )
    .await?;
    let port = server.local_port.unwrap_or_default();
    tokio::spawn(server.run());
    Ok(port)
}
