//! Giving memory back to the system after a burst: glibc's allocator keeps the heap pages that
//! large incoming messages and inflated bombs were freed into, so a server that weathered a flood
//! would keep that flood's peak resident for good, and a server whose connections come and go
//! fragments its arenas. Once a second this looks at the memory budget, and when what
//! connections hold has fallen by `RELEASED` since its last high point (and again `AFTER`
//! seconds later, for what connections freed outside the budget once they ended: write queues,
//! tasks), or every `EVERY` seconds in any case, asks glibc (`malloc_trim`) to return its free
//! pages. Blocks of `MMAP_FROM` and more do not wait for that: they are mapped on their own and
//! unmapped when freed.
//!
//! Only the binary does this: which allocator a process uses is its own choice, not a
//! library's. Elsewhere than Linux with glibc it does nothing.

use coro_websocket::MemoryBudget;

/// How often the heap is trimmed in any case: with many connections coming and going, glibc's
/// arenas fragment, and free pages between live blocks stay resident until trimmed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const EVERY: u32 = 10;

/// A drop in the budget's use that is worth a trim.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const RELEASED: usize = 16 << 20;

/// The second trim after a fall, in seconds.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const AFTER: u32 = 2;

/// The size from which glibc serves an allocation with its own `mmap`, so that freeing it returns
/// it to the system at once. glibc's default starts at 128 KiB but rises to the largest such block
/// freed so far (up to 32 MiB): after a flood of large messages, blocks of many MiB come from the
/// arenas, which grow to hold them (the flood test's peak was 166-299 MiB with that adjustment,
/// mostly 88-125 MiB without, docs/limits.md). Setting the threshold turns the adjustment off
/// and pins it. 1 MiB keeps messages a little under that size in the arenas (no system call, no
/// page faults per message); from 1 MiB (a 1 MiB frame's read buffer is just over it) they pay
/// for that: up to half the rate at 1 MiB, 6-32% less at 2 and 8 MiB (docs/limits.md). A 2 MiB
/// threshold keeps 1 MiB messages at full speed but let the flood test peak at up to 233 MiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_FROM: libc::c_int = 1 << 20;

/// How much free space at the top of an arena glibc keeps rather than returning at once. Pinning
/// `MMAP_FROM` pins this too, at glibc's 128 KiB unless set: too little for messages of a few
/// hundred KiB, whose buffers would grow and shrink the heap with each message (a `brk` every
/// second message at 256 KiB, and up to 38% fewer messages per second). Twice `MMAP_FROM`,
/// glibc's own ratio; the periodic trim returns what it keeps.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const KEEP_ON_TOP: libc::c_int = 2 << 20;

/// The largest block glibc keeps in its "fast bins": none. A block freed there is never merged
/// with its free neighbours, so small blocks freed while connections are accepted stay scattered
/// between the blocks that live on: 1,262 B of `VmRSS` per idle connection without fast bins,
/// 1,305 B with glibc's default of 128 B (docs/performance.md). Small blocks still go through
/// the per-thread cache in front of the bins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const FAST_BINS_UP_TO: libc::c_int = 0;

/// Pins glibc's mmap and trim thresholds (`MMAP_FROM`, `KEEP_ON_TOP`), turns its fast bins off
/// (`FAST_BINS_UP_TO`) and watches `budget` on the current runtime, trimming the heap after a
/// burst (glibc only).
pub fn spawn(budget: MemoryBudget) {
    // SAFETY: mallopt takes no pointers; glibc allows it at any time from any thread.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_FROM);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_ON_TOP);
        libc::mallopt(libc::M_MXFAST, FAST_BINS_UP_TO);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut high, mut ticks, mut again) = (0, 0, None);
        loop {
            tick.tick().await;
            let used = budget.used();
            high = high.max(used);
            ticks += 1;
            let fell = high - used >= RELEASED;
            again = match again {
                _ if fell => Some(AFTER),
                Some(n) if n > 0 => Some(n - 1),
                _ => None,
            };
            if fell || again == Some(0) || ticks >= EVERY {
                ticks = 0;
                // Off the runtime's thread: a trim walks the whole heap.
                let _ = tokio::task::spawn_blocking(|| {
                    let started = std::time::Instant::now();
                    // SAFETY: malloc_trim takes no pointers and only returns free pages to the
                    // system; glibc allows it at any time from any thread.
                    #[allow(unsafe_code)]
                    unsafe {
                        libc::malloc_trim(0)
                    };
                    tracing::debug!("malloc_trim took {:?}", started.elapsed());
                })
                .await;
                high = used;
            }
        }
    });
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    drop(budget);
}
