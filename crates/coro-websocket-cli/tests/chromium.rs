//! A real browser against `serve`: headless Chromium loads tests/pages/echo.html, whose script
//! opens a WebSocket, checks the echo, closes with 1000 and reports by navigating to a small
//! HTTP server of this test (its query string carries the outcome). No timing is involved: the
//! test waits for that report.
//!
//! - over https from `serve --static --tls-cert`, Chromium takes HTTP/2 by ALPN for the page
//!   and opens the WebSocket on the same connection by extended CONNECT (RFC 8441);
//! - with `--disable-http2`, the same server over HTTP/1.1;
//! - from a file:// page to a plain `serve` without --static: `accept`'s own HTTP/1.1.
//!
//! Chromium (Debian package `chromium`, installed by tests-peers/setup.sh) missing: the tests
//! fail under CI and are skipped elsewhere.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;

mod common;
use common::{read_head, under_ci, Server, TlsFiles};

/// The page, as tests/pages/echo.html.
const PAGE: &str = include_str!("pages/echo.html");

/// One browser at a time: a Chromium takes a few hundred MB and most of a core while it starts.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The Chromium binary, if one is installed; fails under CI if none is.
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|program| {
            Command::new(program)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    if found.is_none() {
        let why = "no chromium on PATH (tests-peers/setup.sh installs Debian's `chromium`)";
        assert!(!under_ci(), "{why}");
        eprintln!("skipped: {why}");
    }
    found
}

/// A fresh directory for one browser run (its profile, its stderr, the page): removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("coro-ws-chromium-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("echo.html"), PAGE).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTP server that takes the page's report: the query string of each `GET /result?...`.
fn report_server() -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/result", listener.local_addr().unwrap());
    let (reports, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { return };
            let Some(head) = read_head(&mut tcp) else {
                continue;
            };
            let target = head.split(' ').nth(1).unwrap_or("").to_owned();
            let _ = tcp.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\
                  Connection: close\r\n\r\nreported",
            );
            if let Some(query) = target.strip_prefix("/result?") {
                let _ = reports.send(query.to_owned());
            }
        }
    });
    (url, received)
}

/// A running headless Chromium, ended by SIGTERM (to its own PID) when dropped.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Opens `page` (a URL whose query string may already hold `ws=`) in headless Chromium with
/// `flags`, and returns the page's report as a map (echo, code, clean, extensions).
fn run_page(
    program: &str,
    scratch: &Scratch,
    page: &str,
    flags: &[&str],
) -> HashMap<String, String> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (report, reports) = report_server();
    let separator = if page.contains('?') { '&' } else { '?' };
    let url = format!("{page}{separator}report={report}");
    let log = std::fs::File::create(scratch.0.join("chromium.log")).unwrap();
    let profile = scratch.0.join("profile");
    let browser = Browser(
        Command::new(program)
            .args(["--headless=new", "--no-sandbox", "--disable-gpu"])
            // Containers often have a small /dev/shm.
            .arg("--disable-dev-shm-usage")
            .args(["--no-first-run", "--no-default-browser-check"])
            // The test CA is not in Chromium's store: the server's name and chain go unchecked.
            .arg("--ignore-certificate-errors")
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(flags)
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn chromium"),
    );
    // A bound on a hang (a browser that never reports), not a timing.
    let query = reports
        .recv_timeout(Duration::from_secs(90))
        .unwrap_or_else(|e| {
            let log = std::fs::read_to_string(scratch.0.join("chromium.log")).unwrap_or_default();
            panic!("no report from the page at {url} ({e}); chromium's stderr:\n{log}")
        });
    drop(browser);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// A query-string component (`+` for space, then percent-encoding).
fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// Checks the page's report: echoed, closed cleanly with 1000, and deflate agreed or not.
fn assert_echoed(report: &HashMap<String, String>, compress: bool) {
    assert_eq!(report["echo"], "ok", "{report:?}");
    assert_eq!(report["code"], "1000", "{report:?}");
    assert_eq!(report["clean"], "true", "{report:?}");
    assert_eq!(
        report["extensions"].starts_with("permessage-deflate"),
        compress,
        "{report:?}"
    );
}

/// The `over ...` of each `-v` line for `path`.
fn overs<'a>(stderr: &'a str, path: &str) -> Vec<&'a str> {
    let marker = format!(" {path} over ");
    stderr
        .lines()
        .filter_map(|line| line.split(marker.as_str()).nth(1))
        .collect()
}

/// `serve --static DIR --tls-cert ... -v [--compress]` with the page in DIR; Chromium with
/// `flags` loads it over https. Returns how the WebSocket came in (`-v`: HTTP/2 or HTTP/1.1).
fn https_page(program: &str, tag: &str, compress: bool, flags: &[&str]) -> String {
    let files = TlsFiles::new(tag);
    let scratch = Scratch::new(tag);
    let dir = scratch.0.to_str().unwrap();
    let mut serve = vec!["--static", dir, "-v"];
    if compress {
        serve.push("--compress");
    }
    let server = files.serve_with(&serve);
    let page = server.url.replacen("wss", "https", 1) + "/echo.html";
    let report = run_page(program, &scratch, &page, flags);
    assert_echoed(&report, compress);
    let stderr = server.stderr_at_exit();
    match overs(&stderr, "/from-page")[..] {
        [over] => over.to_owned(),
        _ => panic!("not one -v line for /from-page: {stderr}"),
    }
}

#[test]
fn chromium_over_https_takes_http2_for_the_page_and_its_websocket() {
    let Some(program) = chromium() else { return };
    assert_eq!(https_page(program, "h2", false, &[]), "HTTP/2");
    assert_eq!(https_page(program, "h2-deflate", true, &[]), "HTTP/2");
}

#[test]
fn chromium_without_http2_takes_http1_on_the_same_server() {
    let Some(program) = chromium() else { return };
    let flags = ["--disable-http2"];
    assert_eq!(https_page(program, "h1-deflate", true, &flags), "HTTP/1.1");
}

#[test]
fn chromium_from_a_file_page_to_plain_ws_takes_accepts_http1() {
    let Some(program) = chromium() else { return };
    let scratch = Scratch::new("file");
    for compress in [false, true] {
        let mut args = vec!["--listen", "127.0.0.1:0", "-v"];
        if compress {
            args.push("--compress");
        }
        let server = Server::start(&args);
        let page = format!(
            "file://{}?ws={}/from-file",
            Path::new(&scratch.0).join("echo.html").display(),
            server.url
        );
        let report = run_page(program, &scratch, &page, &[]);
        assert_echoed(&report, compress);
        let stderr = server.stderr_at_exit();
        assert_eq!(overs(&stderr, "/from-file"), ["HTTP/1.1"], "{stderr}");
    }
}
