//! The adapter's statistics: counted lock-free by the send path, the
//! receive path and the thread, read as one snapshot by the statistics OIDs.

use core::sync::atomic::{AtomicU64, Ordering};

use super::RxKind;

/// Statistics at one instant, by kind as in [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub tx_frames: [u64; 3],
    pub tx_bytes: [u64; 3],
    pub tx_discards: u64,
    pub tx_errors: u64,
    pub rx_frames: [u64; 3],
    pub rx_bytes: [u64; 3],
    pub rx_discards: u64,
    pub rx_errors: u64,
}

/// Adapter statistics, updated lock-free. The three-element counters are
/// by kind: directed, multicast, broadcast.
#[derive(Debug, Default)]
pub struct Stats {
    pub tx_frames: [AtomicU64; 3],
    pub tx_bytes: [AtomicU64; 3],
    pub tx_discards: AtomicU64,
    pub tx_errors: AtomicU64,
    pub rx_frames: [AtomicU64; 3],
    pub rx_bytes: [AtomicU64; 3],
    /// Frames received while paused or with no free receive slot.
    pub rx_discards: AtomicU64,
    pub rx_errors: AtomicU64,
}

impl Stats {
    /// The counters as they are now, for an OID query.
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let load3 = |a: &[AtomicU64; 3]| [load(&a[0]), load(&a[1]), load(&a[2])];
        StatsSnapshot {
            tx_frames: load3(&self.tx_frames),
            tx_bytes: load3(&self.tx_bytes),
            tx_discards: load(&self.tx_discards),
            tx_errors: load(&self.tx_errors),
            rx_frames: load3(&self.rx_frames),
            rx_bytes: load3(&self.rx_bytes),
            rx_discards: load(&self.rx_discards),
            rx_errors: load(&self.rx_errors),
        }
    }
}

/// Where a frame of `kind` is counted in the by-kind counters.
pub(super) fn kind_index(kind: RxKind) -> usize {
    match kind {
        RxKind::Directed => 0,
        RxKind::Multicast => 1,
        RxKind::Broadcast => 2,
    }
}
