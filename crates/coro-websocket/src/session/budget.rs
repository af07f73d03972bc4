//! The server-wide memory budget for incoming data, and each connection's account with it.
//!
//! A connection holds incoming bytes in two places, each with an [`Account`]: the frame reader
//! (a frame not yet whole), and the session's reader (a fragmented message being reassembled,
//! a compressed frame and its inflated output so far). The first [`FREE`] bytes of each place
//! are its own, so connections that exchange small messages never touch the shared counter;
//! past that, every byte is taken from the [`MemoryBudget`] before it is read or produced, and
//! given back when the message is handed to the application (or the connection ends).
//!
//! A place that cannot get room waits: the frame reader stops reading (TCP pushes back on the
//! peer), inflating stops between two steps. The session bounds that wait by
//! `Config::budget_wait` and then fails the connection with 1013 (try again later).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The size of [`MemoryBudget::server_default`].
pub(crate) const SERVER_DEFAULT: usize = 256 << 20;

/// Bytes each place of each connection may hold without taking them from the budget.
pub(crate) const FREE: usize = 64 << 10;

/// One budget for the bytes that a set of connections holds for incoming data (frame and
/// reassembly buffers, inflated output), shared by every connection whose
/// [`Config`](crate::Config) names it; clones share the same budget.
///
/// Each place of a connection that holds incoming bytes holds its first 64 KiB outside the
/// budget, so connections that exchange small messages are never slowed by it. Past that, a
/// connection that needs more than the budget has left waits (it stops reading, so TCP pushes
/// back on its peer) for at most `Config::budget_wait`, and is then closed with 1013 (try again
/// later). Bytes are given back when a message is handed to the application.
///
/// ```
/// use coro_websocket::{MemoryBudget, ServerOptions};
/// let budget = MemoryBudget::new(512 << 20);
/// let mut options = ServerOptions::default();
/// options.config.memory_budget = Some(budget.clone());
/// assert_eq!((budget.limit(), budget.used()), (512 << 20, 0));
/// ```
#[derive(Clone)]
pub struct MemoryBudget(Arc<Inner>);

struct Inner {
    limit: usize,
    used: AtomicUsize,
    /// Accounts waiting for room; woken (all of them) whenever bytes are given back.
    waiters: Mutex<Vec<Waker>>,
    /// `waiters.len()`, readable without the lock.
    waiting: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> MemoryBudget {
        MemoryBudget(Arc::new(Inner {
            limit: bytes,
            used: AtomicUsize::new(0),
            waiters: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
        }))
    }

    /// The budget that [`ServerOptions::default()`](crate::ServerOptions) gives every server
    /// in this process: 256 MiB, one budget shared by all of them (four messages at the default
    /// 64 MiB limit, sixteen of Autobahn's 16 MiB ones, held at once).
    pub fn server_default() -> MemoryBudget {
        static PROCESS: std::sync::OnceLock<MemoryBudget> = std::sync::OnceLock::new();
        PROCESS
            .get_or_init(|| MemoryBudget::new(SERVER_DEFAULT))
            .clone()
    }

    /// The budget's size in bytes.
    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// Bytes taken from the budget now.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes if they fit.
    fn try_take(&self, n: usize) -> bool {
        self.0
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&after| after <= self.0.limit)
            })
            .is_ok()
    }

    /// Takes `n` bytes whether or not they fit: bytes already received and moved elsewhere.
    fn force(&self, n: usize) {
        self.0.used.fetch_add(n, Ordering::AcqRel);
    }

    /// Gives `n` bytes back and wakes whoever waits for room.
    fn give(&self, n: usize) {
        self.0.used.fetch_sub(n, Ordering::AcqRel);
        if self.0.waiting.load(Ordering::Acquire) > 0 {
            let waiters = {
                // Emptied and counted under one lock: a waiter registering in between would
                // otherwise be counted out, and never woken by the next give.
                let mut waiters = self.0.waiters.lock().expect("never poisoned");
                self.0.waiting.store(0, Ordering::Release);
                std::mem::take(&mut *waiters)
            };
            for waker in waiters {
                waker.wake();
            }
        }
    }

    /// Registers `waker` to be woken when bytes are given back.
    fn wait(&self, waker: &Waker) {
        let mut waiters = self.0.waiters.lock().expect("never poisoned");
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
            self.0.waiting.store(waiters.len(), Ordering::Release);
        }
    }
}

impl PartialEq for MemoryBudget {
    /// Two handles are equal when they share one budget.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for MemoryBudget {}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("limit", &self.limit())
            .field("used", &self.used())
            .finish()
    }
}

/// What one place of one connection has taken from the budget. Dropping it gives it all back.
#[derive(Debug, Default)]
pub(crate) struct Account {
    budget: Option<MemoryBudget>,
    taken: usize,
}

impl Account {
    /// An account with `budget`; with `None`, every request is granted at once.
    pub(crate) fn new(budget: Option<MemoryBudget>) -> Account {
        Account { budget, taken: 0 }
    }

    /// Whether there is a budget to keep to.
    #[inline]
    pub(crate) fn is_limited(&self) -> bool {
        self.budget.is_some()
    }

    /// Makes this place's share of the budget cover holding `held` bytes: `Ready` when it does
    /// (bytes no longer needed are given back), `Pending` (woken when room comes) when the
    /// budget cannot give what is missing now.
    pub(crate) fn poll_hold(&mut self, cx: &mut Context<'_>, held: usize) -> Poll<()> {
        let Some(budget) = &self.budget else {
            return Poll::Ready(());
        };
        let need = held.saturating_sub(FREE);
        if need <= self.taken {
            self.settle(held);
            return Poll::Ready(());
        }
        let more = need - self.taken;
        if budget.try_take(more) {
            self.taken = need;
            return Poll::Ready(());
        }
        budget.wait(cx.waker());
        // Room may have come between the failed take and the registration.
        if budget.try_take(more) {
            self.taken = need;
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Holds `held` bytes whether or not the budget has room for them (they have arrived).
    pub(crate) fn hold_anyway(&mut self, held: usize) {
        let Some(budget) = &self.budget else {
            return;
        };
        let need = held.saturating_sub(FREE);
        if need > self.taken {
            budget.force(need - self.taken);
            self.taken = need;
        } else {
            self.settle(held);
        }
    }

    /// Gives back what holding `held` bytes no longer needs.
    #[inline]
    pub(crate) fn settle(&mut self, held: usize) {
        let need = held.saturating_sub(FREE);
        if need < self.taken {
            if let Some(budget) = &self.budget {
                budget.give(self.taken - need);
            }
            self.taken = need;
        }
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        self.settle(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::task::Wake;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn small_holdings_are_free_and_large_ones_wait_for_room() {
        let budget = MemoryBudget::new(FREE);
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let (mut a, mut b) = (
            Account::new(Some(budget.clone())),
            Account::new(Some(budget.clone())),
        );
        assert!(a.poll_hold(&mut cx, FREE).is_ready());
        assert_eq!(budget.used(), 0);
        assert!(a.poll_hold(&mut cx, 2 * FREE).is_ready());
        assert_eq!(budget.used(), FREE);
        assert!(b.poll_hold(&mut cx, FREE + 1).is_pending());
        assert!(!flag.0.load(Ordering::SeqCst));
        a.settle(FREE + 10);
        assert!(
            flag.0.load(Ordering::SeqCst),
            "giving back wakes the waiter"
        );
        assert_eq!(budget.used(), 10);
        assert!(b.poll_hold(&mut cx, FREE + 1).is_ready());
        b.hold_anyway(3 * FREE);
        assert_eq!(
            budget.used(),
            10 + 2 * FREE,
            "arrived bytes are held over the limit"
        );
        drop((a, b));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn without_a_budget_everything_is_granted() {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut a = Account::new(None);
        assert!(a.poll_hold(&mut cx, usize::MAX).is_ready());
    }
}
