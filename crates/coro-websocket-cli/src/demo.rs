//! `coro-websocket demo`: the seed's example, run offline against an embedded WSS echo server
//! whose certificate is generated at start.

use std::process::ExitCode;

use anyhow::Result;
use coro_websocket::{connect, Message, Options, TlsConfig};

/// Runs `demo`.
pub async fn run() -> Result<ExitCode> {
    let certs = crate::tls::generate_demo_certs()?;
    let server_config = crate::tls::server_config_from_pem(
        certs.server_cert_pem.as_bytes(),
        certs.server_key_pem.as_bytes(),
    )?;
    let port = crate::serve::spawn_tls_echo(server_config).await?;

    // The seed's example, line for line: connect to a WSS echo server ...
    let (res, mut read, mut write) = connect(Options {
        host: Some("localhost".into()),
        port: Some(port),
        tls: TlsConfig::new()
            .add_root_pem(certs.ca_pem.as_bytes())?
            .into(),
        ..Default::default()
    })
    .await?;
    // ... send a message (opcode 2 by default) with the payload "Hello There!" ...
    write
        .write(Message {
            payload: "Hello There!".into(),
            ..Default::default()
        })
        .await?;
    // ... and print what comes back, then shut the connection down.
    while let Some(msg) = read.read().await? {
        println!(
            "Host responded with {}",
            String::from_utf8_lossy(&msg.payload)
        );
        res.socket.shutdown();
    }
    println!("Connection closed!");
    Ok(ExitCode::SUCCESS)
}
