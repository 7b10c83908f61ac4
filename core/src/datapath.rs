//! The datapath loop both hosts run: pack → poll → deliver → report →
//! wait, until the host asks it to stop; then drain the send queue and
//! write the shutting-down record.
//!
//! The Windows miniport's system thread and the Linux endpoint's datapath
//! thread each implement [`Host`] (their clock, their send queue's lock,
//! how a batch of frames goes up their stack, how they show the link and
//! log) and call [`run`]; everything that decides *when* (adaptive
//! polling, what is reported once and what every time, how a stop drains,
//! what ends the loop) is here, once.

use core::fmt;

use crate::link::{Link, LinkError, PeerProblem, PollReport};
use crate::pacer::Pacer;
use crate::volume::{Volume, VolumeError};

/// Most pack → poll rounds a stop spends writing what is still queued (the
/// queue may hold more than one batch of blocks). Frames left after them,
/// or behind a closed window, are counted as dropped at shutdown.
pub const DRAIN_ROUNDS: usize = 64;

/// Why a link is down: what both hosts log and `volnic status` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// The send volume refuses writes (a full disk, an I/O error); packed
    /// blocks are retried, and the link is down until a write works.
    SendFailing(VolumeError),
    /// The receive side cannot carry traffic.
    Peer(PeerProblem),
    /// The link stopped and will not write again (its send volume was
    /// taken over, reformatted, shrunk or claimed by another writer).
    Stopped(LinkError),
}

impl DownReason {
    /// Why `link` is down right now, as far as its last poll knows: the
    /// send side's write error first (it also stops acknowledgements), else
    /// the receive side's problem. `None` while the link is up, and while it
    /// is down only because the peer is not running (its state shows that).
    pub fn of(link: &Link) -> Option<Self> {
        link.send_error()
            .map(DownReason::SendFailing)
            .or_else(|| link.peer_problem().map(DownReason::Peer))
    }
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The send volume's messages (full disk, read-only, gone) live
            // with the link's errors.
            DownReason::SendFailing(e) => LinkError::SendIo(*e).fmt(f),
            DownReason::Peer(p) => p.fmt(f),
            DownReason::Stopped(e) => e.fmt(f),
        }
    }
}

/// The two nodes are configured with different peer timeouts (µs). The
/// link still works: each judges the other by the larger, so a dead peer is
/// noticed that late.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutMismatch {
    pub ours_us: u64,
    pub theirs_us: u64,
}

impl fmt::Display for TimeoutMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ours, theirs) = (self.ours_us / 1000, self.theirs_us / 1000);
        write!(
            f,
            "the peer declares a peer timeout of {theirs} ms, this node uses {ours} ms: each node judges the other by the larger ({} ms), so a dead peer is noticed that late; set the same peer timeout on both nodes (peer-timeout-ms, PeerTimeoutMs on Windows)",
            ours.max(theirs)
        )
    }
}

/// What the loop tells its host, for the host to count, log or show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A write to the send volume failed in this poll (every such poll);
    /// the blocks stay pending and are retried.
    WriteFailed(&'a VolumeError),
    /// Why the link is down changed: a reason appeared or became another
    /// (`Some`), or went away (`None`). Reported once per change.
    DownReasonChanged(Option<&'a DownReason>),
    /// The peer's declared peer timeout started (or stopped) differing
    /// from this node's. Reported once per change.
    TimeoutMismatchChanged(Option<TimeoutMismatch>),
    /// The link stopped by itself; the loop ends with this error.
    Stopped(&'a LinkError),
    /// The shutting-down state record could not be written at stop.
    ShutdownFailed(&'a LinkError),
}

/// What a host gives the loop.
pub trait Host {
    /// Microseconds of a monotonic clock.
    fn now_us(&self) -> u64;
    /// True once the host wants the loop to stop (halt, SIGTERM).
    fn stop_requested(&self) -> bool;
    /// Moves frames from the host's send queue into the link
    /// ([`Link::pack`], under the lock that guards the queue). Returns true
    /// when frames are still queued.
    fn pack(&mut self, link: &mut Link, now_us: u64) -> bool;
    /// One received frame for the host's stack; a host that hands frames
    /// up in batches may keep it until [`Host::delivered`].
    fn deliver(&mut self, frame: &[u8]);
    /// The poll that delivered frames is over: hand up what is batched.
    fn delivered(&mut self) {}
    /// The link went up or down (indicate the media state).
    fn link_changed(&mut self, up: bool);
    /// Something to count, log or show.
    fn event(&mut self, event: Event<'_>);
    /// After every poll that did not stop the link (publish counters).
    fn polled(&mut self, _link: &Link, _report: &PollReport) {}
    /// Sleeps up to `wait_us`, or less if woken (a frame queued, a stop).
    /// `report` is the poll's: a host whose wake-up is not sticky checks
    /// its queue and skips the wait when frames are queued and the peer's
    /// window is open (`!report.flow_blocked`).
    fn wait(&mut self, wait_us: u64, report: &PollReport);
}

/// The loop's own state between rounds.
#[derive(Debug)]
pub struct Datapath {
    pacer: Pacer,
    shown_up: bool,
    reason: Option<DownReason>,
    mismatch: Option<TimeoutMismatch>,
}

impl Datapath {
    /// A loop that polls every `idle_poll_us` on a quiet link; `shown_up`
    /// is the link state the host shows now (the loop reports changes from
    /// it).
    pub fn new(idle_poll_us: u64, shown_up: bool) -> Self {
        Self {
            pacer: Pacer::new(idle_poll_us),
            shown_up,
            reason: None,
            mismatch: None,
        }
    }

    /// One round: pack, poll (delivering frames), report what changed,
    /// wait. `Ok(true)`: go on; `Ok(false)`: the host asked to stop, call
    /// [`Datapath::finish`]; `Err`: the link stopped by itself (reported
    /// as [`Event::Stopped`], the link shown down) and will not run again.
    pub fn step<H: Host, S: Volume, R: Volume>(
        &mut self,
        host: &mut H,
        link: &mut Link,
        send: &mut S,
        recv: &mut R,
    ) -> Result<bool, LinkError> {
        let now = host.now_us();
        host.pack(link, now);
        if host.stop_requested() {
            return Ok(false);
        }
        let result = link.poll(now, send, recv, &mut |frame: &[u8]| host.deliver(frame));
        host.delivered();
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                host.event(Event::Stopped(&e));
                self.show(host, false);
                return Err(e);
            }
        };
        if let Some(e) = &report.write_error {
            host.event(Event::WriteFailed(e));
        }
        let reason = DownReason::of(link);
        if reason != self.reason {
            host.event(Event::DownReasonChanged(reason.as_ref()));
            self.reason = reason;
        }
        let mismatch = link
            .peer_timeout_mismatch()
            .map(|(ours_us, theirs_us)| TimeoutMismatch { ours_us, theirs_us });
        if mismatch != self.mismatch {
            host.event(Event::TimeoutMismatchChanged(mismatch));
            self.mismatch = mismatch;
        }
        self.show(host, link.link_up());
        host.polled(link, &report);
        // Fast polls right after traffic, the configured interval when
        // quiet, never a spin (volnic_core::pacer).
        let wait_us = self
            .pacer
            .wait_us(host.now_us(), &report, link.has_pending());
        if wait_us > 0 {
            host.wait(wait_us, &report);
        }
        Ok(true)
    }

    /// The stop: writes what is still queued (up to [`DRAIN_ROUNDS`]
    /// rounds; frames received meanwhile are not delivered, the host is
    /// going away), then the shutting-down record. The link is down after
    /// it; the host clears what it shows (a halting miniport indicates
    /// nothing more).
    pub fn finish<H: Host, S: Volume, R: Volume>(
        &mut self,
        host: &mut H,
        link: &mut Link,
        send: &mut S,
        recv: &mut R,
    ) {
        for _ in 0..DRAIN_ROUNDS {
            let more = host.pack(link, host.now_us());
            let polled = link.poll(host.now_us(), send, recv, &mut |_: &[u8]| {});
            if polled.is_err() || !more {
                break;
            }
        }
        if let Err(e) = link.shutdown(host.now_us(), send) {
            host.event(Event::ShutdownFailed(&e));
        }
    }

    fn show<H: Host>(&mut self, host: &mut H, up: bool) {
        if up != self.shown_up {
            self.shown_up = up;
            host.link_changed(up);
        }
    }
}

/// Runs the loop, from a link the host shows down, until the host asks it to stop (then drains and writes the
/// shutting-down record: `Ok`) or the link stops by itself (`Err`, with
/// nothing more written; the host decides what follows: the Linux endpoint
/// exits, the miniport stays disconnected until it is halted).
pub fn run<H: Host, S: Volume, R: Volume>(
    host: &mut H,
    link: &mut Link,
    send: &mut S,
    recv: &mut R,
    idle_poll_us: u64,
) -> Result<(), LinkError> {
    let mut datapath = Datapath::new(idle_poll_us, false);
    while datapath.step(host, link, send, recv)? {}
    datapath.finish(host, link, send, recv);
    Ok(())
}
