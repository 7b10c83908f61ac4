//! The link engine: one node's end of a volnic link.
//!
//! A [`Link`] owns no volume and no clock. The host calls
//! [`Link::pack`] (memory only, under the host's send-queue lock) and
//! [`Link::poll`] (volume I/O, outside any lock) from its datapath thread,
//! passing the monotonic time in microseconds. `poll` writes ready blocks to
//! the send volume as flow control allows, keeps the state record fresh,
//! follows the peer's state record and scans the receive volume, delivering
//! each frame exactly once, in order, to the host's sink.

use alloc::vec::Vec;
use core::fmt;

use crate::aligned::AlignedBuf;
use crate::auth::AuthKey;
use crate::format::{
    block_crc, db_field, DataHeader, FormatError, Geometry, PublishedCounters, StateExt,
    StateRecord, Superblock, WriterState, FORMAT_VERSION, HOST_NAME_LEN, MAC_LEN, STATE_LEN,
    SUPERBLOCK_LEN,
};
use crate::packer::Packer;
use crate::queue::SendQueue;
use crate::stats::Counters;
use crate::volume::{Volume, VolumeError, VolumeErrorKind};

mod reader;
mod reassembly;

use reader::Reader;

/// Tunables of a link. Times are in microseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// This node's number; the send volume's superblock must name it as writer.
    pub node_id: u32,
    /// How long a partly filled block waits for more frames (0: written as
    /// soon as the datapath is free; frames arriving during a write are
    /// batched into the next block).
    pub flush_delay_us: u64,
    /// The peer is silent when its state record has not changed and no block
    /// arrived for this long.
    pub peer_timeout_us: u64,
    /// How often the state record is rewritten as a liveness signal.
    pub state_interval_us: u64,
    /// How often the peer's state record is read while nothing else calls
    /// for it.
    pub state_poll_us: u64,
    /// Shortest interval between state-record writes made only to carry an
    /// acknowledgement.
    pub ack_interval_us: u64,
    /// How long an unfit slot the writer has moved past is waited for (a
    /// torn write still in flight, a block the storage brings after the
    /// record announcing it) before it is skipped: once per run of such
    /// slots (docs/FORMAT.md, the decision table). 150 ms by default: more
    /// than the polling mirror emulator's 100 ms sweep, which is how late
    /// it may bring a restarted writer's first blocks.
    pub torn_grace_us: u64,
    /// How long to watch the send volume's state record for another live
    /// writer before claiming a volume whose last record says running.
    pub claim_wait_us: u64,
    /// How long a writer waits after writing its claim before it reads the
    /// claim back and, if it is still its own, starts writing data: long
    /// enough for any other claimant, or a live writer's periodic record,
    /// to have overwritten it meanwhile.
    pub claim_settle_us: u64,
    /// Random number naming this run's claim (the host draws it; 0: derived
    /// from the epoch seed and the clock).
    pub claim_nonce: u64,
    /// Most bytes of blocks written in one volume write (at least one
    /// block): large writes under load, one block when traffic is light.
    pub max_batch_bytes: usize,
    /// Most bytes of blocks read per poll (at least one block).
    pub max_read_bytes: usize,
    /// Name published in the state record (for error messages on the peer).
    pub host_name: [u8; HOST_NAME_LEN],
    /// Key of authenticated mode; `None` for plain CRC-checked blocks.
    pub auth_key: Option<AuthKey>,
}

impl LinkConfig {
    /// Defaults for node `node_id`: no flush delay, 3 s peer timeout,
    /// 150 ms torn grace.
    pub fn new(node_id: u32) -> Self {
        let mut cfg = Self {
            node_id,
            flush_delay_us: 0,
            peer_timeout_us: 3_000_000,
            state_interval_us: 0,
            state_poll_us: 0,
            ack_interval_us: 1_000,
            torn_grace_us: 150_000,
            claim_wait_us: 0,
            claim_settle_us: 0,
            claim_nonce: 0,
            max_batch_bytes: 1 << 20,
            max_read_bytes: 1 << 20,
            host_name: [0; HOST_NAME_LEN],
            auth_key: None,
        };
        cfg.set_peer_timeout_us(3_000_000);
        cfg
    }

    /// Sets the peer timeout and the intervals derived from it.
    pub fn set_peer_timeout_us(&mut self, timeout_us: u64) {
        let timeout_us = timeout_us.max(1_000);
        self.peer_timeout_us = timeout_us;
        self.state_interval_us = timeout_us / 5;
        self.state_poll_us = (timeout_us / 10).min(100_000);
        self.claim_wait_us = self.state_interval_us * 2 + self.state_interval_us / 2;
        // At least 250 ms, so a claimant delayed between reading the record
        // and writing its claim (a busy host) is still read in time; at most
        // 2 s: claimants do not rewrite their claim, and a running writer
        // is watched for by its own declared interval first.
        self.claim_settle_us =
            (self.state_interval_us + self.state_interval_us / 2).clamp(250_000, 2_000_000);
    }

    pub fn set_host_name(&mut self, name: &str) {
        let mut rec = blank_record();
        rec.set_host_name(name);
        self.host_name = rec.host_name;
    }
}

fn blank_record() -> StateRecord {
    StateRecord {
        state: WriterState::Starting,
        writer_node: 0,
        reader_node: 0,
        epoch: 0,
        next_seq: 0,
        ack_epoch: 0,
        ack_seq: 0,
        update_count: 0,
        writer_time_us: 0,
        host_name: [0; HOST_NAME_LEN],
        counters: PublishedCounters::default(),
        mac: [0; MAC_LEN],
    }
}

/// Errors that stop a link from starting or running. Each message names the
/// problem and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// I/O on the send volume failed.
    SendIo(VolumeError),
    /// I/O on the receive volume failed.
    ReceiveIo(VolumeError),
    /// The send volume is not a volnic volume.
    SendNotFormatted(FormatError),
    /// The send volume is shorter than its superblock says.
    SendTruncated { need: u64, have: u64 },
    /// The send volume was formatted for another writer node; `host` is the
    /// name in its state record (the node that last wrote it), if any.
    SendOwnedByOther {
        writer_node: u32,
        node_id: u32,
        host: [u8; HOST_NAME_LEN],
    },
    /// Another live writer is using the send volume.
    SendInUse {
        host: [u8; HOST_NAME_LEN],
        epoch: u64,
    },
    /// The send volume carries keyed MACs but no key is configured.
    AuthNotConfigured,
    /// A key is configured but the send volume was formatted without
    /// authentication.
    VolumeNotAuthenticated,
    /// This writer's claim of the send volume was overwritten while it
    /// waited: another writer claimed it at the same time. Nothing but the
    /// claim was written; this one yields.
    ClaimLost(Claimant),
    /// The send volume stopped being this writer's while it ran: it stopped
    /// writing at once and the link is down.
    SendLost(LostCause),
    /// The memory for the link's block buffers (sized by the volume's
    /// block size) could not be had.
    OutOfMemory,
    /// The send volume's blocks are smaller than (or not a multiple of) its
    /// storage's logical sector: no block could be written whole.
    BlockSizeBelowSector { block_size: u32, sector_size: u32 },
}

/// Who overwrote a claim or a running writer's record, as far as its record
/// tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claimant {
    /// `None` when the record found is not a valid state record.
    pub host: Option<[u8; HOST_NAME_LEN]>,
    pub writer_node: u32,
    pub epoch: u64,
}

impl Claimant {
    fn of(bytes: &[u8]) -> Self {
        match StateRecord::parse(bytes) {
            Ok(rec) => Claimant {
                host: Some(rec.host_name),
                writer_node: rec.writer_node,
                epoch: rec.epoch,
            },
            Err(_) => Claimant {
                host: None,
                writer_node: 0,
                epoch: 0,
            },
        }
    }
}

impl fmt::Display for Claimant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(
                f,
                "'{}' (node {}, epoch {})",
                host_str(host),
                self.writer_node,
                self.epoch
            ),
            None => f.write_str("another writer (its record does not decode)"),
        }
    }
}

/// What took the send volume from under a running writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostCause {
    /// Another writer's state record replaced this one's.
    OtherWriter(Claimant),
    /// The state record was overwritten with something that is not a
    /// writer's record (zeroes, other data).
    RecordOverwritten,
    /// The superblock changed: reformatted (a valid superblock of another
    /// link) or overwritten.
    Reformatted { valid: bool },
    /// The volume is now shorter than its format.
    Shrunk { have: u64, need: u64 },
    /// The volume is gone (file deleted, device removed).
    Vanished,
    /// A ring slot no longer holds the block this writer wrote there last
    /// (another writer's block, an older block replayed, any other bytes).
    SlotOverwritten { slot: u64, offset: u64 },
}

impl fmt::Display for LostCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostCause::OtherWriter(c) => write!(f, "another writer {c} has taken over this send volume: two nodes must not share a send volume; give each node its own (check the volume paths and NodeId on both)"),
            LostCause::RecordOverwritten => f.write_str("the send volume's state record was overwritten by something other than this writer: check what else writes the volume"),
            LostCause::Reformatted { valid: true } => f.write_str("the send volume was reformatted under this writer (its superblock changed): restart the endpoint to use the new format"),
            LostCause::Reformatted { valid: false } => f.write_str("the send volume's superblock was overwritten under this writer: check what else writes the volume, then reformat it"),
            LostCause::Shrunk { have, need } => write!(f, "the send volume shrank under this writer to {have} bytes, its format needs {need}: restore its size or reformat it"),
            LostCause::Vanished => f.write_str("the send volume is gone (file deleted or device removed): check the storage"),
            LostCause::SlotOverwritten { slot, offset } => write!(f, "ring slot {slot} (byte offset {offset}) of the send volume was overwritten by someone else, another writer or a tool writing to this volume: find what else writes it (volume paths and NodeId on both nodes), then restart the endpoint"),
        }
    }
}

fn host_str(host: &[u8; HOST_NAME_LEN]) -> &str {
    let end = host.iter().position(|&c| c == 0).unwrap_or(HOST_NAME_LEN);
    core::str::from_utf8(&host[..end]).unwrap_or("?")
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::SendIo(e) if e.kind == VolumeErrorKind::ReadOnly => write!(f, "send volume: {e}: a send volume must be writable (a write-disabled mirror target can only be a receive volume)"),
            LinkError::SendIo(e) if e.kind == VolumeErrorKind::NoSpace => write!(f, "send volume: {e}: free space on the filesystem that holds the volume file (`volnic format` preallocates it) or check the storage"),
            LinkError::SendIo(e) if e.kind == VolumeErrorKind::OutOfRange => write!(f, "send volume: {e}: the volume is smaller than its format (a device or file shrunk, or the wrong device): restore its size or reformat it"),
            LinkError::SendIo(e) if e.kind == VolumeErrorKind::NotFound => write!(f, "send volume: {e}: the file or device is gone (deleted, or the device removed): check the storage"),
            LinkError::SendIo(e) => write!(f, "send volume: {e}: check the path, its permissions and the storage"),
            LinkError::ReceiveIo(e) if e.kind == VolumeErrorKind::NotFound => write!(f, "receive volume: {e}: the file or device is gone (deleted, or the device removed): check the storage and the mirror"),
            LinkError::ReceiveIo(e) => write!(f, "receive volume: {e}: check the path, its permissions and the storage"),
            LinkError::SendNotFormatted(FormatError::UnsupportedVersion(v)) => write!(f, "send volume has format version {v}, this volnic speaks {FORMAT_VERSION}: run the same volnic version on both nodes, or reformat the volume with this one (`volnic format --force`)"),
            LinkError::SendNotFormatted(e) => write!(f, "send volume is not a volnic volume ({e}): run `volnic format` on it"),
            LinkError::SendTruncated { need, have } => write!(f, "send volume holds {have} bytes but its format needs {need}: reformat it or restore its size"),
            LinkError::SendOwnedByOther { writer_node, node_id, host } => {
                write!(f, "send volume was formatted for writer node {writer_node}, this is node {node_id}")?;
                if host[0] != 0 {
                    write!(f, " (it was last written by '{}')", host_str(host))?;
                }
                f.write_str(": each node needs its own send volume; fix NodeId or the volume paths")
            }
            LinkError::SendInUse { host, epoch } => write!(f, "send volume is being written by another live node '{}' (epoch {epoch}): two nodes must not share a send volume; give each node its own (check the volume paths and NodeId on both)", host_str(host)),
            LinkError::AuthNotConfigured => f.write_str("send volume is formatted for authenticated blocks but no key is configured: set the key file"),
            LinkError::BlockSizeBelowSector { block_size, sector_size } => write!(f, "send volume has {block_size}-byte blocks but its storage has {sector_size}-byte logical sectors: reformat it with a block size that is a multiple of {sector_size} (`volnic format --block-size {sector_size}`)"),
            LinkError::OutOfMemory => f.write_str("out of memory for the link's block buffers: free memory, or format the volumes with smaller blocks"),
            LinkError::VolumeNotAuthenticated => f.write_str("a key is configured but the send volume was formatted without authentication: reformat it with `volnic format --authenticated`"),
            LinkError::ClaimLost(c) => write!(f, "send volume was claimed at the same time by {c}: this node yields and wrote nothing but its claim; two nodes must not share a send volume; give each node its own (check the volume paths and NodeId on both)"),
            LinkError::SendLost(cause) => write!(f, "stopped writing: {cause}"),
        }
    }
}

/// Why the receive side cannot carry traffic (the link is down meanwhile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerProblem {
    /// The receive volume holds no valid volnic superblock (yet).
    NotFormatted(FormatError),
    /// The receive volume is formatted for a different reader node.
    WrongReader { reader_node: u32, node_id: u32 },
    /// The receive volume's writer is this node: send and receive are the
    /// same volume or the mirror runs the wrong way.
    OwnVolume,
    /// Peers use different block sizes.
    BlockSizeMismatch { ours: u32, theirs: u32 },
    /// The receive volume is shorter than its superblock says.
    Truncated { need: u64, have: u64 },
    /// Plain mode: the reader is held at a block written by another link
    /// (until the writer provably moves past it).
    Foreign { writer_node: u32 },
    /// Reading the receive volume fails.
    Io(VolumeError),
    /// One side uses authenticated mode and the other does not.
    AuthModeMismatch { ours: bool },
    /// The peer's state record fails its keyed MAC: different secrets, or a
    /// forgery.
    AuthFailed,
    /// The receive volume's state record was never written (block 1 has
    /// no magic): the peer has not started.
    NoRecord,
    /// The peer's state record does not decode (bad CRC, version, length).
    RecordInvalid(FormatError),
    /// The state record names other nodes than the receive superblock: it
    /// belongs to another link.
    ForeignRecord { writer_node: u32, reader_node: u32 },
    /// The state record is older than one already seen (an earlier epoch,
    /// or a lower update_count in the same epoch): a rolled-back volume or
    /// a replay, never a sign of life.
    StaleRecord { epoch: u64, update_count: u64 },
    /// The reader has been held at sequence `seq` for longer than the peer
    /// timeout while the writer's records say it has written up to
    /// `writer_next`.
    Stalled { seq: u64, writer_next: u64 },
    /// The receive volume's blocks are smaller than (or not a multiple of)
    /// its storage's logical sector: they cannot be read whole.
    SectorSize { block_size: u32, sector_size: u32 },
}

impl fmt::Display for PeerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerProblem::NotFormatted(FormatError::UnsupportedVersion(v)) => write!(f, "receive volume has format version {v}, this volnic speaks {FORMAT_VERSION}: run the same volnic version on both nodes"),
            PeerProblem::NotFormatted(e) => write!(f, "receive volume is not a volnic volume ({e}): format the peer's send volume and check the mirror"),
            PeerProblem::WrongReader { reader_node, node_id } => write!(f, "receive volume is meant for node {reader_node}, this is node {node_id}: check the volume paths"),
            PeerProblem::OwnVolume => f.write_str("receive volume is written by this node: send and receive volumes are swapped or the same; receive on the peer's send volume (as the storage delivers it)"),
            PeerProblem::BlockSizeMismatch { ours, theirs } => write!(f, "peer uses {theirs}-byte blocks, this node {ours}: format both send volumes with the same block size"),
            PeerProblem::Truncated { need, have } => write!(f, "receive volume holds {have} bytes but its format needs {need}: check the mirror target size"),
            PeerProblem::Foreign { writer_node } => write!(f, "receive volume holds blocks of another link (writer node {writer_node}): check which volumes are mirrored where"),
            PeerProblem::Io(e) => write!(f, "receive volume: {e}: check the path, the storage and the mirror"),
            PeerProblem::AuthModeMismatch { ours: true } => f.write_str("peer volume is not authenticated but this node requires it: format the peer's send volume with --authenticated"),
            PeerProblem::AuthModeMismatch { ours: false } => f.write_str("peer volume is authenticated but this node has no key: configure the same key file on both nodes"),
            PeerProblem::AuthFailed => f.write_str("peer records fail authentication: both nodes must use the same key file"),
            PeerProblem::SectorSize { block_size, sector_size } => write!(f, "receive volume has {block_size}-byte blocks but its storage has {sector_size}-byte logical sectors: format both send volumes with a block size that is a multiple of {sector_size}"),
            PeerProblem::NoRecord => f.write_str("the peer has written no state record on the receive volume yet: start volnic on the peer and check that the mirror carries its send volume here"),
            PeerProblem::RecordInvalid(e) => write!(f, "the peer's state record does not decode ({e}): check the mirror and that both nodes run the same volnic version"),
            PeerProblem::ForeignRecord { writer_node, reader_node } => write!(f, "the receive volume's state record belongs to another link (writer node {writer_node}, reader node {reader_node}): check which volumes are mirrored where"),
            PeerProblem::StaleRecord { epoch, update_count } => write!(f, "the peer's state record (epoch {epoch}, update {update_count}) is older than one already read: the receive volume was rolled back or old writes are replayed; waiting for a current record"),
            PeerProblem::Stalled { seq, writer_next } => write!(f, "the reader is held at block {seq} for longer than the peer timeout while the peer says it has written up to {writer_next}: check the mirror"),
        }
    }
}

/// What this node knows of its peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// No state record of the peer seen yet.
    Unknown,
    Starting,
    Running,
    ShuttingDown,
    /// No fresh record or block within the peer timeout.
    Silent,
}

impl PeerState {
    pub fn name(self) -> &'static str {
        match self {
            PeerState::Unknown => "unknown",
            PeerState::Starting => "starting",
            PeerState::Running => "running",
            PeerState::ShuttingDown => "shutting-down",
            PeerState::Silent => "silent",
        }
    }
}

/// What one call of [`Link::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    pub blocks_written: usize,
    pub blocks_read: usize,
    pub frames_delivered: usize,
    /// The link state (peer fresh and running, receive side sound).
    pub link_up: bool,
    /// `link_up` differs from the previous poll's.
    pub link_changed: bool,
    /// Ready blocks wait for the peer's acknowledgement.
    pub flow_blocked: bool,
    /// A volume write failed this poll (blocks stay pending and are retried).
    pub write_error: Option<VolumeError>,
    /// The earliest time a poll has something to do without new input.
    pub next_due_us: u64,
}

impl PollReport {
    /// True when the poll moved data.
    pub fn busy(&self) -> bool {
        self.blocks_written + self.blocks_read > 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Watching the send volume for another live writer until `until_us`
    /// (its last record says a writer was starting or running).
    Watching {
        until_us: u64,
        seen_update: u64,
    },
    /// This writer's claim is written; it reads it back until `until_us`.
    Claiming {
        until_us: u64,
    },
    Running,
    /// The volume stopped being this writer's: nothing more is written.
    Lost(LostCause),
    ShutDown,
}

/// What the writer half publishes and obeys of the reader half, taken
/// from the reader each time the writer needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PeerFeedback {
    /// The acknowledgement this node sends in its blocks and records: the
    /// peer's epoch followed and the next sequence expected of it.
    ack_sent: (u64, u64),
    /// Low 32 bits of the link tag of the receive volume `ack_sent` is
    /// about (0: no run followed), so a restarted reader resumes only on
    /// that volume.
    ack_link_tag: u32,
    /// The peer's acknowledgement of this node's blocks: (epoch, next seq
    /// it wants).
    peer_ack: (u64, u64),
    /// The peer is live (running or starting, and fresh): flow control
    /// holds the writer to what the peer has acknowledged.
    peer_live: bool,
}

/// Largest peer timeout a peer's declaration is followed up to (the
/// largest a volnic node may be configured with).
pub const MAX_DECLARED_TIMEOUT_US: u64 = 60_000_000;

/// The writer's memory of its ring (writer rule 7): what it wrote into
/// each slot this run, read back in a sweep so that every slot it wrote is
/// read at least once in every state interval, and a slot that no longer
/// holds its block is a change this writer did not make.
#[derive(Debug)]
struct SlotWatch {
    /// CRC field of the block this writer last wrote whole into each slot.
    crc: Vec<u32>,
    /// One bit per slot: `crc` holds what the slot should hold. Clear for a
    /// slot not written this run (ahead of the writer on its first lap) and
    /// for one whose last write failed (it may hold part of either block).
    known: Vec<u64>,
    /// Read-back buffer of `chunk` blocks.
    buf: AlignedBuf,
    chunk: usize,
    /// Slot checks of the endless sweep done since `base_us`: check `k`
    /// reads slot `k mod N` and is due at `base_us + k × period / N`.
    done: u64,
    base_us: u64,
}

/// Wakes per sweep of the ring: an idle writer is polled this often per
/// sweep period for the slot checks that have come due.
const SWEEP_STEPS: u64 = 8;

impl SlotWatch {
    /// Allocates the memory for a ring of `ring` slots of `bs` bytes,
    /// fallibly (`None`: not enough memory).
    fn try_new(ring: usize, bs: usize, max_read_bytes: usize) -> Option<Self> {
        let mut crc = Vec::new();
        crc.try_reserve_exact(ring).ok()?;
        crc.resize(ring, 0);
        let mut known = Vec::new();
        let words = ring.div_ceil(64);
        known.try_reserve_exact(words).ok()?;
        known.resize(words, 0);
        let chunk = (max_read_bytes.min(256 * 1024) / bs).clamp(1, ring);
        Some(SlotWatch {
            crc,
            known,
            buf: AlignedBuf::try_new(chunk * bs)?,
            chunk,
            done: 0,
            base_us: 0,
        })
    }

    fn is_known(&self, slot: usize) -> bool {
        self.known[slot / 64] & (1 << (slot % 64)) != 0
    }

    fn set_known(&mut self, slot: usize, known: bool) {
        let bit = 1u64 << (slot % 64);
        if known {
            self.known[slot / 64] |= bit;
        } else {
            self.known[slot / 64] &= !bit;
        }
    }

    /// The sweep period: a slot is read again at most one sweep period
    /// plus one step after it was last read, which is one state interval.
    fn period_us(state_interval_us: u64) -> u64 {
        (state_interval_us - state_interval_us / SWEEP_STEPS).max(1)
    }

    /// Number of checks due at `now_us`.
    fn due(&self, now_us: u64, period_us: u64) -> u64 {
        let ring = self.crc.len() as u128;
        let elapsed = u128::from(now_us.saturating_sub(self.base_us));
        u64::try_from(elapsed * ring / u128::from(period_us) + 1).unwrap_or(u64::MAX)
    }

    /// When the next step of checks comes due.
    fn next_step_us(&self, period_us: u64) -> u64 {
        let ring = self.crc.len() as u128;
        let step = (ring as u64).div_ceil(SWEEP_STEPS).max(1);
        let at = u128::from(self.done.saturating_add(step)) * u128::from(period_us) / ring;
        self.base_us
            .saturating_add(u64::try_from(at).unwrap_or(u64::MAX))
    }
}

/// One node's end of a link.
#[derive(Debug)]
pub struct Link {
    cfg: LinkConfig,
    send_sb: Superblock,
    geo: Geometry,
    payload_cap: usize,
    epoch: u64,
    next_seq: u64,
    phase: Phase,
    packer: Packer,
    update_count: u64,
    last_state_write_us: u64,
    state_due_now: bool,
    ack_dirty: bool,
    /// The last write of data blocks, and of the state record, failed: the
    /// link is down while either did (each cleared by its next success).
    data_write_error: Option<VolumeError>,
    state_write_error: Option<VolumeError>,
    /// The receive side: the peer followed on the receive volume.
    reader: Reader,
    link_up: bool,
    /// One block: the send volume's state record, read and written.
    block_buf: AlignedBuf,
    counters: Counters,
    /// This run's claim nonce (in every record it writes).
    nonce: u64,
    /// The send superblock's bytes as read at open.
    own_sb: [u8; SUPERBLOCK_LEN],
    /// The state record as this writer last wrote it (`None` before the
    /// first write and after a failed one: then unknown).
    own_record: Option<[u8; STATE_LEN]>,
    /// Blocks 0 and 1 of the send volume, read before each state write.
    check_buf: AlignedBuf,
    /// The state record as last read before claiming: the claim is written
    /// only if the record is still exactly this just before.
    claim_basis: [u8; STATE_LEN],
    /// What this writer wrote into its ring, and the read-back sweep.
    slot_watch: SlotWatch,
}

/// How long to watch a record that says a writer is starting or running
/// for that writer's next write: 2.5 of the state intervals it declares
/// (at most 2.5 × 12 s, the longest a volnic writer declares), or this
/// node's own claim wait when it declares none (an older writer).
fn watch_time_us(cfg: &LinkConfig, record: &[u8]) -> u64 {
    match u64::from(StateExt::read(record).state_interval_ms) {
        0 => cfg.claim_wait_us,
        ms => (ms.min(12_000) * 1000 * 5 / 2).max(cfg.claim_wait_us),
    }
}

/// A 64-bit mix (splitmix64) for a nonce the host did not provide.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The CRC field of a data block.
fn crc_field(block: &[u8]) -> u32 {
    let mut field = [0u8; 4];
    field.copy_from_slice(&block[db_field::CRC..db_field::CRC + 4]);
    u32::from_le_bytes(field)
}

/// The largest logical sector the engine reads a superblock with.
const HEAD_MAX: usize = 4096;

/// Reads the head of `vol` (its superblock is in the first 512 bytes) into
/// `buf` (at least [`HEAD_MAX`] bytes), one logical sector of it: `hint`
/// bytes, the host's sector size; where the storage refuses that as
/// misaligned (a 4096-byte-sector disk whose host cannot ask), 4096.
/// Returns the sector size that worked.
fn read_head<V: Volume>(vol: &mut V, buf: &mut [u8], hint: u32) -> Result<usize, VolumeError> {
    let sector = (hint as usize).clamp(512, HEAD_MAX);
    match vol.read_at(0, &mut buf[..sector]) {
        Ok(()) => Ok(sector),
        Err(e) if e.kind == VolumeErrorKind::Misaligned && sector < HEAD_MAX => {
            vol.read_at(0, &mut buf[..HEAD_MAX])?;
            Ok(HEAD_MAX)
        }
        Err(e) => Err(e),
    }
}

impl Link {
    /// Opens this node's end: validates the send volume, picks the epoch
    /// (greater than any the volume has seen and at least `epoch_seed`, which
    /// the host takes from its wall clock), writes the starting state record
    /// (after a claim wait if the volume's last record says a writer was
    /// running), and reads the receive volume to verify it is reachable.
    pub fn open<S: Volume, R: Volume>(
        cfg: LinkConfig,
        send: &mut S,
        recv: &mut R,
        now_us: u64,
        epoch_seed: u64,
    ) -> Result<Link, LinkError> {
        let mut first = AlignedBuf::try_new(HEAD_MAX).ok_or(LinkError::OutOfMemory)?;
        let send_sector =
            read_head(send, first.as_mut_slice(), send.sector_size()).map_err(LinkError::SendIo)?;
        let send_sb = Superblock::parse(first.as_slice()).map_err(LinkError::SendNotFormatted)?;
        if send_sb.writer_node != cfg.node_id {
            // Name the other writer as its state record does, if it can be read.
            let geo = send_sb.geometry();
            let mut state =
                AlignedBuf::try_new(geo.block_size as usize).ok_or(LinkError::OutOfMemory)?;
            let host = send
                .read_at(geo.state_offset(), state.as_mut_slice())
                .ok()
                .and_then(|()| StateRecord::parse(state.as_slice()).ok())
                .map_or([0; HOST_NAME_LEN], |rec| rec.host_name);
            return Err(LinkError::SendOwnedByOther {
                writer_node: send_sb.writer_node,
                node_id: cfg.node_id,
                host,
            });
        }
        match (send_sb.authenticated(), cfg.auth_key.is_some()) {
            (true, false) => return Err(LinkError::AuthNotConfigured),
            (false, true) => return Err(LinkError::VolumeNotAuthenticated),
            _ => {}
        }
        let geo = send_sb.geometry();
        if !(geo.block_size as usize).is_multiple_of(send_sector) {
            return Err(LinkError::BlockSizeBelowSector {
                block_size: geo.block_size,
                sector_size: send_sector as u32,
            });
        }
        if send.len_bytes() < geo.volume_bytes() {
            return Err(LinkError::SendTruncated {
                need: geo.volume_bytes(),
                have: send.len_bytes(),
            });
        }
        let bs = geo.block_size as usize;
        let mut block_buf = AlignedBuf::try_new(bs).ok_or(LinkError::OutOfMemory)?;
        send.read_at(geo.state_offset(), block_buf.as_mut_slice())
            .map_err(LinkError::SendIo)?;
        let previous = StateRecord::parse(block_buf.as_slice()).ok();
        let prev_epoch = previous.map_or(0, |r| r.epoch);
        let epoch = prev_epoch.saturating_add(1).max(epoch_seed).max(1);
        // A record that says a writer is starting or running: watch it for
        // a while first. Otherwise claim at once (below).
        let phase = match previous {
            Some(rec) if rec.state != WriterState::ShuttingDown => Phase::Watching {
                until_us: now_us.saturating_add(watch_time_us(&cfg, block_buf.as_slice())),
                seen_update: rec.update_count,
            },
            _ => Phase::Claiming { until_us: 0 },
        };
        let nonce = match cfg.claim_nonce {
            0 => mix(epoch_seed ^ now_us.rotate_left(32) ^ u64::from(cfg.node_id)),
            n => n,
        }
        .max(1);
        let mut own_sb = [0u8; SUPERBLOCK_LEN];
        own_sb.copy_from_slice(&first.as_slice()[..SUPERBLOCK_LEN]);
        let mut claim_basis = [0u8; STATE_LEN];
        claim_basis.copy_from_slice(&block_buf.as_slice()[..STATE_LEN]);
        let payload_cap = geo.payload_capacity(send_sb.authenticated());
        let packer = Packer::try_new(
            bs,
            payload_cap,
            cfg.max_batch_bytes / bs,
            cfg.flush_delay_us,
        )
        .ok_or(LinkError::OutOfMemory)?;
        let check_buf = AlignedBuf::try_new(2 * bs).ok_or(LinkError::OutOfMemory)?;
        let slot_watch = SlotWatch::try_new(geo.ring_blocks as usize, bs, cfg.max_read_bytes)
            .ok_or(LinkError::OutOfMemory)?;
        // Where this node's reader stood when it last wrote its record
        // (a previous run of this endpoint): it never goes back past that.
        let resume_floor = previous.and_then(|rec| {
            let ext = StateExt::read(block_buf.as_slice());
            (ext.ack_link_tag != 0 && rec.ack_epoch != 0).then_some((
                ext.ack_link_tag,
                rec.ack_epoch,
                rec.ack_seq,
            ))
        });
        let mut reader =
            Reader::try_new(cfg.clone(), geo, payload_cap, epoch, resume_floor, now_us)
                .ok_or(LinkError::OutOfMemory)?;
        let mut counters = Counters::default();
        reader
            .open(recv, &mut counters)
            .map_err(LinkError::ReceiveIo)?;
        let mut link = Link {
            send_sb,
            geo,
            payload_cap,
            epoch,
            next_seq: 0,
            phase,
            packer,
            update_count: previous.map_or(0, |r| r.update_count),
            last_state_write_us: now_us,
            state_due_now: true,
            ack_dirty: false,
            data_write_error: None,
            state_write_error: None,
            reader,
            link_up: false,
            block_buf,
            counters,
            nonce,
            own_sb,
            own_record: None,
            check_buf,
            claim_basis,
            slot_watch,
            cfg,
        };
        if matches!(link.phase, Phase::Claiming { .. }) {
            link.write_claim(send, now_us)?;
        }
        Ok(link)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
    pub fn geometry(&self) -> Geometry {
        self.geo
    }
    pub fn send_superblock(&self) -> &Superblock {
        &self.send_sb
    }
    /// Payload bytes one block carries: the send queue's wake threshold.
    pub fn block_payload(&self) -> usize {
        self.payload_cap
    }
    /// Largest frame this link carries.
    pub fn max_frame_len(&self) -> usize {
        self.packer.max_frame_len()
    }
    pub fn link_up(&self) -> bool {
        self.link_up
    }
    /// Why the receive side is down, if it is.
    pub fn peer_problem(&self) -> Option<PeerProblem> {
        self.reader.peer_problem()
    }
    /// The send-volume write error that holds the link down, if one does
    /// (a full disk, an I/O error): the link is down until a write works.
    pub fn send_error(&self) -> Option<VolumeError> {
        self.data_write_error.or(self.state_write_error)
    }
    /// The peer's epoch being followed and the next sequence expected.
    pub fn peer_position(&self) -> (u64, u64) {
        self.reader.peer_position()
    }
    /// Acknowledgement received from the peer: (epoch, next seq it wants).
    pub fn peer_ack(&self) -> (u64, u64) {
        self.reader.peer_ack()
    }
    /// True while the claim runs: watching for another live writer, or
    /// waiting to read its own claim back (no traffic yet).
    pub fn claiming(&self) -> bool {
        matches!(self.phase, Phase::Watching { .. } | Phase::Claiming { .. })
    }

    /// This run's claim nonce, as written in its state records.
    pub fn claim_nonce(&self) -> u64 {
        self.nonce
    }

    /// Why this writer stopped writing its send volume, if it did.
    pub fn lost(&self) -> Option<LostCause> {
        match self.phase {
            Phase::Lost(cause) => Some(cause),
            _ => None,
        }
    }
    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }
    /// Host-side drop: a frame refused because the queue was full.
    pub fn count_queue_full(&mut self) {
        self.counters.drops_queue_full += 1;
    }
    /// Host-side drop: a frame refused for its length.
    pub fn count_bad_length(&mut self) {
        self.counters.drops_bad_length += 1;
    }

    pub fn peer_state(&self, now_us: u64) -> PeerState {
        self.reader.peer_state(now_us)
    }

    /// How long the peer may stay silent before it is taken for gone: the
    /// larger of this node's peer timeout and the one the peer declares in
    /// its record (it rewrites the record every fifth of its own), so two
    /// nodes configured differently never see a live peer flap.
    pub fn effective_peer_timeout_us(&self) -> u64 {
        self.reader.effective_peer_timeout_us()
    }

    /// The peer's declared peer timeout when it differs from this node's:
    /// `(ours, theirs)` in µs. Freshness follows the larger; hosts name the
    /// mismatch once.
    pub fn peer_timeout_mismatch(&self) -> Option<(u64, u64)> {
        self.reader.peer_timeout_mismatch()
    }

    fn compute_link_up(&self, now_us: u64) -> bool {
        matches!(self.phase, Phase::Running | Phase::Claiming { .. })
            && self.send_error().is_none()
            && self.reader.up(now_us)
    }

    /// First of our blocks the peer has not read: nothing of this epoch
    /// until it acknowledges this epoch.
    fn acked_through(&self, peer_ack: (u64, u64)) -> u64 {
        if peer_ack.0 == self.epoch {
            peer_ack.1
        } else {
            0
        }
    }

    /// Follows the peer; a moved acknowledgement makes one due.
    fn receive<R: Volume>(
        &mut self,
        now_us: u64,
        recv: &mut R,
        sink: &mut dyn FnMut(&[u8]),
        report: &mut PollReport,
    ) {
        if self
            .reader
            .receive(now_us, recv, sink, report, &mut self.counters)
        {
            self.ack_dirty = true;
        }
    }

    /// Moves frames from the send queue into blocks (memory only: call it
    /// under the lock that guards `queue`). Returns frames moved.
    pub fn pack(&mut self, queue: &mut SendQueue, now_us: u64) -> usize {
        if self.phase == Phase::ShutDown {
            return 0;
        }
        self.packer
            .pack(queue, now_us, &mut self.counters.drops_bad_length)
    }

    /// True when packed frames wait for the volume.
    pub fn has_pending(&self) -> bool {
        !self.packer.is_empty()
    }

    /// Does the volume work that is due at `now_us`: writes ready blocks,
    /// the state record, reads the peer and delivers frames to `sink`.
    pub fn poll<S: Volume, R: Volume>(
        &mut self,
        now_us: u64,
        send: &mut S,
        recv: &mut R,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<PollReport, LinkError> {
        let mut report = PollReport::default();
        match self.phase {
            Phase::ShutDown => {
                report.next_due_us = u64::MAX;
                return Ok(report);
            }
            Phase::Lost(cause) => return Err(LinkError::SendLost(cause)),
            Phase::Watching {
                until_us,
                seen_update,
            } => {
                send.read_at(self.geo.state_offset(), self.block_buf.as_mut_slice())
                    .map_err(LinkError::SendIo)?;
                if let Ok(rec) = StateRecord::parse(self.block_buf.as_slice()) {
                    if rec.update_count != seen_update {
                        return Err(LinkError::SendInUse {
                            host: rec.host_name,
                            epoch: rec.epoch,
                        });
                    }
                }
                self.claim_basis
                    .copy_from_slice(&self.block_buf.as_slice()[..STATE_LEN]);
                if now_us < until_us {
                    report.next_due_us = until_us.min(now_us + self.cfg.state_poll_us);
                    return Ok(report);
                }
                // Nobody wrote while we watched: claim it, right after
                // the read that found it unchanged.
                self.write_claim(send, now_us)?;
                report.next_due_us = now_us.saturating_add(self.cfg.state_poll_us);
                return Ok(report);
            }
            Phase::Claiming { until_us } => {
                self.check_claim(send)?;
                if now_us < until_us {
                    // Reading harms no one: follow the peer meanwhile (the
                    // link may show up; frames wait for the claim to settle,
                    // and acknowledgements for the running record).
                    self.receive(now_us, recv, sink, &mut report);
                    let up = self.compute_link_up(now_us);
                    report.link_changed = up != self.link_up;
                    self.link_up = up;
                    report.link_up = up;
                    report.next_due_us = until_us.min(now_us + self.cfg.state_poll_us);
                    return Ok(report);
                }
                self.phase = Phase::Running;
                self.slot_watch.base_us = now_us;
                self.slot_watch.done = 0;
                self.write_state(send, WriterState::Running, now_us)
                    .map_err(LinkError::SendIo)?;
                if let Phase::Lost(cause) = self.phase {
                    return Err(LinkError::SendLost(cause));
                }
            }
            Phase::Running => {}
        }

        if let Err(cause) = self.check_slots(now_us, send) {
            // A change this writer did not make: write nothing, ever again.
            self.phase = Phase::Lost(cause);
            self.link_up = false;
            return Err(LinkError::SendLost(cause));
        }
        self.write_ready(now_us, send, &mut report);
        self.receive(now_us, recv, sink, &mut report);
        if report.blocks_written > 0 {
            self.ack_dirty = false;
        }
        let state_due = self.state_due_now
            || now_us.saturating_sub(self.last_state_write_us) >= self.cfg.state_interval_us
            || (self.ack_dirty
                && now_us.saturating_sub(self.last_state_write_us) >= self.cfg.ack_interval_us);
        if state_due {
            if let Err(e) = self.write_state(send, WriterState::Running, now_us) {
                report.write_error = Some(e);
            }
            if let Phase::Lost(cause) = self.phase {
                self.link_up = false;
                return Err(LinkError::SendLost(cause));
            }
        }

        let up = self.compute_link_up(now_us);
        report.link_changed = up != self.link_up;
        self.link_up = up;
        report.link_up = up;
        report.next_due_us = self.next_due(now_us);
        Ok(report)
    }

    fn next_due(&self, now_us: u64) -> u64 {
        let mut due = self
            .last_state_write_us
            .saturating_add(self.cfg.state_interval_us);
        if self.ack_dirty {
            due = due.min(self.last_state_write_us + self.cfg.ack_interval_us);
        }
        if let Some(flush) = self.packer.flush_deadline() {
            due = due.min(flush);
        }
        if self.phase == Phase::Running {
            let period = SlotWatch::period_us(self.cfg.state_interval_us);
            due = due.min(self.slot_watch.next_step_us(period));
        }
        if let Some(silence) = self.reader.silence_due_us() {
            due = due.min(silence);
        }
        due.max(now_us)
    }

    fn write_ready<S: Volume>(&mut self, now_us: u64, send: &mut S, report: &mut PollReport) {
        let mut ready = self.packer.ready(now_us);
        if ready == 0 {
            return;
        }
        let ring = u64::from(self.geo.ring_blocks);
        let feedback = self.reader.feedback(now_us);
        if feedback.peer_live {
            let window_end = self.acked_through(feedback.peer_ack).saturating_add(ring);
            let allowed = window_end.saturating_sub(self.next_seq) as usize;
            if allowed < ready {
                report.flow_blocked = true;
                ready = allowed;
            }
        }
        // Never wrap inside one write: stop at the end of the ring.
        let to_ring_end = (ring - self.next_seq % ring) as usize;
        let n = ready.min(to_ring_end);
        if n == 0 {
            return;
        }
        let bs = self.geo.block_size as usize;
        let link_tag = self.send_sb.link_tag() as u32;
        let (writer_node, reader_node) = (self.send_sb.writer_node, self.send_sb.reader_node);
        let (epoch, first_seq) = (self.epoch, self.next_seq);
        let ack = feedback.ack_sent;
        let (meta, bytes) = self.packer.blocks_mut(n);
        let mut frames = 0u64;
        let mut frame_bytes = 0u64;
        for (i, m) in meta.iter().enumerate() {
            let block = &mut bytes[i * bs..(i + 1) * bs];
            DataHeader {
                writer_node,
                reader_node,
                epoch,
                seq: first_seq + i as u64,
                valid_bytes: m.valid_bytes,
                first_frame: m.first_frame,
                ack_epoch: ack.0,
                ack_seq: ack.1,
                link_tag,
            }
            .emit(block);
            if let Some(key) = &self.cfg.auth_key {
                key.sign_block(&self.send_sb.link_id, block);
            }
            DataHeader::seal(block);
            frames += u64::from(m.frames);
            frame_bytes += m.frame_bytes;
        }
        let first_slot = (first_seq % ring) as usize;
        match send.write_at(self.geo.slot_offset(first_seq), bytes) {
            Ok(()) => {
                let watch = &mut self.slot_watch;
                for (i, block) in bytes.chunks_exact(bs).take(n).enumerate() {
                    watch.crc[first_slot + i] = crc_field(block);
                    watch.set_known(first_slot + i, true);
                }
                for seq in first_seq..first_seq + n as u64 {
                    if seq >= ring {
                        let overwritten = seq - ring;
                        if overwritten >= self.acked_through(feedback.peer_ack) {
                            self.counters.drops_overwritten += 1;
                        }
                    }
                }
                self.data_write_error = None;
                self.packer.consume(n);
                self.next_seq += n as u64;
                self.counters.blocks_written += n as u64;
                self.counters.frames_sent += frames;
                self.counters.bytes_sent += frame_bytes;
                report.blocks_written += n;
            }
            Err(e) => {
                // The slots may hold part of the new blocks: unknown until
                // written again.
                for slot in first_slot..first_slot + n {
                    self.slot_watch.set_known(slot, false);
                }
                self.counters.write_errors += 1;
                self.data_write_error = Some(e);
                report.write_error = Some(e);
            }
        }
    }

    /// Reads back the ring slots whose check has come due (writer rule 7):
    /// each slot this writer wrote this run must still hold that block,
    /// whole (its CRC field as written, and its CRC right). Slots not
    /// written this run, or whose last write failed, are not read. A read
    /// error other than a vanished or cut volume leaves the checks due for
    /// the next poll.
    fn check_slots<S: Volume>(&mut self, now_us: u64, send: &mut S) -> Result<(), LostCause> {
        let period = SlotWatch::period_us(self.cfg.state_interval_us);
        let bs = self.geo.block_size as usize;
        let ring = u64::from(self.geo.ring_blocks);
        let due = self.slot_watch.due(now_us, period);
        let watch = &mut self.slot_watch;
        // Far behind (the host did not poll for a whole sweep): one sweep.
        if due.saturating_sub(watch.done) > ring {
            watch.done = due - ring;
        }
        while watch.done < due {
            let first = (watch.done % ring) as usize;
            let n = (due - watch.done).min(ring - first as u64) as usize;
            let n = n.min(watch.chunk);
            if (first..first + n).any(|slot| watch.is_known(slot)) {
                let buf = &mut watch.buf.as_mut_slice()[..n * bs];
                match send.read_at(self.geo.slot_index_offset(first as u64), buf) {
                    Ok(()) => {}
                    Err(e) if e.kind == VolumeErrorKind::NotFound => {
                        return Err(LostCause::Vanished)
                    }
                    Err(e) if e.kind == VolumeErrorKind::OutOfRange => {
                        let have = send.current_len().unwrap_or(0);
                        let need = self.geo.volume_bytes();
                        return Err(LostCause::Shrunk { have, need });
                    }
                    Err(_) => return Ok(()),
                }
                for (i, block) in watch.buf.as_slice()[..n * bs].chunks_exact(bs).enumerate() {
                    let slot = first + i;
                    if !watch.is_known(slot) {
                        continue;
                    }
                    let field = crc_field(block);
                    if field != watch.crc[slot] || block_crc(block, db_field::CRC) != field {
                        return Err(LostCause::SlotOverwritten {
                            slot: slot as u64,
                            offset: self.geo.slot_index_offset(slot as u64),
                        });
                    }
                }
            }
            watch.done += n as u64;
        }
        Ok(())
    }

    /// Writes this run's claim: a starting record with its nonce. Then
    /// the claim is read back until the settle time has passed.
    fn write_claim<S: Volume>(&mut self, send: &mut S, now_us: u64) -> Result<(), LinkError> {
        // Read the record once more, right before writing: if another
        // claimant wrote in the meantime, watch it instead of claiming over it.
        send.read_at(self.geo.state_offset(), self.block_buf.as_mut_slice())
            .map_err(LinkError::SendIo)?;
        if self.block_buf.as_slice()[..STATE_LEN] != self.claim_basis {
            self.claim_basis
                .copy_from_slice(&self.block_buf.as_slice()[..STATE_LEN]);
            let seen_update =
                StateRecord::parse(self.block_buf.as_slice()).map_or(u64::MAX, |r| r.update_count);
            self.phase = Phase::Watching {
                until_us: now_us
                    .saturating_add(watch_time_us(&self.cfg, self.block_buf.as_slice())),
                seen_update,
            };
            return Ok(());
        }
        self.phase = Phase::Claiming {
            until_us: now_us.saturating_add(self.cfg.claim_settle_us),
        };
        self.write_state(send, WriterState::Starting, now_us)
            .map_err(LinkError::SendIo)?;
        if let Phase::Lost(cause) = self.phase {
            return Err(LinkError::SendLost(cause));
        }
        Ok(())
    }

    /// Reads the state record back during the claim: still exactly what
    /// this writer wrote, or another claimant overwrote it and this one
    /// yields (and writes nothing more).
    fn check_claim<S: Volume>(&mut self, send: &mut S) -> Result<(), LinkError> {
        send.read_at(self.geo.state_offset(), self.block_buf.as_mut_slice())
            .map_err(LinkError::SendIo)?;
        let on_volume = &self.block_buf.as_slice()[..STATE_LEN];
        match &self.own_record {
            Some(own) if on_volume == own.as_slice() => Ok(()),
            // Our claim write failed: the record is unknown; try again.
            None => Ok(()),
            Some(_) => {
                let claimant = Claimant::of(on_volume);
                self.phase = Phase::ShutDown;
                self.link_up = false;
                Err(LinkError::ClaimLost(claimant))
            }
        }
    }

    /// Checks, before a state write, that the send volume is still this
    /// writer's: as long as its format, the same superblock, and the state
    /// record this writer wrote last. Read errors other than a vanished
    /// volume are left to the write, which reports them.
    fn verify_own<S: Volume>(&mut self, send: &mut S) -> Result<(), LostCause> {
        let need = self.geo.volume_bytes();
        match send.current_len() {
            Ok(have) if have < need => return Err(LostCause::Shrunk { have, need }),
            Ok(_) => {}
            Err(e) if e.kind == VolumeErrorKind::NotFound => return Err(LostCause::Vanished),
            Err(_) => {}
        }
        let bs = self.geo.block_size as usize;
        match send.read_at(0, self.check_buf.as_mut_slice()) {
            Ok(()) => {}
            Err(e) if e.kind == VolumeErrorKind::NotFound => return Err(LostCause::Vanished),
            Err(e) if e.kind == VolumeErrorKind::OutOfRange => {
                let have = send.current_len().unwrap_or(0);
                return Err(LostCause::Shrunk { have, need });
            }
            Err(_) => return Ok(()),
        }
        let both = self.check_buf.as_slice();
        if both[..SUPERBLOCK_LEN] != self.own_sb {
            return Err(LostCause::Reformatted {
                valid: Superblock::parse(&both[..SUPERBLOCK_LEN]).is_ok(),
            });
        }
        let record = &both[bs..bs + STATE_LEN];
        match &self.own_record {
            Some(own) if record != own.as_slice() => {
                let mine = StateExt::read(record).claim_nonce == self.nonce;
                match StateRecord::parse(record) {
                    Ok(_) if !mine => Err(LostCause::OtherWriter(Claimant::of(record))),
                    _ => Err(LostCause::RecordOverwritten),
                }
            }
            _ => Ok(()),
        }
    }

    fn write_state<S: Volume>(
        &mut self,
        send: &mut S,
        state: WriterState,
        now_us: u64,
    ) -> Result<(), VolumeError> {
        if let Err(cause) = self.verify_own(send) {
            // Not ours any more: write nothing, ever again.
            self.phase = Phase::Lost(cause);
            self.link_up = false;
            return Ok(());
        }
        self.update_count = self.update_count.wrapping_add(1);
        let feedback = self.reader.feedback(now_us);
        let c = &self.counters;
        let rec = StateRecord {
            state,
            writer_node: self.send_sb.writer_node,
            reader_node: self.send_sb.reader_node,
            epoch: self.epoch,
            next_seq: self.next_seq,
            ack_epoch: feedback.ack_sent.0,
            ack_seq: feedback.ack_sent.1,
            update_count: self.update_count,
            writer_time_us: now_us,
            host_name: self.cfg.host_name,
            counters: PublishedCounters {
                frames_sent: c.frames_sent,
                bytes_sent: c.bytes_sent,
                frames_received: c.frames_received,
                bytes_received: c.bytes_received,
                drops: c.drops(),
                rejects: c.rejects(),
            },
            mac: [0; MAC_LEN],
        };
        let ext = StateExt {
            claim_nonce: self.nonce,
            state_interval_ms: u32::try_from(self.cfg.state_interval_us / 1000)
                .unwrap_or(u32::MAX)
                .max(1),
            peer_timeout_ms: u32::try_from(self.cfg.peer_timeout_us / 1000)
                .unwrap_or(u32::MAX)
                .max(1),
            ack_link_tag: feedback.ack_link_tag,
        };
        let buf = self.block_buf.as_mut_slice();
        buf.fill(0);
        rec.emit_with(&ext, buf);
        if let Some(key) = &self.cfg.auth_key {
            let mut signed = rec;
            signed.mac = key.state_mac(&self.send_sb.link_id, buf);
            signed.emit_with(&ext, buf);
        }
        let mut written = [0u8; STATE_LEN];
        written.copy_from_slice(&buf[..STATE_LEN]);
        let result = send.write_at(self.geo.state_offset(), buf);
        // Time is taken even on failure so a broken volume is not hammered.
        self.last_state_write_us = now_us;
        match result {
            Ok(()) => {
                self.own_record = Some(written);
                self.counters.state_writes += 1;
                self.state_due_now = false;
                self.ack_dirty = false;
                self.state_write_error = None;
                Ok(())
            }
            Err(e) => {
                // What the volume now holds is unknown (the write may have
                // landed in part): the next check does not hold it against us.
                self.own_record = None;
                self.counters.write_errors += 1;
                self.state_write_error = Some(e);
                Err(e)
            }
        }
    }

    /// counts the rest as dropped, and writes the shutting-down state record.
    /// Frames still in the host's queue should be packed first.
    pub fn shutdown<S: Volume>(&mut self, now_us: u64, send: &mut S) -> Result<(), LinkError> {
        if self.phase == Phase::ShutDown {
            return Ok(());
        }
        if let Phase::Lost(cause) = self.phase {
            self.phase = Phase::ShutDown;
            self.link_up = false;
            return Err(LinkError::SendLost(cause));
        }
        if matches!(self.phase, Phase::Claiming { .. }) {
            // Our claim is on the volume: say we are gone (if it is still ours).
            self.write_state(send, WriterState::ShuttingDown, now_us)
                .map_err(LinkError::SendIo)?;
        }
        if self.phase == Phase::Running {
            // Flush everything packed, partial blocks included.
            let mut report = PollReport::default();
            for _ in 0..4 {
                if self.packer.is_empty() {
                    break;
                }
                self.write_ready(u64::MAX, send, &mut report);
                if report.flow_blocked || report.write_error.is_some() {
                    break;
                }
            }
            self.counters.drops_shutdown += self.packer.pending_frames();
            self.packer.consume(self.packer.pending_blocks());
            self.write_state(send, WriterState::ShuttingDown, now_us)
                .map_err(LinkError::SendIo)?;
        }
        let lost = self.lost();
        self.phase = Phase::ShutDown;
        self.link_up = false;
        match lost {
            Some(cause) => Err(LinkError::SendLost(cause)),
            None => Ok(()),
        }
    }
}
