//! The servers under test: how each is started (pinned to the server CPU), how its URL is learnt,
//! and the self-signed certificate the TLS cells share.
//!
//! Two kinds of server: ours and the Rust peers print `listening on ws[s]://HOST:PORT` as their
//! first stdout line and take `--tls-cert/--tls-key`; an external one (uWebSockets, `--uws`) is
//! started as `PATH PORT` on a port chosen here and is ready once that port accepts connections.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coro_websocket_bench::procfs;

use super::{Result, SERVER_CPU};

/// How a server is started and tells where it listens.
pub enum Launch {
    /// Prints `listening on URL` first; serves wss:// with these extra arguments added.
    Announces {
        args: Vec<String>,
        tls_args: fn(&Certs) -> Vec<String>,
    },
    /// Started as `PROGRAM PORT`; ws:// only.
    External,
}

/// One echo server under test.
pub struct Peer {
    pub name: &'static str,
    pub program: PathBuf,
    pub launch: Launch,
}

impl Peer {
    /// Whether this server can run the TLS cells.
    pub fn tls(&self) -> bool {
        matches!(self.launch, Launch::Announces { .. })
    }
}

/// The `--tls-cert/--tls-key` arguments every TLS-capable server takes.
pub fn tls_flags(certs: &Certs) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        certs.cert.display().to_string(),
        "--tls-key".into(),
        certs.key.display().to_string(),
    ]
}

/// A running, pinned server, killed (by its own PID) when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

/// How long an external server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

impl Server {
    /// Starts `peer`, over TLS with `certs` if given.
    pub fn start(peer: &Peer, certs: Option<&Certs>) -> Result<Server> {
        match &peer.launch {
            Launch::Announces { args, tls_args } => {
                let mut args = args.clone();
                if let Some(certs) = certs {
                    args.extend(tls_args(certs));
                }
                Server::start_announcing(peer, &args)
            }
            Launch::External if certs.is_some() => {
                Err(format!("{} runs without TLS only", peer.name).into())
            }
            Launch::External => Server::start_external(peer),
        }
    }

    fn pinned(program: &Path) -> Command {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", SERVER_CPU]).arg(program);
        cmd.stdin(Stdio::null()).stderr(Stdio::null());
        cmd
    }

    fn start_announcing(peer: &Peer, args: &[String]) -> Result<Server> {
        let mut child = Server::pinned(&peer.program)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", peer.program.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        // Built before reading, so that a server that says something else is still killed.
        let mut server = Server {
            child,
            url: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        server.url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("{}: unexpected first line {line:?}", peer.name))?
            .to_owned();
        Ok(server)
    }

    fn start_external(peer: &Peer) -> Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Server::pinned(&peer.program)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", peer.program.display()))?;
        let mut server = Server {
            child,
            url: format!("ws://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                return Err(format!("{} exited before listening: {status}", peer.name).into());
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not listen on port {port}", peer.name).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User+system CPU seconds so far; 0 when unreadable. `taskset` execs the server, so this is
    /// the server's own process.
    pub fn cpu_seconds(&self) -> f64 {
        procfs::cpu_seconds(self.pid()).unwrap_or(0.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, as PEM files in a temporary
/// directory removed on drop. The generator does not verify it (`bench --insecure`).
pub struct Certs {
    dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    /// Generates the certificate with rcgen.
    pub fn generate() -> Result<Certs> {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names)?;
        let dir = std::env::temp_dir().join(format!("coro-ws-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let certs = Certs {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            dir,
        };
        std::fs::write(&certs.cert, certified.cert.pem())?;
        std::fs::write(&certs.key, certified.signing_key.serialize_pem())?;
        Ok(certs)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
