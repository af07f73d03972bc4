//! The link of a split session: the reader reaches the state machine, the sink and the flags
//! through [`Shared`], which the writer, the heartbeat task and the socket handle also hold.

use std::ops::DerefMut;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use super::cork::Cork;
use super::link::{Closing, Link, Obligation};
use super::owned::{Parts, Rest};
use super::{Abort, SendFuture, Shared, ShutdownHook};
use crate::error::Error;
use crate::proto::{Connection, Message, Role};

/// A [`Reader`](super::Reader)'s link.
pub(crate) struct SplitLink {
    pub(super) shared: Arc<Shared>,
    /// A write obligation being carried out.
    pending: Option<SendFuture>,
    /// The waker last registered in `reader_waker`, with the wake count at that time.
    registered: Option<(Waker, u32)>,
}

impl SplitLink {
    pub(super) fn new(shared: Arc<Shared>) -> SplitLink {
        SplitLink {
            shared,
            pending: None,
            registered: None,
        }
    }
}

impl Link for SplitLink {
    fn role(&self) -> Role {
        self.shared.role
    }

    fn max_message_size(&self) -> u64 {
        self.shared.max_message_size
    }

    fn budget_wait(&self) -> Duration {
        self.shared.budget_wait
    }

    fn close_timeout(&self) -> Duration {
        self.shared.close_timeout
    }

    fn conn(&mut self) -> impl DerefMut<Target = Connection> + '_ {
        self.shared.conn()
    }

    fn set_closing(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
    }

    /// The flag spares the hot path the state machine's lock.
    #[inline]
    fn closing(&mut self) -> Closing {
        if !self.shared.closing.load(Ordering::Acquire) {
            return Closing::default();
        }
        let conn = self.shared.conn();
        let received = conn.close_received().is_some();
        Closing {
            under_way: received || conn.close_sent().is_some(),
            received,
        }
    }

    /// Only this reader writes the counter: no read-modify-write needed.
    #[inline]
    fn count_frame(&mut self) {
        let seen = self.shared.activity.load(Ordering::Relaxed);
        self.shared.activity.store(seen + 1, Ordering::Release);
    }

    /// Registers the task's waker, only when it changed or a wake took it: `AtomicWaker::register`
    /// clones and swaps a waker, which is most of a poll's cost on the hot path.
    #[inline]
    fn register(&mut self, cx: &mut Context<'_>) {
        let wakes = self.shared.reader_wakes.load(Ordering::Acquire);
        if self
            .registered
            .as_ref()
            .is_none_or(|(w, n)| *n != wakes || !w.will_wake(cx.waker()))
        {
            self.shared.reader_waker.register(cx.waker());
            self.registered = Some((cx.waker().clone(), wakes));
        }
    }

    #[inline]
    fn aborted(&mut self) -> Option<Abort> {
        self.shared.aborted()
    }

    fn abort(&mut self, why: Abort) {
        self.shared.abort(why);
    }

    #[inline]
    fn input_polled(&mut self, has_buffered: bool) {
        self.shared.reader_waiting.store(false, Ordering::Release);
        self.shared.cork.reader_has_more(has_buffered);
    }

    #[inline]
    fn out_of_input(&mut self, _cx: &mut Context<'_>) -> bool {
        self.shared.cork.reader_has_more(false);
        if self.shared.cork.take_owed() {
            self.begin(Obligation::Flush);
            return true;
        }
        self.shared.reader_waiting.store(true, Ordering::Release);
        false
    }

    fn begin(&mut self, work: Obligation) {
        let shared = self.shared.clone();
        self.pending = Some(match work {
            Obligation::Reply { reply, close } => Box::pin(shared.fulfil(reply, close)),
            Obligation::Flush => {
                Box::pin(async move { shared.unless_aborted(shared.flush()).await })
            }
            Obligation::EndQuietly => Box::pin(async move {
                let _ = shared.fulfil(None, true).await;
                Ok(())
            }),
            Obligation::Done(result) => Box::pin(async move { result }),
        });
    }

    fn poll_obligation(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<(), Error>>> {
        let Some(fut) = self.pending.as_mut() else {
            return Poll::Ready(None);
        };
        let result = std::task::ready!(fut.as_mut().poll(cx));
        self.pending = None;
        Poll::Ready(Some(result))
    }

    fn fail_detached(&mut self, close: Option<Message>) {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(self.shared.clone().fulfil(close, true));
        }
    }
}

/// The state of an unsplit session, moved behind the locks and flags of a split one.
pub(super) fn share(rest: Rest, parts: &Parts) -> Shared {
    let closing = rest.conn.close_sent().is_some() || rest.conn.close_received().is_some();
    let close_timeout = rest.conn.close_timeout();
    let shutdown: Option<ShutdownHook> = rest
        .control
        .map(|control| Box::new(move || control.shutdown_transport()) as ShutdownHook);
    Shared {
        role: rest.conn.role(),
        conn: Mutex::new(rest.conn),
        sink: futures_util::lock::Mutex::new(rest.sink),
        abort: Mutex::new(parts.abort),
        aborted: AtomicBool::new(parts.abort.is_some()),
        abort_notify: Notify::new(),
        reader_waker: AtomicWaker::new(),
        reader_wakes: AtomicU32::new(0),
        activity: AtomicU64::new(0),
        reader_waiting: AtomicBool::new(false),
        cork: Cork::owing(parts.owed),
        closing: AtomicBool::new(closing),
        deflater: rest.deflater.map(|d| Box::new(Mutex::new(*d))),
        shutdown,
        close_timeout,
        budget_wait: rest.budget_wait,
        on_drop: std::sync::OnceLock::new(),
        max_message_size: rest.max_message_size,
    }
}
