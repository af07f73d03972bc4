//! Real brokers for the tests: `redis-server` and `nats-server` (Debian packages, installed by
//! tests-peers/setup.sh), each started on a port the test has just bound and released, stopped
//! (by its PID) when dropped. A missing broker fails the test: these tests never skip.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker process.
pub struct Broker {
    child: Option<Child>,
    kind: Kind,
    pub port: u16,
}

#[derive(Clone, Copy)]
pub enum Kind {
    Redis,
    Nats,
}

impl Kind {
    pub fn url(self, port: u16) -> String {
        match self {
            Kind::Redis => format!("redis://127.0.0.1:{port}"),
            Kind::Nats => format!("nats://127.0.0.1:{port}"),
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn spawn(kind: Kind, port: u16) -> Child {
    let (program, args): (&str, Vec<String>) = match kind {
        Kind::Redis => (
            "redis-server",
            vec![
                "--bind".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--save".into(),
                String::new(),
                "--appendonly".into(),
                "no".into(),
            ],
        ),
        Kind::Nats => (
            "nats-server",
            vec![
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
            ],
        ),
    };
    Command::new(program)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {program} ({e}): install it (bash tests-peers/setup.sh)")
        })
}

fn wait_until_accepting(port: u16) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "broker on port {port} never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Broker {
    pub fn start(kind: Kind) -> Broker {
        let port = free_port();
        let child = spawn(kind, port);
        wait_until_accepting(port);
        Broker {
            child: Some(child),
            kind,
            port,
        }
    }

    pub fn url(&self) -> String {
        self.kind.url(self.port)
    }

    /// Kills the broker (SIGKILL, by PID) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(spawn(self.kind, self.port));
        wait_until_accepting(self.port);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
