//! `coro-websocket`: the command-line tool. Its flags and outputs follow
//! the CLI contract (see the README), a stable interface for scripts.

mod autobahn;
mod connect;
mod demo;
mod serve;
mod tls;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// WebSocket (RFC 6455) echo server, interactive client and demo.
#[derive(Parser, Debug)]
#[command(name = "coro-websocket", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an echo server: every data message is sent back with the same type.
    Serve(serve::ServeArgs),
    /// Connect to a WebSocket server: stdin lines out, received messages to stdout.
    Connect(connect::ConnectArgs),
    /// Run the seed's example against an embedded WSS echo server (offline).
    Demo,
    /// Be the client testee of an Autobahn|Testsuite fuzzingserver.
    Autobahn(autobahn::AutobahnArgs),
    /// Load-test an echo server: msg/s, MiB/s and round-trip latency.
    Bench(coro_websocket_bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Connect(args) => connect::run(args).await,
            Command::Demo => demo::run().await,
            Command::Autobahn(args) => autobahn::run(args).await,
            Command::Bench(args) => coro_websocket_bench::run(args).await,
        }
    });
    // Don't wait for a blocking stdin read (`connect`) that nothing will ever finish: the
    // session is over, and the exit status is decided.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            // `{:#}`: the context and its cause on one line. The library's errors name their
            // causes themselves and return none as `source()`, so nothing prints twice.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
