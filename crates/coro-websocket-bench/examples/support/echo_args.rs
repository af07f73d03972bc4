//! Shared by the echo servers of the comparison bench (`tungstenite_echo`, `fastws_echo`,
//! `sockudo_echo`, and our `batch_echo`): their command line, `[ADDR] [--tls-cert CERT.pem --tls-key KEY.pem]`, and the tokio-rustls
//! acceptor for wss://, configured as `coro-websocket serve --tls-cert` is (rustls with ring, safe
//! default protocol versions), so TLS costs the same in every server.
//!
//! Not an example of its own: each server includes it with `#[path]` and `#[macro_use]`, and
//! gets its `main` from [`echo_server_main!`].

use std::error::Error;
use std::sync::Arc;

use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A peer echo server's command line.
pub struct EchoArgs {
    /// Address to listen on.
    pub addr: String,
    /// Present with --tls-cert and --tls-key: serve wss://.
    pub tls: Option<TlsAcceptor>,
}

impl EchoArgs {
    /// `ws` or `wss`, for the `listening on` line.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "wss"
        } else {
            "ws"
        }
    }
}

/// Parses `[ADDR] [--tls-cert CERT.pem --tls-key KEY.pem]`, `ADDR` defaulting to `default_addr`.
pub fn parse(default_addr: &str) -> Result<EchoArgs, Box<dyn Error>> {
    let (mut addr, mut cert, mut key) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls-cert" => cert = Some(args.next().ok_or("--tls-cert needs a PEM file")?),
            "--tls-key" => key = Some(args.next().ok_or("--tls-key needs a PEM file")?),
            a if a.starts_with("--") => return Err(format!("unknown option {a}").into()),
            _ if addr.is_none() => addr = Some(arg),
            _ => return Err(format!("unexpected argument {arg}").into()),
        }
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(acceptor(&cert, &key)?),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(EchoArgs {
        addr: addr.unwrap_or_else(|| default_addr.to_owned()),
        tls,
    })
}

fn acceptor(cert: &str, key: &str) -> Result<TlsAcceptor, Box<dyn Error>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read {cert}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{cert}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("no certificate in {cert}").into());
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The `main` of a peer echo server: parse the command line, listen, print the
/// `listening on ws[s]://ADDR` line, and hand every connection (TCP with Nagle off, or TLS over
/// it) to `$handle` in its own task, on a current-thread runtime. A macro so that each server's
/// handler stays generic over its stream: no boxed I/O in the measured path.
macro_rules! echo_server_main {
    ($default_addr:expr, $handle:ident) => {
        fn main() {
            if let Err(e) = run() {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }

        fn run() -> Result<(), Box<dyn std::error::Error>> {
            use std::io::Write;
            let args = echo_args::parse($default_addr)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(&args.addr).await?;
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "listening on {}://{}",
                    args.scheme(),
                    listener.local_addr()?
                )?;
                out.flush()?;
                drop(out);
                loop {
                    let (stream, _) = listener.accept().await?;
                    let _ = stream.set_nodelay(true);
                    let tls = args.tls.clone();
                    tokio::spawn(async move {
                        match tls {
                            None => $handle(stream).await,
                            Some(acceptor) => {
                                if let Ok(stream) = acceptor.accept(stream).await {
                                    $handle(stream).await;
                                }
                            }
                        }
                    });
                }
            })
        }
    };
}
