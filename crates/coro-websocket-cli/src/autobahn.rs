//! `coro-websocket autobahn`: the client testee for the Autobahn|Testsuite's fuzzingserver mode.
//!
//! It asks the suite how many cases there are, runs each one as an echo client (every text and
//! binary message sent back until the close), then asks the suite to write its reports.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use coro_websocket::{connect, DeflateConfig, Options};

/// Flags of `autobahn`.
#[derive(Args, Debug)]
pub struct AutobahnArgs {
    /// The fuzzingserver's URL.
    #[arg(long, default_value = "ws://127.0.0.1:9001")]
    url: String,
    /// The agent name under which the reports are filed.
    #[arg(long, default_value = "coro-websocket")]
    agent: String,
    /// Run only these case numbers (1-based, as the suite counts), e.g. `--cases 1-20,45`.
    #[arg(long, value_name = "LIST")]
    cases: Option<String>,
}

fn options(base: &str, path: &str) -> Result<Options> {
    Options::from_url(&format!("{}{path}", base.trim_end_matches('/')))
        .with_context(|| format!("invalid URL {base}"))
}

/// Parses `1-20,45` into case numbers.
fn parse_cases(list: &str, count: u32) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (a.parse()?, b.parse()?),
            None => (part.parse()?, part.parse()?),
        };
        out.extend((from..=to).filter(|c| (1..=count).contains(c)));
    }
    Ok(out)
}

/// Echoes every data message on one case's connection until it ends.
async fn run_case(base: &str, case: u32, agent: &str) -> Result<()> {
    let mut options = options(base, &format!("/runCase?case={case}&agent={agent}"))?;
    // Sections 12 and 13 test permessage-deflate; the other sections ignore the offer.
    options.compression = Some(DeflateConfig::default());
    let (_res, mut reader, mut writer) = connect(options).await?;
    while let Ok(Some(message)) = reader.read_message().await {
        if writer.write(message).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Runs `autobahn`.
pub async fn run(args: AutobahnArgs) -> Result<ExitCode> {
    let (_res, mut reader, _writer) = connect(options(&args.url, "/getCaseCount")?)
        .await
        .context("cannot reach the fuzzingserver")?;
    let count: u32 = match reader.read_message().await? {
        Some(m) => String::from_utf8_lossy(&m.payload).trim().parse()?,
        None => anyhow::bail!("the fuzzingserver sent no case count"),
    };
    while reader.read().await?.is_some() {}
    let cases = match &args.cases {
        Some(list) => parse_cases(list, count)?,
        None => (1..=count).collect(),
    };
    eprintln!(
        "running {} of {count} cases as agent {:?}",
        cases.len(),
        args.agent
    );
    for case in cases {
        if let Err(e) = run_case(&args.url, case, &args.agent).await {
            eprintln!("case {case}: {e}");
        }
        if case % 50 == 0 {
            eprintln!("case {case}/{count}");
        }
    }
    let (_res, mut reader, _writer) = connect(options(
        &args.url,
        &format!("/updateReports?agent={}", args.agent),
    )?)
    .await?;
    while reader.read().await?.is_some() {}
    eprintln!("reports updated");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_cases;

    #[test]
    fn case_lists() {
        assert_eq!(parse_cases("1-3, 7,9-8", 8).unwrap(), [1, 2, 3, 7]);
        assert!(parse_cases("x", 3).is_err());
    }
}
