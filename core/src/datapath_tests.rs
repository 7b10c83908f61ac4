//! The datapath loop against a test host: two nodes on shared in-memory
//! volumes, a virtual clock that each wait advances, and a record of what
//! the loop told each host.

use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;

use crate::datapath::{Datapath, DownReason, Event, Host, TimeoutMismatch};
use crate::format::Geometry;
use crate::link::{Link, LinkConfig, LinkError, LostCause, PeerProblem, PollReport};
use crate::queue::SendQueue;
use crate::testkit::{format_volume, SharedVolume};
use crate::volume::{Volume, VolumeError, VolumeErrorKind};

/// A send volume whose writes can be made to fail (a full disk, EIO).
#[derive(Clone)]
struct SendVolume {
    inner: SharedVolume,
    fail_writes: Rc<Cell<bool>>,
}

impl Volume for SendVolume {
    fn len_bytes(&self) -> u64 {
        self.inner.len_bytes()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        if self.fail_writes.get() {
            return Err(VolumeError::new(VolumeErrorKind::Io, 5));
        }
        self.inner.write_at(offset, data)
    }
    fn current_len(&mut self) -> Result<u64, VolumeError> {
        self.inner.current_len()
    }
}

const BLOCK: u32 = 512;
const RING: u32 = 64;
const IDLE_POLL_US: u64 = 1000;

/// What the loop told a host, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Told {
    WriteFailed,
    Down(Option<DownReason>),
    Mismatch(Option<TimeoutMismatch>),
    Stopped(LinkError),
    ShutdownFailed(String),
}

struct TestHost {
    clock: Rc<Cell<u64>>,
    queue: SendQueue,
    stop: bool,
    /// Frames handed up, one Vec per `delivered` call (a batch).
    batches: Vec<Vec<Vec<u8>>>,
    open_batch: Vec<Vec<u8>>,
    shown: Vec<bool>,
    told: Vec<Told>,
    polls: usize,
    waited_us: u64,
}

impl TestHost {
    fn new(clock: &Rc<Cell<u64>>) -> Self {
        Self {
            clock: Rc::clone(clock),
            queue: SendQueue::new(1 << 20, BLOCK as usize),
            stop: false,
            batches: Vec::new(),
            open_batch: Vec::new(),
            shown: Vec::new(),
            told: Vec::new(),
            polls: 0,
            waited_us: 0,
        }
    }

    fn frames(&self) -> Vec<Vec<u8>> {
        self.batches.iter().flatten().cloned().collect()
    }

    fn downs(&self) -> Vec<Option<DownReason>> {
        self.told
            .iter()
            .filter_map(|t| match t {
                Told::Down(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }
}

impl Host for TestHost {
    fn now_us(&self) -> u64 {
        self.clock.get()
    }
    fn stop_requested(&self) -> bool {
        self.stop
    }
    fn pack(&mut self, link: &mut Link, now_us: u64) -> bool {
        link.pack(&mut self.queue, now_us);
        !self.queue.is_empty()
    }
    fn deliver(&mut self, frame: &[u8]) {
        self.open_batch.push(frame.to_vec());
    }
    fn delivered(&mut self) {
        if !self.open_batch.is_empty() {
            self.batches.push(core::mem::take(&mut self.open_batch));
        }
    }
    fn link_changed(&mut self, up: bool) {
        self.shown.push(up);
    }
    fn event(&mut self, event: Event<'_>) {
        self.told.push(match event {
            Event::WriteFailed(_) => Told::WriteFailed,
            Event::DownReasonChanged(r) => Told::Down(r.cloned()),
            Event::TimeoutMismatchChanged(m) => Told::Mismatch(m),
            Event::Stopped(e) => Told::Stopped(e.clone()),
            Event::ShutdownFailed(e) => Told::ShutdownFailed(e.to_string()),
        });
    }
    fn polled(&mut self, _link: &Link, _report: &PollReport) {
        self.polls += 1;
    }
    fn wait(&mut self, wait_us: u64, _report: &PollReport) {
        // Virtual time: the wait passes at once.
        self.waited_us += wait_us;
        self.clock.set(self.clock.get() + wait_us);
    }
}

struct Node {
    host: TestHost,
    link: Link,
    send: SendVolume,
    recv: SharedVolume,
    datapath: Datapath,
}

impl Node {
    fn step(&mut self) -> Result<bool, LinkError> {
        self.datapath.step(
            &mut self.host,
            &mut self.link,
            &mut self.send,
            &mut self.recv,
        )
    }
    fn finish(&mut self) {
        self.datapath.finish(
            &mut self.host,
            &mut self.link,
            &mut self.send,
            &mut self.recv,
        );
    }
}

fn volumes() -> (SharedVolume, SharedVolume) {
    let len = Geometry::new(BLOCK, RING).volume_bytes() as usize;
    let (mut ab, mut ba) = (SharedVolume::new(len), SharedVolume::new(len));
    format_volume(&mut ab, BLOCK, RING, 1, 2, [1; 16]).unwrap();
    format_volume(&mut ba, BLOCK, RING, 2, 1, [2; 16]).unwrap();
    (ab, ba)
}

fn node(
    clock: &Rc<Cell<u64>>,
    id: u32,
    send: &SharedVolume,
    recv: &SharedVolume,
    peer_timeout_us: u64,
) -> Node {
    let mut cfg = LinkConfig::new(id);
    // The claim is tested in claim_tests.rs; these tests are about the loop.
    cfg.claim_settle_us = 0;
    cfg.set_peer_timeout_us(peer_timeout_us);
    // Four blocks a batch: a stop with more queued needs several rounds.
    cfg.max_batch_bytes = 4 * BLOCK as usize;
    let mut s = SendVolume {
        inner: send.clone(),
        fail_writes: Rc::new(Cell::new(false)),
    };
    let mut r = recv.clone();
    let link = Link::open(cfg, &mut s, &mut r, clock.get(), 100).unwrap();
    let datapath = Datapath::new(IDLE_POLL_US, false);
    Node {
        host: TestHost::new(clock),
        link,
        send: s,
        recv: r,
        datapath,
    }
}

fn pair(clock: &Rc<Cell<u64>>) -> (Node, Node) {
    let (ab, ba) = volumes();
    (
        node(clock, 1, &ab, &ba, 3_000_000),
        node(clock, 2, &ba, &ab, 3_000_000),
    )
}

/// Steps both nodes in turn until `done` or `rounds` rounds.
fn run_both(a: &mut Node, b: &mut Node, rounds: usize, done: impl Fn(&Node, &Node) -> bool) {
    for _ in 0..rounds {
        if done(a, b) {
            return;
        }
        assert_eq!(a.step(), Ok(true));
        assert_eq!(b.step(), Ok(true));
    }
}

fn frame(tag: u16, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14..16].copy_from_slice(&tag.to_le_bytes());
    f
}

fn up(a: &Node, b: &Node) -> bool {
    a.link.link_up() && b.link.link_up()
}

#[test]
fn frames_flow_each_way_and_the_link_is_shown_up_once() {
    let clock = Rc::new(Cell::new(1_000));
    let (mut a, mut b) = pair(&clock);
    run_both(&mut a, &mut b, 5000, up);
    assert!(up(&a, &b), "the link came up");
    assert_eq!(a.host.shown, [true]);
    assert_eq!(b.host.shown, [true]);
    let sent: Vec<Vec<u8>> = (0..10).map(|i| frame(i, 100 + usize::from(i))).collect();
    for f in &sent {
        a.host.queue.push(f).unwrap();
        b.host.queue.push(f).unwrap();
    }
    run_both(&mut a, &mut b, 200, |a, b| {
        a.host.frames().len() == 10 && b.host.frames().len() == 10
    });
    assert_eq!(b.host.frames(), sent, "a → b, in order, once");
    assert_eq!(a.host.frames(), sent, "b → a, in order, once");
    // Every poll ended with its batch handed up: no frame waits in the
    // host's open batch between rounds.
    assert!(a.host.open_batch.is_empty() && b.host.open_batch.is_empty());
    assert!(
        a.host.polls > 0 && a.host.waited_us > 0,
        "it waits between polls"
    );
    assert_eq!(a.host.shown, [true], "no flap while traffic flows");
    assert!(
        a.host.told.iter().all(|t| !matches!(t, Told::Stopped(_))),
        "{:?}",
        a.host.told
    );
}

#[test]
fn a_stop_drains_more_than_one_batch_before_the_shutdown_record() {
    let clock = Rc::new(Cell::new(1_000));
    let (mut a, mut b) = pair(&clock);
    run_both(&mut a, &mut b, 5000, up);
    assert!(up(&a, &b));
    // 40 frames of nearly a block each: ten batches of four blocks, fewer
    // than the ring holds, so flow control lets all of them out.
    let sent: Vec<Vec<u8>> = (0..40).map(|i| frame(i, 400)).collect();
    for f in &sent {
        a.host.queue.push(f).unwrap();
    }
    a.host.stop = true;
    assert_eq!(a.step(), Ok(false), "a stop ends the round before the poll");
    a.finish();
    assert!(a.host.queue.is_empty(), "everything queued was packed");
    assert_eq!(a.link.counters().drops_shutdown, 0);
    assert!(!a.link.link_up(), "down after the stop");
    // The peer reads all of it, then the shutting-down record.
    for _ in 0..400 {
        if b.host.frames().len() == sent.len() {
            break;
        }
        assert_eq!(b.step(), Ok(true));
    }
    assert_eq!(b.host.frames(), sent);
    for _ in 0..5000 {
        if !b.link.link_up() {
            break;
        }
        assert_eq!(b.step(), Ok(true));
    }
    assert!(!b.link.link_up(), "the peer saw the shutting-down record");
    assert_eq!(b.host.shown, [true, false]);
}

#[test]
fn a_down_reason_is_told_once_when_it_appears_and_once_when_it_goes() {
    let clock = Rc::new(Cell::new(1_000));
    let (ab, ba) = volumes();
    let mut a = node(&clock, 1, &ab, &ba, 3_000_000);
    // The peer has not started: its state record was never written (shown
    // as the reason once the peer timeout has passed since the open).
    for _ in 0..5000 {
        assert_eq!(a.step(), Ok(true));
    }
    assert_eq!(
        a.host.downs(),
        [Some(DownReason::Peer(PeerProblem::NoRecord))],
        "told once over 5000 polls"
    );
    assert!(a.host.shown.is_empty(), "never shown up");
    let mut b = node(&clock, 2, &ba, &ab, 3_000_000);
    run_both(&mut a, &mut b, 5000, up);
    assert!(up(&a, &b));
    assert_eq!(
        a.host.downs(),
        [Some(DownReason::Peer(PeerProblem::NoRecord)), None]
    );
    assert_eq!(a.host.shown, [true]);
    assert_eq!(
        a.host.downs()[0].as_ref().unwrap().to_string(),
        PeerProblem::NoRecord.to_string(),
        "the reason reads as the engine's message"
    );
}

#[test]
fn a_peer_timeout_mismatch_is_told_once() {
    let clock = Rc::new(Cell::new(1_000));
    let (ab, ba) = volumes();
    let mut a = node(&clock, 1, &ab, &ba, 3_000_000);
    let mut b = node(&clock, 2, &ba, &ab, 9_000_000);
    run_both(&mut a, &mut b, 5000, up);
    assert!(up(&a, &b));
    for _ in 0..100 {
        assert_eq!(a.step(), Ok(true));
        assert_eq!(b.step(), Ok(true));
    }
    let mismatches = |n: &Node| -> Vec<Told> {
        n.host
            .told
            .iter()
            .filter(|t| matches!(t, Told::Mismatch(_)))
            .cloned()
            .collect()
    };
    assert_eq!(
        mismatches(&a),
        [Told::Mismatch(Some(TimeoutMismatch {
            ours_us: 3_000_000,
            theirs_us: 9_000_000
        }))]
    );
    assert_eq!(
        mismatches(&b),
        [Told::Mismatch(Some(TimeoutMismatch {
            ours_us: 9_000_000,
            theirs_us: 3_000_000
        }))]
    );
    let line = TimeoutMismatch {
        ours_us: 3_000_000,
        theirs_us: 9_000_000,
    }
    .to_string();
    assert!(
        line.contains("9000 ms") && line.contains("3000 ms") && line.contains("PeerTimeoutMs"),
        "{line}"
    );
}

#[test]
fn a_reformatted_send_volume_ends_the_loop_with_the_link_shown_down() {
    let clock = Rc::new(Cell::new(1_000));
    let (ab, ba) = volumes();
    let mut a = node(&clock, 1, &ab, &ba, 3_000_000);
    let mut b = node(&clock, 2, &ba, &ab, 3_000_000);
    run_both(&mut a, &mut b, 5000, up);
    assert!(up(&a, &b));
    // Someone reformats a's send volume for another link.
    let mut other = ab.clone();
    format_volume(&mut other, BLOCK, RING, 1, 2, [9; 16]).unwrap();
    let mut ended = None;
    for _ in 0..20_000 {
        match a.step() {
            Ok(true) => {}
            Ok(false) => panic!("nobody asked a to stop"),
            Err(e) => {
                ended = Some(e);
                break;
            }
        }
    }
    let e = ended.expect("the loop ended within a state interval or so");
    assert_eq!(
        e,
        LinkError::SendLost(LostCause::Reformatted { valid: true })
    );
    assert_eq!(a.host.told.last(), Some(&Told::Stopped(e)));
    assert_eq!(a.host.shown, [true, false], "shown down as it stopped");
}

#[test]
fn a_failing_send_volume_is_told_each_poll_and_named_once_as_the_reason() {
    let clock = Rc::new(Cell::new(1_000));
    let (mut a, mut b) = pair(&clock);
    run_both(&mut a, &mut b, 5000, up);
    assert!(up(&a, &b));
    a.send.fail_writes.set(true);
    a.host.queue.push(&frame(1, 100)).unwrap();
    for _ in 0..50 {
        assert_eq!(a.step(), Ok(true), "a write error does not end the loop");
    }
    let fails = a
        .host
        .told
        .iter()
        .filter(|t| **t == Told::WriteFailed)
        .count();
    assert!(fails >= 2, "every failing poll is told: {:?}", a.host.told);
    let io = VolumeError::new(VolumeErrorKind::Io, 5);
    assert_eq!(a.host.downs(), [Some(DownReason::SendFailing(io))]);
    assert_eq!(a.host.shown, [true, false]);
    assert_eq!(
        DownReason::SendFailing(io).to_string(),
        LinkError::SendIo(io).to_string()
    );
    // The storage heals: the pending frame goes out, the reason goes away.
    a.send.fail_writes.set(false);
    run_both(&mut a, &mut b, 400, |a, b| {
        up(a, b) && !b.host.frames().is_empty()
    });
    assert_eq!(b.host.frames(), [frame(1, 100)]);
    assert_eq!(a.host.downs(), [Some(DownReason::SendFailing(io)), None]);
    assert_eq!(a.host.shown, [true, false, true]);
}
