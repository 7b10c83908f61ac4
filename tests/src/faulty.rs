//! Fault injection for engine tests: a [`Volume`] wrapper whose reads and
//! writes fail, tear or are recorded on the test's command, and a storage
//! mirror driven write by write from that record, so a test decides which
//! writes reach the peer, when, in what order and how much of each.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use volnic_core::format::Geometry;
use volnic_core::testkit::SharedVolume;
use volnic_core::{LinkConfig, LinkError, Volume, VolumeError, VolumeErrorKind};

use crate::memrig::{config, copy_all, volume};
use crate::node::{frame_id, Node};

/// Bytes of the unit a storage device writes atomically, at best.
pub const SECTOR: usize = 512;

/// A write that reached the wrapped volume, as a mirror would see it.
#[derive(Clone, Debug)]
pub struct Write {
    pub offset: u64,
    pub data: Vec<u8>,
}

impl Write {
    fn end(&self) -> u64 {
        self.offset + self.data.len() as u64
    }

    fn overlaps(&self, other: &Write) -> bool {
        self.offset < other.end() && other.offset < self.end()
    }
}

/// What a [`FaultyVolume`] does wrong, switched by the test at any time.
#[derive(Debug, Default)]
pub struct Faults {
    /// Every read fails with this error while set.
    pub read_error: Option<VolumeError>,
    /// Every write fails with this error (storing nothing) while set.
    pub write_error: Option<VolumeError>,
    /// The next write stores only its first this-many bytes and then fails
    /// with EIO, as a write cut short by a storage fault.
    pub tear_next_write: Option<usize>,
    /// Successful writes, oldest first, for a [`LogMirror`] to apply.
    pub log: VecDeque<Write>,
    pub reads: u64,
    pub writes: u64,
    pub failed_reads: u64,
    pub failed_writes: u64,
}

/// The test's handle on a [`FaultyVolume`]'s faults.
pub type FaultHandle = Rc<RefCell<Faults>>;

/// A volume that fails, tears and records writes as its [`Faults`] say.
pub struct FaultyVolume<V: Volume> {
    pub inner: V,
    pub faults: FaultHandle,
}

impl<V: Volume> FaultyVolume<V> {
    pub fn new(inner: V) -> Self {
        Self {
            inner,
            faults: FaultHandle::default(),
        }
    }
}

/// EIO, as Linux reports it.
pub const EIO: VolumeError = VolumeError::new(VolumeErrorKind::Io, 5);
/// ENOSPC, as Linux reports it (a sparse volume file on a full filesystem).
pub const ENOSPC: VolumeError = VolumeError::new(VolumeErrorKind::NoSpace, 28);

impl<V: Volume> Volume for FaultyVolume<V> {
    fn len_bytes(&self) -> u64 {
        self.inner.len_bytes()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        let mut f = self.faults.borrow_mut();
        f.reads += 1;
        if let Some(e) = f.read_error {
            f.failed_reads += 1;
            return Err(e);
        }
        drop(f);
        self.inner.read_at(offset, buf)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        let mut f = self.faults.borrow_mut();
        f.writes += 1;
        if let Some(e) = f.write_error {
            f.failed_writes += 1;
            return Err(e);
        }
        if let Some(keep) = f.tear_next_write.take() {
            let keep = keep.min(data.len());
            f.failed_writes += 1;
            self.inner.write_at(offset, &data[..keep])?;
            f.log.push_back(Write {
                offset,
                data: data[..keep].to_vec(),
            });
            return Err(EIO);
        }
        self.inner.write_at(offset, data)?;
        f.log.push_back(Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }
}

/// A storage mirror applied write by write: it takes the writes a
/// [`FaultyVolume`] recorded and puts them on the peer's receive volume
/// only when, and as, the test says.
pub struct LogMirror {
    pub from: FaultHandle,
    pub to: SharedVolume,
}

impl LogMirror {
    /// Writes made on the primary and not yet applied.
    pub fn pending(&self) -> usize {
        self.from.borrow().log.len()
    }

    /// Takes the oldest pending write.
    pub fn take(&self) -> Option<Write> {
        self.from.borrow_mut().log.pop_front()
    }

    /// Forgets every pending write (a mirror that lost them).
    pub fn discard(&self) {
        self.from.borrow_mut().log.clear();
    }

    /// Applies `write` whole.
    pub fn put(&self, write: &Write) {
        self.put_prefix(write, write.data.len());
    }

    /// Applies only the first `bytes` of `write` (a torn copy).
    pub fn put_prefix(&self, write: &Write, bytes: usize) {
        let start = write.offset as usize;
        let n = bytes.min(write.data.len());
        self.to.0.borrow_mut().bytes[start..start + n].copy_from_slice(&write.data[..n]);
    }

    /// Applies every pending write in order (a synchronous mirror).
    pub fn apply_all(&self) {
        while let Some(w) = self.take() {
            self.put(&w);
        }
    }

    /// Takes up to `window` pending writes and returns them in the order an
    /// asynchronous mirror with that reorder window may apply them: any
    /// permutation (chosen by `seed`) in which a write never goes before an
    /// earlier one it overlaps, as `volnic_tools::mirror::AsyncMirror` does.
    pub fn take_reordered(&self, window: usize, seed: &mut u64) -> Vec<Write> {
        let mut batch = Vec::new();
        while batch.len() < window {
            match self.take() {
                Some(w) => batch.push(w),
                None => break,
            }
        }
        let mut out = Vec::with_capacity(batch.len());
        let mut done = vec![false; batch.len()];
        while out.len() < batch.len() {
            let ready: Vec<usize> = (0..batch.len())
                .filter(|&i| !done[i] && (0..i).all(|j| done[j] || !batch[j].overlaps(&batch[i])))
                .collect();
            let pick = ready[(next_random(seed) % ready.len() as u64) as usize];
            done[pick] = true;
            out.push(batch[pick].clone());
        }
        out
    }
}

/// A small deterministic generator (xorshift64*) for reproducible faults.
pub fn next_random(state: &mut u64) -> u64 {
    let mut x = (*state).max(1);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

pub type FaultyNode = Node<FaultyVolume<SharedVolume>, FaultyVolume<SharedVolume>>;

/// Two link ends on in-memory volumes behind [`FaultyVolume`]s, each
/// direction carried by a [`LogMirror`]: node A (1) sends on `a_send`,
/// which reaches node B (2) as `b_recv`, and the other way round.
pub struct FaultRig {
    pub a: FaultyNode,
    pub b: FaultyNode,
    pub a_send: SharedVolume,
    pub b_recv: SharedVolume,
    pub b_send: SharedVolume,
    pub a_recv: SharedVolume,
    /// A's send volume to B's receive volume.
    pub ab: LogMirror,
    /// B's send volume to A's receive volume.
    pub ba: LogMirror,
    pub geo: Geometry,
    pub now: u64,
}

impl FaultRig {
    /// A rig with both links up after a few synchronous steps; `tune`
    /// adjusts each node's configuration before it opens.
    pub fn new(block_size: u32, ring: u32, tune: impl Fn(&mut LinkConfig)) -> FaultRig {
        let geo = Geometry::new(block_size, ring);
        let a_send = volume(geo, 1, 2, 0xa1);
        let b_send = volume(geo, 2, 1, 0xb2);
        let b_recv = SharedVolume::new(geo.volume_bytes() as usize);
        let a_recv = SharedVolume::new(geo.volume_bytes() as usize);
        copy_all(&a_send, &b_recv);
        copy_all(&b_send, &a_recv);
        let a = Self::open_node(1, &a_send, &a_recv, 0, &tune).expect("node A opens");
        let b = Self::open_node(2, &b_send, &b_recv, 0, &tune).expect("node B opens");
        let ab = LogMirror {
            from: a.send.faults.clone(),
            to: b_recv.clone(),
        };
        let ba = LogMirror {
            from: b.send.faults.clone(),
            to: a_recv.clone(),
        };
        let mut rig = FaultRig {
            a,
            b,
            a_send,
            b_recv,
            b_send,
            a_recv,
            ab,
            ba,
            geo,
            now: 1,
        };
        rig.ab.apply_all();
        rig.ba.apply_all();
        rig.run(20, 1_000);
        // Past both claims (their settle time follows the peer timeout) and
        // each end's next read of the other's running record.
        for _ in 0..2_000 {
            if rig.a.link.link_up() && rig.b.link.link_up() {
                break;
            }
            rig.run(1, 1_000);
        }
        assert!(
            rig.a.link.link_up() && rig.b.link.link_up(),
            "link up: {:?} {:?} {:?} {:?}",
            rig.a.link.peer_problem(),
            rig.a.link.peer_state(rig.now),
            rig.b.link.peer_problem(),
            rig.b.link.peer_state(rig.now)
        );
        rig
    }

    /// Opens node `node` on `send`/`recv` at `now` (queue of 1 MiB).
    pub fn open_node(
        node: u32,
        send: &SharedVolume,
        recv: &SharedVolume,
        now: u64,
        tune: &dyn Fn(&mut LinkConfig),
    ) -> Result<FaultyNode, LinkError> {
        let mut cfg = config(node, 0);
        tune(&mut cfg);
        Node::open(
            cfg,
            FaultyVolume::new(send.clone()),
            FaultyVolume::new(recv.clone()),
            now,
            1 << 20,
        )
    }

    /// Restarts node A as after a crash (kill -9): a new link on the same
    /// volumes, its claim wait run out with both mirrors synchronous. The
    /// new A's writes go through `ab` as before.
    pub fn restart_a(&mut self, tune: &dyn Fn(&mut LinkConfig)) {
        self.ab.apply_all();
        let a =
            Self::open_node(1, &self.a_send, &self.a_recv, self.now, tune).expect("node A reopens");
        self.ab.from = a.send.faults.clone();
        self.a = a;
        while self.a.link.claiming() {
            self.step_both(10_000);
        }
    }

    /// One step of both nodes, each direction mirrored synchronously.
    pub fn step_both(&mut self, dt_us: u64) {
        self.a.step(self.now).expect("node A steps");
        self.ab.apply_all();
        self.ba.apply_all();
        self.b.step(self.now).expect("node B steps");
        self.ba.apply_all();
        self.ab.apply_all();
        self.now += dt_us;
    }

    /// `ticks` synchronous steps of `dt_us`.
    pub fn run(&mut self, ticks: usize, dt_us: u64) {
        for _ in 0..ticks {
            self.step_both(dt_us);
        }
    }
}

/// Checks what a receiver delivered: every frame intact (built by
/// `numbered_frame`), numbers strictly increasing (none twice, none out of
/// order, nothing of an older run after a newer one). Returns the numbers.
pub fn checked_ids(frames: &[Vec<u8>]) -> Vec<u64> {
    let mut ids = Vec::with_capacity(frames.len());
    for (i, f) in frames.iter().enumerate() {
        let id = frame_id(f).unwrap_or_else(|| panic!("frame {i} delivered corrupted: {f:02x?}"));
        if let Some(&last) = ids.last() {
            assert!(id > last, "frame {id} delivered after frame {last}");
        }
        ids.push(id);
    }
    ids
}
