//! `serve --threads N`: N single-threaded runtimes, each with its own SO_REUSEPORT listener on
//! the same port, all serving.

mod common;

use coro_websocket::{Message, Options};

use common::Server;

/// The threads of process `pid` (Linux: its `/proc/PID/task` entries).
fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

#[tokio::test]
async fn three_threads_serve_one_port() {
    let server = Server::start(&["--threads", "3", "--listen", "127.0.0.1:0"]);
    assert!(
        threads_of(server.pid()) >= 3,
        "serve --threads 3 runs on fewer threads"
    );
    // Enough connections that the kernel hands some to each listener; every one echoes.
    let mut sessions = Vec::new();
    for _ in 0..60 {
        let (_, read, write) = coro_websocket::connect(Options::from_url(&server.url).unwrap())
            .await
            .unwrap();
        sessions.push((read, write));
    }
    for (i, (read, write)) in sessions.iter_mut().enumerate() {
        write.write(Message::text(format!("n{i}"))).await.unwrap();
        let echo = read.read_message().await.unwrap().unwrap();
        assert_eq!(echo.as_text(), Some(format!("n{i}").as_str()));
    }
}

#[test]
fn zero_threads_is_refused() {
    let (code, _, err) = common::outcome(
        std::process::Command::new(common::BIN)
            .args(["serve", "--threads", "0"])
            .output()
            .unwrap(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--threads"), "{err}");
}
