//! The heartbeat task: the seed's `heartbeat` option, plus ping mode with dead-peer detection.
//! It holds only a weak reference, so it ends on its own once the reader and writer are gone.

use std::sync::atomic::Ordering;
use std::sync::Weak;

use super::{Abort, Shared};
use crate::options::{Heartbeat, HeartbeatMode};
use crate::proto::{Message, State};

/// Sends the keep-alive frame every `hb.interval` until the session ends; in ping mode, aborts
/// the session when the peer stays silent.
pub(super) fn spawn(weak: Weak<Shared>, hb: Heartbeat) {
    tokio::spawn(async move {
        let mut next = tokio::time::Instant::now() + hb.interval;
        loop {
            tokio::time::sleep_until(next).await;
            next += hb.interval;
            let Some(shared) = weak.upgrade() else { return };
            if shared.aborted().is_some() || shared.conn().state() != State::Open {
                return;
            }
            match hb.mode {
                HeartbeatMode::Pong => {
                    if shared.send(Message::pong("")).await.is_err() {
                        return;
                    }
                }
                HeartbeatMode::Ping { timeout } => {
                    let seen = shared.activity.load(Ordering::Acquire);
                    let sent = tokio::time::timeout(timeout, shared.send(Message::ping("")));
                    match sent.await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return,
                        Err(_) => {
                            shared.abort(Abort::PeerNotResponding(timeout));
                            return;
                        }
                    }
                    drop(shared);
                    tokio::time::sleep(timeout).await;
                    let Some(shared) = weak.upgrade() else { return };
                    // Only a reader waiting on an empty transport proves that nothing came.
                    if shared.activity.load(Ordering::Acquire) == seen
                        && shared.reader_waiting.load(Ordering::Acquire)
                        && shared.conn().state() == State::Open
                    {
                        tracing::debug!("heartbeat: no answer within {timeout:?}");
                        shared.abort(Abort::PeerNotResponding(timeout));
                        return;
                    }
                }
            }
        }
    });
}
