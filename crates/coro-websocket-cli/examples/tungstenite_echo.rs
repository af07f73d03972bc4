//! A tokio-tungstenite echo server for the comparison bench, written as tokio-tungstenite's own
//! `echo-server` example is: `accept_async`, then the read half forwarded into the write half
//! (`forward` flushes only when the read half has nothing buffered). Single-threaded runtime, like
//! `coro-websocket serve`. With `--tls-cert`/`--tls-key` it serves wss:// through tokio-rustls.
//!
//! `cargo run --release -p coro-websocket-cli --example tungstenite_echo -- 127.0.0.1:0
//! [--tls-cert CERT.pem --tls-key KEY.pem]`

#[path = "support/echo_args.rs"]
mod echo_args;

use std::error::Error;
use std::io::Write;

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

async fn echo<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (write, read) = ws.split();
    let _ = read
        .try_filter(|m| future::ready(m.is_text() || m.is_binary()))
        .forward(write)
        .await;
}

async fn serve(stream: TcpStream, tls: Option<TlsAcceptor>) {
    let _ = stream.set_nodelay(true);
    match tls {
        None => echo(stream).await,
        Some(acceptor) => {
            if let Ok(stream) = acceptor.accept(stream).await {
                echo(stream).await;
            }
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args = echo_args::parse("127.0.0.1:9002")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(&args.addr).await?;
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
            tokio::spawn(serve(stream, args.tls.clone()));
        }
    })
}
