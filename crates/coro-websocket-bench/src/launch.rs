//! Starting a server that announces itself: `coro-websocket serve`, the examples and the peer
//! echo servers all print `listening on URL` as their first stdout line once they accept.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

/// Spawns `command` with its stdout piped, and waits for its `listening on URL` line; returns
/// the child (to stop by its PID) and the URL.
///
/// # Errors
/// If it cannot be started, or its first line is not `listening on URL`.
pub fn announced(command: &mut Command) -> Result<(Child, String)> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let mut line = String::new();
    let stdout = child.stdout.take().context("no stdout")?;
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| {
            format!(
                "{:?} printed {line:?}, not `listening on URL`",
                command.get_program()
            )
        })?
        .to_owned();
    Ok((child, url))
}
