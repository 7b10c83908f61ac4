//! Counters kept by the engine. Every frame or block that is not delivered is
//! counted under the reason it was not.

/// Link counters. All monotonically increasing for the life of a [`crate::Link`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames packed into blocks and written.
    pub frames_sent: u64,
    pub bytes_sent: u64,
    /// Frames delivered to the host.
    pub frames_received: u64,
    pub bytes_received: u64,
    /// Data blocks written to the send volume.
    pub blocks_written: u64,
    /// Data blocks read from the receive volume that were accepted.
    pub blocks_read: u64,
    /// State records written.
    pub state_writes: u64,

    /// Frames refused because the send queue was full (host-side counter,
    /// added by the host through [`crate::Link::count_queue_full`]).
    pub drops_queue_full: u64,
    /// Frames refused for a bad length.
    pub drops_bad_length: u64,
    /// Blocks overwritten before a live peer had read them (only happens when
    /// the peer is not live; with a live peer flow control holds the writer).
    pub drops_overwritten: u64,
    /// Blocks the receiver never saw (the writer lapped it, a corrupt block
    /// was skipped, or a block that never arrived was given up on once the
    /// writer had moved past it).
    pub drops_blocks_missed: u64,
    /// Frames discarded half-assembled because a block they spanned was lost.
    pub drops_partial_frames: u64,
    /// Frames discarded at shutdown or on a write failure.
    pub drops_shutdown: u64,

    /// Blocks seen with a bad checksum at least once (torn writes in progress
    /// are retried; this counts each block once). Not part of
    /// [`Counters::rejects`].
    pub rejects_torn: u64,
    /// Blocks never delivered because their contents are wrong: still torn
    /// when skipped after the retry grace, or whole (CRC holds) but
    /// inconsistent (impossible header or frame stream, wrong slot).
    pub rejects_corrupt: u64,
    /// Blocks of an earlier epoch found where a current one was expected,
    /// and state records older than one already seen.
    pub rejects_stale: u64,
    /// Blocks and state records written by another link or node.
    pub rejects_foreign: u64,
    /// Blocks or records whose keyed MAC did not verify.
    pub rejects_auth: u64,
    /// Peer state records that could not be decoded.
    pub rejects_state: u64,

    /// Volume write failures.
    pub write_errors: u64,
    /// Volume read failures.
    pub read_errors: u64,
    /// Times the peer was seen starting a new epoch.
    pub peer_restarts: u64,
}

impl Counters {
    /// Sum of every drop counter.
    pub fn drops(&self) -> u64 {
        self.drops_queue_full
            + self.drops_bad_length
            + self.drops_overwritten
            + self.drops_blocks_missed
            + self.drops_partial_frames
            + self.drops_shutdown
    }

    /// Blocks and records rejected, each once, under one reason: the
    /// `rejects` of the state record. `rejects_torn` is not part of it
    /// (most torn blocks heal; one that does not is counted once more, as
    /// corrupt, when it is skipped).
    pub fn rejects(&self) -> u64 {
        self.rejects_corrupt
            + self.rejects_stale
            + self.rejects_foreign
            + self.rejects_auth
            + self.rejects_state
    }
}
