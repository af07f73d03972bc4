//! The processes under test, all pinned to the server CPU: one or more pub/sub servers (ours, or
//! a uWebSockets build) and, across nodes, the broker they share (Redis or NATS), started here on
//! a free loopback port. Every process is killed, by its own PID, when dropped.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use coro_websocket_bench::procfs;

/// The CPU every server and broker runs on (the bench itself is meant for CPU 1).
pub const SERVER_CPU: &str = "0";

/// How long a process may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The broker that joins several nodes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    Redis,
    Nats,
}

impl Broker {
    pub fn name(self) -> &'static str {
        match self {
            Broker::Redis => "Redis",
            Broker::Nats => "NATS",
        }
    }
}

/// The pub/sub servers of one row of the table.
#[derive(Clone)]
pub enum Setup {
    /// `serve --pubsub` of our CLI at this path: `nodes` of them, on `broker` when more than one.
    Ours {
        program: PathBuf,
        nodes: usize,
        broker: Option<Broker>,
    },
    /// A uWebSockets pub/sub server started as `PATH PORT`.
    Uws { program: PathBuf },
}

impl Setup {
    /// The server column of the table.
    pub fn label(&self) -> String {
        match self {
            Setup::Ours { broker: None, .. } => "coro-websocket".into(),
            Setup::Ours {
                broker: Some(b), ..
            } => format!("coro-websocket + {}", b.name()),
            Setup::Uws { .. } => "uWebSockets".into(),
        }
    }

    pub fn nodes(&self) -> usize {
        match self {
            Setup::Ours { nodes, .. } => *nodes,
            Setup::Uws { .. } => 1,
        }
    }
}

/// A running process, killed when dropped.
pub struct Proc {
    child: Child,
}

impl Proc {
    /// User+system CPU seconds so far (`taskset` execs the program, so this is its own); 0 when
    /// unreadable.
    pub fn cpu_seconds(&self) -> f64 {
        procfs::cpu_seconds(self.child.id()).unwrap_or(0.0)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The servers (node 0 first) and the broker of one row, with each node's base URL.
pub struct Deployment {
    pub servers: Vec<Proc>,
    pub broker: Option<Proc>,
    pub urls: Vec<String>,
}

impl Deployment {
    /// Starts the broker if any, then the servers.
    pub fn start(setup: &Setup) -> Result<Deployment> {
        match setup {
            Setup::Uws { program } => {
                let port = free_port()?;
                let mut server = spawn(pinned(program).arg(port.to_string()), "uWebSockets")?;
                wait_listening(&mut server, port, "uWebSockets")?;
                Ok(Deployment {
                    servers: vec![server],
                    broker: None,
                    urls: vec![format!("ws://127.0.0.1:{port}")],
                })
            }
            Setup::Ours {
                program,
                nodes,
                broker,
            } => {
                let (broker, flags) = match broker {
                    None => (None, Vec::new()),
                    Some(b) => {
                        let (proc, flags) = start_broker(*b)?;
                        (Some(proc), flags)
                    }
                };
                let mut d = Deployment {
                    servers: Vec::new(),
                    broker,
                    urls: Vec::new(),
                };
                for _ in 0..*nodes {
                    let (server, url) = start_ours(program, &flags)?;
                    d.servers.push(server);
                    d.urls.push(url);
                }
                Ok(d)
            }
        }
    }

    /// CPU seconds used so far by the servers together, and by the broker.
    pub fn cpu_seconds(&self) -> (f64, f64) {
        let servers = self.servers.iter().map(Proc::cpu_seconds).sum();
        (servers, self.broker.as_ref().map_or(0.0, Proc::cpu_seconds))
    }
}

fn pinned(program: &Path) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", SERVER_CPU]).arg(program);
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    cmd
}

fn spawn(cmd: &mut Command, name: &str) -> Result<Proc> {
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {name} (taskset needed)"))?;
    Ok(Proc { child })
}

/// A port free on loopback a moment ago.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until `port` accepts connections, or `proc` exits, or [`START_TIMEOUT`] passes.
fn wait_listening(proc: &mut Proc, port: u16, name: &str) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("{name} did not listen on port {port}");
        }
        if let Some(status) = proc.child.try_wait()? {
            bail!("{name} exited before listening on port {port}: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Starts `redis-server` or `nats-server` on a free loopback port, without persistence; returns
/// it with the flag that attaches `serve --pubsub` to it.
fn start_broker(broker: Broker) -> Result<(Proc, Vec<String>)> {
    let port = free_port()?;
    let p = port.to_string();
    let (mut cmd, flag, scheme) = match broker {
        Broker::Redis => {
            let mut cmd = pinned(Path::new("redis-server"));
            cmd.args(["--port", &p, "--bind", "127.0.0.1", "--save", ""])
                .args(["--appendonly", "no"]);
            (cmd, "--redis", "redis")
        }
        Broker::Nats => {
            let mut cmd = pinned(Path::new("nats-server"));
            cmd.args(["-a", "127.0.0.1", "-p", &p]);
            (cmd, "--nats", "nats")
        }
    };
    let mut proc = spawn(cmd.stderr(Stdio::null()), broker.name())?;
    wait_listening(&mut proc, port, broker.name())?;
    let flags = vec![flag.to_owned(), format!("{scheme}://127.0.0.1:{port}")];
    Ok((proc, flags))
}

/// Starts one `serve --pubsub` with `extra` flags; returns it with the URL it announced.
fn start_ours(program: &Path, extra: &[String]) -> Result<(Proc, String)> {
    let mut cmd = pinned(program);
    cmd.args(["serve", "--pubsub", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped());
    let mut proc = spawn(&mut cmd, "coro-websocket serve")?;
    let stdout = proc
        .child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout"))?;
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Whatever it prints later is read and dropped, so that it never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| anyhow!("serve --pubsub: unexpected first line {line:?}"))?
        .to_owned();
    Ok((proc, url))
}
