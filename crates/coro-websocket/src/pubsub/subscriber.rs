//! One subscribed connection: its queue of published messages, bounded in bytes, and the task
//! that hands them to the connection's session in order, without the publisher waiting.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::Notify;

use super::{Inner, SlowSubscriber, TopicsConfig};
use crate::proto::{CloseCode, Message};
use crate::session::{Shared, Writer};

/// A session's identity: where its shared state lives. An entry is forgotten before the state is
/// freed (the session's drop hook), so an address is never taken for another session's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct SubId(usize);

impl SubId {
    pub(super) fn of(writer: &Writer) -> SubId {
        SubId(Arc::as_ptr(writer.shared()) as usize)
    }
}

/// What [`Sub::offer`] did with a message.
pub(super) enum Offer {
    Queued,
    /// Over budget: skipped ([`SlowSubscriber::Drop`]).
    Dropped,
    /// Over budget: the subscriber is being closed ([`SlowSubscriber::Close`]).
    Closing,
    /// The subscriber has stopped (its session is gone or failed).
    Gone,
}

pub(super) struct Sub {
    id: SubId,
    session: Weak<Shared>,
    queue: Mutex<Queue>,
    /// Wakes the drain task: a message was queued, or the subscriber must close or stop.
    wake: Notify,
    topics: Mutex<HashSet<String>>,
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<Message>,
    /// Payload bytes in `messages`.
    bytes: usize,
    /// Close with 1013 (the slow-subscriber policy chose it).
    closing: bool,
    /// The drain task is done, or must end.
    stopped: bool,
}

impl Sub {
    /// A subscriber for the session of `writer`, with its drain task running.
    pub(super) fn start(writer: &Writer, inner: &Arc<Inner>) -> Arc<Sub> {
        let sub = Arc::new(Sub {
            id: SubId::of(writer),
            session: Arc::downgrade(writer.shared()),
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            topics: Mutex::new(HashSet::new()),
        });
        let topics = Arc::downgrade(inner);
        let id = sub.id;
        // Forget the subscriptions when the session goes away, even if nothing is ever
        // published to them again. (A session subscribed through two `Topics` has the second
        // forget it when its drain task next finds the session gone.)
        let forget = topics.clone();
        writer.shared().set_on_drop(Box::new(move || {
            if let Some(inner) = forget.upgrade() {
                inner.forget(id);
            }
        }));
        tokio::spawn(drain(sub.clone(), topics));
        sub
    }

    pub(super) fn topics(&self) -> MutexGuard<'_, HashSet<String>> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this subscriber's session has gone away.
    pub(super) fn is_gone(&self) -> bool {
        self.session.strong_count() == 0
    }

    /// Queues `message` within the budget, or applies the slow-subscriber policy. A message
    /// larger than the whole budget still goes to a subscriber with nothing queued.
    pub(super) fn offer(&self, message: &Message, config: &TopicsConfig) -> Offer {
        if self.is_gone() {
            return Offer::Gone;
        }
        let mut q = self.queue();
        if q.stopped || q.closing {
            return Offer::Gone;
        }
        let len = message.payload.len();
        if q.bytes + len > config.subscriber_budget && !q.messages.is_empty() {
            return match config.slow_subscriber {
                SlowSubscriber::Drop => Offer::Dropped,
                SlowSubscriber::Close => {
                    q.closing = true;
                    q.messages.clear();
                    q.bytes = 0;
                    drop(q);
                    self.wake.notify_one();
                    Offer::Closing
                }
            };
        }
        q.bytes += len;
        q.messages.push_back(message.clone());
        drop(q);
        self.wake.notify_one();
        Offer::Queued
    }

    /// Ends the drain task (the subscriber has been forgotten).
    pub(super) fn stop(&self) {
        let mut q = self.queue();
        q.stopped = true;
        q.messages.clear();
        q.bytes = 0;
        drop(q);
        self.wake.notify_one();
    }
}

/// The most payload bytes the drain task hands to the session in one batch (one write).
const BATCH_BYTES: usize = 256 << 10;

/// The next thing the drain task does.
enum Step {
    /// Write these, flushing once after the last.
    Send(Vec<Message>),
    Close,
    Wait,
    Stop,
}

/// Hands queued messages to the session in batches (each write waits for the socket as the
/// application's own writes do), until the session is gone or a write fails; then forgets the
/// subscriber everywhere.
async fn drain(sub: Arc<Sub>, topics: Weak<Inner>) {
    loop {
        let step = {
            let mut q = sub.queue();
            if q.stopped {
                Step::Stop
            } else if q.closing {
                Step::Close
            } else if !q.messages.is_empty() {
                // Everything queued, up to a batch: what piled up while the last write waited
                // goes out in one system call.
                let mut batch = Vec::new();
                let mut bytes = 0;
                while let Some(m) = q.messages.pop_front() {
                    bytes += m.payload.len();
                    batch.push(m);
                    if bytes >= BATCH_BYTES {
                        break;
                    }
                }
                q.bytes -= bytes;
                Step::Send(batch)
            } else {
                Step::Wait
            }
        };
        match step {
            Step::Wait => sub.wake.notified().await,
            Step::Stop => break,
            Step::Send(batch) => {
                let Some(session) = sub.session.upgrade() else {
                    break;
                };
                if session.send_batch(batch).await.is_err() {
                    break;
                }
            }
            Step::Close => {
                if let Some(session) = sub.session.upgrade() {
                    // RFC 6455 §7.4.1 1013: try again later. A peer too slow to take even the
                    // close frame is cut off when the close timeout expires.
                    let close = Message::close(CloseCode::TRY_AGAIN_LATER, "subscriber too slow");
                    let sent =
                        tokio::time::timeout(session.close_timeout(), session.send_message(close));
                    if !matches!(sent.await, Ok(Ok(()))) {
                        session.shutdown();
                    }
                }
                break;
            }
        }
    }
    sub.queue().stopped = true;
    if let Some(inner) = topics.upgrade() {
        inner.forget(sub.id);
    }
}
