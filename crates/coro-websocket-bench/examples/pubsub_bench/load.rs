//! One measured run: N subscribers spread round-robin over the nodes and one publisher on node 0,
//! all raw connections to `/bench` opened with the bench library's hand-made handshake.
//!
//! Subscribers read deliveries with `DeliveryParser` (payload skipped but for its 16-byte head),
//! take one clock reading per `read`, record publish-to-delivery latency while the run is
//! measured, and count each message into a ring slot of W counters: the subscriber that brings a
//! slot to N completes that message and wakes the publisher. Each subscriber receives in order,
//! so messages complete in order, and a slot is reused only once its message is complete.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use coro_websocket::parse_url;
use coro_websocket_bench::delivery::DeliveryParser;
use coro_websocket_bench::{open, procfs, BenchStream, Histogram, Opened, Transport};
use futures_util::future::try_join_all;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::nodes::Deployment;
use super::publisher::Publisher;

/// Sequence numbers with this bit are probes (sent until every subscriber is in the topic).
pub const PROBE: u64 = 1 << 63;
/// The sequence number of the message that ends the run.
pub const STOP: u64 = u64::MAX;
/// Connections opened concurrently (below the servers' accept backlog).
const OPEN_CHUNK: usize = 200;
/// Bytes per subscriber `read`.
const READ_BUFFER: usize = 64 * 1024;
/// How long subscribers may take to see the end of the run.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Nanoseconds since the first call, on a monotonic clock shared by the whole process.
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

/// What the publisher and the subscribers share.
pub struct Shared {
    pub subscribers: u64,
    pub window: u64,
    /// Deliveries of message `seq` in slot `seq % window`.
    ring: Box<[AtomicU64]>,
    /// Messages every subscriber has received (they complete in order).
    pub completed: AtomicU64,
    /// Woken when a message completes.
    pub progress: Notify,
    /// Subscribers that have seen a probe.
    pub ready: AtomicU64,
    /// Whether deliveries are counted and timed now.
    measuring: AtomicBool,
}

impl Shared {
    fn new(subscribers: u64, window: u64) -> Shared {
        Shared {
            subscribers,
            window,
            ring: (0..window).map(|_| AtomicU64::new(0)).collect(),
            completed: AtomicU64::new(0),
            progress: Notify::new(),
            ready: AtomicU64::new(0),
            measuring: AtomicBool::new(false),
        }
    }

    fn slot(&self, seq: u64) -> &AtomicU64 {
        &self.ring[(seq % self.window) as usize]
    }

    /// Clears the slot of message `seq` before it is sent (its previous message is complete).
    pub fn reuse_slot(&self, seq: u64) {
        self.slot(seq).store(0, Relaxed);
    }

    /// How many subscribers have message `seq` (while it is outstanding).
    pub fn have(&self, seq: u64) -> u64 {
        self.slot(seq).load(Relaxed)
    }

    #[inline]
    fn delivered(&self, seq: u64) {
        if self.slot(seq).fetch_add(1, Relaxed) + 1 == self.subscribers {
            self.completed.fetch_max(seq + 1, Relaxed);
            self.progress.notify_one();
        }
    }
}

/// The shape of one run.
#[derive(Clone, Copy)]
pub struct Params {
    pub subscribers: usize,
    pub size: usize,
    pub window: u64,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one run measured.
pub struct Outcome {
    pub elapsed: f64,
    pub deliveries: u64,
    pub published: u64,
    /// Latencies at the subscribers of node 0 (the publisher's), and of the other nodes.
    pub local: Histogram,
    pub remote: Histogram,
    /// CPU use over the measured time, in cores: the servers together, the broker, the bench.
    pub server_cpu: f64,
    pub broker_cpu: f64,
    pub bench_cpu: f64,
    pub notes: Vec<String>,
}

/// What one subscriber measured.
#[derive(Default)]
struct SubStats {
    deliveries: u64,
    latency: Histogram,
}

async fn subscribe(opened: Opened, shared: Arc<Shared>) -> Result<SubStats> {
    let Opened {
        mut stream,
        leftover,
    } = opened;
    let mut buf = vec![0u8; READ_BUFFER.max(leftover.len())];
    buf[..leftover.len()].copy_from_slice(&leftover);
    let mut filled = leftover.len();
    let mut parser = DeliveryParser::default();
    let mut stats = SubStats::default();
    let (mut probed, mut stopped) = (false, false);
    loop {
        let now = now_ns();
        let measuring = shared.measuring.load(Relaxed);
        let used = parser.feed(&buf[..filled], |head| {
            let ts = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
            let seq = u64::from_le_bytes(head[8..].try_into().unwrap_or_default());
            if seq == STOP {
                stopped = true;
            } else if seq & PROBE != 0 {
                if !probed {
                    probed = true;
                    shared.ready.fetch_add(1, Relaxed);
                }
            } else {
                if measuring {
                    stats.deliveries += 1;
                    stats.latency.record(now.saturating_sub(ts));
                }
                shared.delivered(seq);
            }
        })?;
        buf.copy_within(used..filled, 0);
        filled -= used;
        if stopped {
            return Ok(stats);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            bail!("the server closed a subscriber's connection");
        }
        filled += n;
    }
}

/// Opens `count` connections to `/bench`, connection `i` on node `i % urls.len()`.
async fn open_spread(urls: &[String], count: usize) -> Result<Vec<Opened>> {
    let mut targets = Vec::new();
    for base in urls {
        let url = parse_url(&format!("{base}/bench")).with_context(|| format!("URL {base}"))?;
        let addr = tokio::net::lookup_host((url.host.as_str(), url.port))
            .await?
            .next()
            .ok_or_else(|| anyhow!("cannot resolve {}", url.host))?;
        let transport = Transport::new(&url, addr, None, false)?;
        targets.push((url, transport));
    }
    let mut all = Vec::with_capacity(count);
    while all.len() < count {
        let base = all.len();
        let n = OPEN_CHUNK.min(count - base);
        let chunk = (base..base + n).map(|i| {
            let (url, transport) = &targets[i % targets.len()];
            open(url, transport, i as u64)
        });
        all.extend(try_join_all(chunk).await?);
    }
    Ok(all)
}

/// Counts data messages the publisher receives (the server must not send it its own).
fn drain_publisher(mut read: tokio::net::tcp::OwnedReadHalf, leftover: Vec<u8>) -> JoinHandle<u64> {
    tokio::spawn(async move {
        let mut parser = DeliveryParser::default();
        let mut buf = vec![0u8; READ_BUFFER];
        buf[..leftover.len()].copy_from_slice(&leftover);
        let (mut filled, mut echoed) = (leftover.len(), 0);
        loop {
            match parser.feed(&buf[..filled], |_| echoed += 1) {
                Ok(used) => {
                    buf.copy_within(used..filled, 0);
                    filled -= used;
                }
                Err(_) => return echoed,
            }
            match read.read(&mut buf[filled..]).await {
                Ok(n) if n > 0 => filled += n,
                _ => return echoed,
            }
        }
    })
}

/// CPU seconds so far of the servers, the broker and this process.
fn cpu_now(d: &Deployment) -> [f64; 3] {
    let (servers, broker) = d.cpu_seconds();
    let own = procfs::cpu_seconds(std::process::id()).unwrap_or(0.0);
    [servers, broker, own]
}

/// Runs the load against the deployment's nodes and measures it.
pub async fn run(d: &Deployment, p: Params) -> Result<Outcome> {
    let nodes = d.urls.len();
    let subscribers = open_spread(&d.urls, p.subscribers).await?;
    let publisher = open_spread(&d.urls[..1], 1).await?.remove(0);
    let BenchStream::Plain(tcp) = publisher.stream else {
        bail!("ws:// only");
    };
    let (read, write) = tcp.into_split();
    let echoes = drain_publisher(read, publisher.leftover);
    let shared = Arc::new(Shared::new(p.subscribers as u64, p.window));
    let tasks: Vec<_> = subscribers
        .into_iter()
        .map(|opened| tokio::spawn(subscribe(opened, shared.clone())))
        .collect();
    let mut publisher = Publisher::new(write, p.size);
    publisher.probe(&shared).await?;
    publisher
        .publish_until(&shared, Instant::now() + p.warmup)
        .await?;
    shared.measuring.store(true, Relaxed);
    let (cpu0, t0, sent0) = (cpu_now(d), Instant::now(), publisher.sent);
    let published = publisher.publish_until(&shared, t0 + p.duration).await;
    shared.measuring.store(false, Relaxed);
    let (cpu1, elapsed) = (cpu_now(d), t0.elapsed().as_secs_f64());
    let mut notes = Vec::new();
    if let Err(e) = published {
        notes.push(format!("{e:#}"));
    }
    let cpu = |i: usize| (cpu1[i] - cpu0[i]) / elapsed;
    let mut out = Outcome {
        elapsed,
        deliveries: 0,
        published: publisher.sent - sent0,
        local: Histogram::default(),
        remote: Histogram::default(),
        server_cpu: cpu(0),
        broker_cpu: cpu(1),
        bench_cpu: cpu(2),
        notes,
    };
    publisher.stop().await?;
    gather(tasks, nodes, &mut out).await;
    echoes.abort();
    let echoed = echoes.await.unwrap_or(0);
    if echoed > 0 {
        out.notes
            .push(format!("the publisher got {echoed} messages back"));
    }
    Ok(out)
}

/// Waits for every subscriber to see the end of the run and merges what they measured.
async fn gather(tasks: Vec<JoinHandle<Result<SubStats>>>, nodes: usize, out: &mut Outcome) {
    let deadline = Instant::now() + STOP_TIMEOUT;
    let (mut failed, mut first_error) = (0, None);
    for (i, task) in tasks.into_iter().enumerate() {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(Ok(stats))) => {
                out.deliveries += stats.deliveries;
                let h = if i % nodes == 0 {
                    &mut out.local
                } else {
                    &mut out.remote
                };
                h.merge(&stats.latency);
            }
            Ok(Ok(Err(e))) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(_) => {
                abort.abort();
                failed += 1;
                first_error.get_or_insert_with(|| "no end of run seen".to_owned());
            }
        }
    }
    if let Some(e) = first_error {
        out.notes.push(format!(
            "{failed} subscribers failed or were cut short (first: {e})"
        ));
    }
}
