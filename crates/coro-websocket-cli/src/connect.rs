//! `coro-websocket connect`: an interactive client. Stdin lines go out as messages; received
//! data messages are printed one per line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use bytes::Bytes;
use clap::Args;
use coro_websocket::{
    connect,
    reconnect::{Backoff, Reconnect},
    CloseCode, DeflateConfig, Heartbeat, Http, Message, Opcode, Options, Proxy, Reader, Response,
    Tls, TlsConfig, Writer,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Flags of `connect`.
#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// The ws:// or wss:// URL to connect to.
    url: String,
    /// An extra request header, "Name: value" (repeatable, sent in order).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The subprotocol(s) to offer.
    #[arg(long, value_name = "P")]
    subprotocol: Option<String>,
    /// Send stdin lines as binary messages instead of text.
    #[arg(long)]
    binary: bool,
    /// Trust this PEM CA certificate (wss).
    #[arg(long, value_name = "CERT.pem")]
    ca: Option<PathBuf>,
    /// Accept any server certificate (wss). Insecure: for testing only.
    #[arg(long)]
    insecure: bool,
    /// Connect through a Unix socket at PATH (the URL still gives the path and Host).
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
    /// Ping every MS milliseconds and give up if the server stays silent for as long.
    #[arg(long, value_name = "MS")]
    heartbeat: Option<u64>,
    /// Time allowed for connecting, TLS and the upgrade, in milliseconds (default 10000).
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
    /// Offer permessage-deflate (RFC 7692); stderr says whether the server accepted it.
    #[arg(long)]
    compress: bool,
    /// Connect through this proxy: http://, https://, socks5:// or socks5h:// (user:password@
    /// for credentials). Default: from wss_proxy/ws_proxy, https_proxy/http_proxy, all_proxy
    /// and no_proxy (lower case first), except that localhost, 127.0.0.0/8 and ::1 are never
    /// proxied (as Go does; curl proxies them unless no_proxy names them).
    #[arg(long, value_name = "URL", conflicts_with = "no_proxy")]
    proxy: Option<String>,
    /// Connect directly, ignoring proxy environment variables.
    #[arg(long)]
    no_proxy: bool,
    /// Keep the session alive: reconnect with backoff after a drop or an abnormal close,
    /// printing a line on stderr each time. Stops after a normal close or a 4xx refusal.
    #[arg(long)]
    reconnect: bool,
    /// Connect over HTTP/2 (RFC 8441 extended CONNECT; ALPN h2 over TLS, prior knowledge over
    /// TCP); fail if the server does not offer it.
    #[arg(long)]
    http2: bool,
    /// Say on stderr which protocol the connection uses: "connected to URL over HTTP/2" (or
    /// HTTP/1.1).
    #[arg(short, long)]
    verbose: bool,
}

fn options(args: &ConnectArgs) -> Result<Options> {
    let mut options = Options::from_url(&args.url)?;
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            bail!("invalid header {header:?}: expected \"Name: value\"");
        };
        options.headers.push(name.trim(), value.trim());
    }
    options.subprotocol = args.subprotocol.clone();
    if args.no_proxy {
        options.proxy = Proxy::None;
    } else if let Some(url) = &args.proxy {
        options.proxy = Proxy::Url(url.clone());
    }
    options.compression = args.compress.then(DeflateConfig::default);
    if args.http2 {
        options.http = Http::Http2;
    }
    if let Some(ms) = args.timeout {
        options.timeout = Some(Duration::from_millis(ms));
    }
    if let Some(ms) = args.heartbeat {
        let every = Duration::from_millis(ms);
        options.heartbeat = Some(Heartbeat::ping(every, every));
    }
    if args.ca.is_some() || args.insecure {
        if !options.tls.is_on() {
            bail!("--ca and --insecure need a wss:// URL");
        }
        options.tls = Tls::Config(crate::tls::settings(args.ca.as_deref(), args.insecure)?);
    }
    if let Some(path) = &args.unix {
        // The URL's host still names the server for Host and TLS; the socket is the transport.
        let host = options.host.take();
        options.port = None;
        options.path = Some(path.clone());
        if let (Some(host), Tls::On) = (host, &options.tls) {
            options.tls = Tls::Config(TlsConfig::new().server_name(host));
        }
    }
    Ok(options)
}

/// Runs `connect`.
pub async fn run(args: ConnectArgs) -> Result<ExitCode> {
    let options = options(&args)?;
    if args.reconnect {
        return run_reconnecting(args, options).await;
    }
    let (response, reader, writer) = connect(options).await?;
    if args.verbose {
        say_connected(&args.url, &response);
    }
    if args.compress {
        match &response.extensions {
            Some(agreed) => eprintln!("compression: {agreed}"),
            None => eprintln!("compression: declined by the server"),
        }
    }
    tracing::info!(
        "connected: {} {}, subprotocol {:?}",
        response.code,
        response.reason,
        response.subprotocol
    );
    let opcode = if args.binary {
        Opcode::Binary
    } else {
        Opcode::Text
    };
    let sender = tokio::spawn(send_stdin(writer, opcode));
    let outcome = print_messages(reader).await;
    sender.abort();
    outcome
}

/// The `-v` line: `connected to URL over HTTP/2` (or HTTP/1.1).
fn say_connected(url: &str, response: &Response) {
    let over = if response.version >= http::Version::HTTP_2 {
        "HTTP/2"
    } else {
        "HTTP/1.1"
    };
    eprintln!("connected to {url} over {over}");
}

/// Sends each stdin line as one message; at EOF sends close 1000.
async fn send_stdin(mut writer: Writer, opcode: Opcode) -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        writer
            .write(Message::new(opcode, Bytes::from(line.into_bytes())))
            .await?;
    }
    writer.close(CloseCode::NORMAL, "").await?;
    Ok(())
}

/// Prints each data message; decides the exit status from how the connection ended.
async fn print_messages(mut reader: Reader) -> Result<ExitCode> {
    Ok(match print_until_end(&mut reader).await? {
        Ending::Normal => ExitCode::SUCCESS,
        failure => {
            eprintln!("{failure}");
            ExitCode::FAILURE
        }
    })
}

/// How a connection ended, as `connect` reports it.
enum Ending {
    Normal,
    Closed(CloseCode, String),
    Error(coro_websocket::Error),
    NoCloseFrame,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Normal => write!(f, "closed normally"),
            Ending::Closed(code, reason) => write!(f, "closed: {code} {reason}"),
            Ending::Error(e) => write!(f, "error: {e}"),
            Ending::NoCloseFrame => write!(f, "error: connection ended without a close frame"),
        }
    }
}

/// Prints each data message until the connection ends; says how it ended.
async fn print_until_end(reader: &mut Reader) -> Result<Ending> {
    let mut stdout = tokio::io::stdout();
    loop {
        match reader.read_message().await {
            Ok(Some(message)) => {
                stdout.write_all(&message.payload).await?;
                stdout.write_all(b"\n").await?;
                stdout.flush().await?;
            }
            Ok(None) => break,
            Err(e) => return Ok(Ending::Error(e)),
        }
    }
    Ok(match reader.close_frame() {
        Some(frame)
            if frame.has_status()
                && frame.code != CloseCode::NORMAL
                && frame.code != CloseCode::GOING_AWAY =>
        {
            Ending::Closed(frame.code, frame.reason)
        }
        Some(_) => Ending::Normal,
        None => Ending::NoCloseFrame,
    })
}

/// `connect --reconnect`: one stdin, many connections. Lines typed while disconnected wait for
/// the next connection.
async fn run_reconnecting(args: ConnectArgs, options: Options) -> Result<ExitCode> {
    let opcode = if args.binary {
        Opcode::Binary
    } else {
        Opcode::Text
    };
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let mut stdin = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            if lines_tx.send(line).await.is_err() {
                break;
            }
        }
    });
    let mut connections = Reconnect::new(options, Backoff::default());
    let mut connected_before = false;
    let mut last_error = None;
    while let Some(attempt) = connections.next().await {
        let (response, mut reader, mut writer) = match attempt {
            Ok(connection) => connection,
            Err(e) => {
                eprintln!("reconnect: attempt failed: {e}");
                last_error = Some(e);
                continue;
            }
        };
        if connected_before {
            eprintln!("reconnect: connected again to {}", args.url);
        }
        if args.verbose {
            say_connected(&args.url, &response);
        }
        connected_before = true;
        let mut printing = tokio::spawn(async move {
            let ending = print_until_end(&mut reader).await;
            // Dropping the reader here tells `connections` how the connection ended.
            drop(reader);
            ending
        });
        let ending = loop {
            tokio::select! {
                line = lines.recv() => match line {
                    Some(line) => {
                        let message = Message::new(opcode, Bytes::from(line.into_bytes()));
                        // A failed write means the connection dropped: the reader says how.
                        let _ = writer.write(message).await;
                    }
                    None => {
                        // stdin EOF: close normally, wait for the answer, stop.
                        let _ = writer.close(CloseCode::NORMAL, "").await;
                        let _ = printing.await;
                        return Ok(ExitCode::SUCCESS);
                    }
                },
                ending = &mut printing => break ending??,
            }
        };
        match ending {
            Ending::Normal => return Ok(ExitCode::SUCCESS),
            ending => eprintln!("reconnect: connection lost ({ending}), reconnecting"),
        }
    }
    match last_error {
        Some(e) => eprintln!("error: giving up: {e}"),
        None => eprintln!("error: giving up"),
    }
    Ok(ExitCode::FAILURE)
}
