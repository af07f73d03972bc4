//! Corking: while the reader still holds input it will decode without waiting, the writer's
//! frames stay in the sink's buffer, and go out in one write when the reader next has to wait
//! for the socket. An echo of a burst of 32 messages then costs one system call, not 32.
//!
//! Frames of any size are corked: the sink's own limit (`Config::max_write_buffer`, 128 KiB)
//! writes them out once that much is held, so two 64 KiB echoes go out in one `writev` (a
//! corked payload keeps the read buffer it was cut from alive a little longer, and the next
//! frame is read into a fresh one).
//!
//! In a split session two flags, shared by the reader and the writer (which may run in
//! different tasks), hold the whole protocol; this file is the only place that touches them.
//! An unsplit one keeps the same two as plain fields (`owned.rs`).

use std::sync::atomic::{AtomicBool, Ordering};

/// The corking state of one session.
#[derive(Debug, Default)]
pub(super) struct Cork {
    /// The reader holds input it will decode without waiting: writes may stay buffered.
    reader_has_more: AtomicBool,
    /// Frames were left in the sink's buffer by a corked write; the reader flushes them before
    /// it waits for the socket.
    owed: AtomicBool,
}

impl Cork {
    /// The state of a session split after writes were corked (`owed`) or not.
    pub(super) fn owing(owed: bool) -> Cork {
        Cork {
            reader_has_more: AtomicBool::new(false),
            owed: AtomicBool::new(owed),
        }
    }

    /// Writer, after buffering a frame: whether it may stay buffered (the reader will flush
    /// it). Re-checks after marking the buffer owed, in case the reader ran dry in between
    /// (SeqCst orders the two flags).
    pub(super) fn hold(&self) -> bool {
        if self.reader_has_more.load(Ordering::SeqCst) {
            // Seen set (in the SeqCst order) means the reader has not yet taken it: it will.
            if !self.owed.load(Ordering::SeqCst) {
                self.owed.store(true, Ordering::SeqCst);
            }
            if self.reader_has_more.load(Ordering::SeqCst) {
                return true;
            }
        }
        self.flushing();
        false
    }

    /// Writer: the sink is about to be flushed, so nothing is owed any more.
    pub(super) fn flushing(&self) {
        if self.owed.load(Ordering::Relaxed) {
            self.owed.store(false, Ordering::SeqCst);
        }
    }

    /// Whether a corked write left frames in the buffer (a `Sink` flush must send them).
    pub(super) fn is_owed(&self) -> bool {
        self.owed.load(Ordering::SeqCst)
    }

    /// Reader: publishes whether input is buffered; a store (a full fence with SeqCst) only
    /// when the value changes.
    pub(super) fn reader_has_more(&self, more: bool) {
        if self.reader_has_more.load(Ordering::Relaxed) != more {
            self.reader_has_more.store(more, Ordering::SeqCst);
        }
    }

    /// Reader, out of input: takes the flush that corked writes are owed, if any.
    pub(super) fn take_owed(&self) -> bool {
        self.owed.swap(false, Ordering::SeqCst)
    }
}
