//! The link engine: one node's end of a volnic link.
//!
//! A [`Link`] owns no volume and no clock. The host calls
//! [`Link::pack`] (memory only, under the host's send-queue lock) and
//! [`Link::poll`] (volume I/O, outside any lock) from its datapath thread,
//! passing the monotonic time in microseconds. `poll` writes ready blocks to
//! the send volume as flow control allows, keeps the state record fresh,
//! follows the peer's state record and scans the receive volume, delivering
//! each frame exactly once, in order, to the host's sink.
//!
//! A link is two halves, each owning its state and its buffers: the
//! writer (`writer.rs`: the claim of the send volume, blocks, the state
//! record, the ring's read-back) and the reader (`reader.rs`: following
//! the peer on the receive volume, with `reassembly.rs` for frames that
//! span blocks). They meet only here: the reader's position and the
//! peer's acknowledgement reach the writer as a `PeerFeedback` on each
//! call, the counters are the link's, and the link is up while both
//! halves say so. This file holds the vocabulary both use (configuration,
//! errors, reports) and the composition.

use alloc::vec::Vec;
use core::fmt;

use crate::auth::AuthKey;
use crate::format::{
    FormatError, Geometry, PublishedCounters, StateRecord, Superblock, WriterState, FORMAT_VERSION,
    HOST_NAME_LEN, MAC_LEN,
};
use crate::queue::SendQueue;
use crate::segment::{AckEntry, MAX_MEMBERS};
use crate::stats::Counters;
use crate::volume::{Volume, VolumeError, VolumeErrorKind};

mod head;
mod reader;
mod reassembly;
mod writer;

pub use head::{RegionInfo, VolumeHead};

use reader::Reader;
use writer::{Phase, Writer};

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
    /// The number of receive volumes does not fit the send volume: a
    /// link's end reads one, a member of a segment of `members` one to
    /// `members − 1` (the others' regions).
    ReceiveCount { given: usize, members: Option<u32> },
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
            LinkError::ReceiveCount { given, members: None } => write!(f, "{given} receive volumes given, but the send volume is one end of a two-node link, which reads exactly one: give the peer's send volume as the one receive volume"),
            LinkError::ReceiveCount { given, members: Some(m) } => write!(f, "{given} receive volumes given, but the send volume is a region of a segment of {m} members: give 1 to {} receive volumes, the other members' regions", m - 1),
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
    /// The receive volume is a segment's region (of `members`), but this
    /// node's send volume is one end of a two-node link.
    RegionForLink { members: u32 },
    /// The receive volume is one end of a two-node link, but this node's
    /// send volume is a segment's region.
    LinkVolumeForRegion,
    /// The receive volume is a region of another segment (another
    /// segment id, or `members` where this node's has another count).
    OtherSegment { members: u32 },
    /// Two receive volumes hold regions of the same member: one is that
    /// member's, the other a copy, or two members were formatted with one
    /// node id.
    DuplicateMember { member: u32 },
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
            PeerProblem::RegionForLink { members } => write!(f, "receive volume is a region of a segment of {members} members, but this node's send volume is one end of a two-node link: join the segment with its own region (`volnic format --members`), or receive on the peer's link volume"),
            PeerProblem::LinkVolumeForRegion => f.write_str("receive volume is one end of a two-node link, but this node's send volume is a segment's region: receive on the other members' regions of the same segment"),
            PeerProblem::OtherSegment { members } => write!(f, "receive volume is a region of another segment ({members} members, another segment id): every member's volume must come from one `volnic format --members` (the same --segment-id); check which volumes are mirrored where"),
            PeerProblem::DuplicateMember { member } => write!(f, "two receive volumes hold the region of member {member}: give each member's volume once, and format every member's volume with its own --member"),
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

/// One peer as a node follows it (`Link::peers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// The member whose region is followed (its node id; 0: no superblock
    /// followed yet).
    pub member: u32,
    pub state: PeerState,
    /// This peer alone would keep the link up.
    pub up: bool,
    /// Why this peer's side is down, if it is.
    pub problem: Option<PeerProblem>,
    /// The peer's epoch followed and the next sequence expected.
    pub position: (u64, u64),
    /// The peer's acknowledgement of this node: (epoch, next seq it wants).
    pub ack: (u64, u64),
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

/// What the writer half publishes and obeys of the reader halves, put
/// together from every reader each time the writer needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PeerFeedback {
    /// The acknowledgement a link's node sends in its blocks and records:
    /// the peer's epoch followed and the next sequence expected of it
    /// (zero on a segment, whose acknowledgements are in `table`).
    ack_sent: (u64, u64),
    /// Low 32 bits of the link tag of the receive volume `ack_sent` is
    /// about (0: no run followed), so a restarted reader resumes only on
    /// that volume.
    ack_link_tag: u32,
    /// A segment member's acknowledgement of every member it reads
    /// (index member − 1; its own entry and members not read are zero).
    table: [AckEntry; MAX_MEMBERS as usize],
    /// The first block of this run that some live reader has not yet
    /// acknowledged: the writer stays within one ring of it (`None`: no
    /// live reader holds the writer back).
    flow_floor: Option<u64>,
    /// The first block of this run that some reader following this node
    /// has not acknowledged: a block overwritten from there on is counted
    /// as a drop.
    unread_floor: u64,
}

/// What one reader half tells the writer half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ReaderFeedback {
    /// The peer's epoch followed and the next sequence expected of it.
    ack_sent: (u64, u64),
    /// Low 32 bits of the followed receive volume's link tag (0: no run
    /// followed).
    ack_link_tag: u32,
    /// The member whose region is followed (its writer node; 0: none).
    member: u32,
    /// The peer's acknowledgement of this node's blocks: (epoch, next seq
    /// it wants).
    peer_ack: (u64, u64),
    /// The peer is live (running or starting, and fresh): flow control
    /// holds the writer to what it has acknowledged.
    peer_live: bool,
    /// A record of the peer has been read: it follows this node (or did).
    peer_known: bool,
}

/// First of this run's blocks (epoch `own_epoch`) that a reader
/// acknowledging `peer_ack` has not read: nothing of this run until it
/// acknowledges this run.
fn acked_through(own_epoch: u64, peer_ack: (u64, u64)) -> u64 {
    if peer_ack.0 == own_epoch {
        peer_ack.1
    } else {
        0
    }
}

/// The writer's feedback from `readers`, one per peer, for its run
/// `own_epoch`; `segment` when the writer writes a region.
fn writer_feedback(
    own_epoch: u64,
    segment: bool,
    readers: impl Iterator<Item = ReaderFeedback>,
) -> PeerFeedback {
    let mut fb = PeerFeedback {
        ack_sent: (0, 0),
        ack_link_tag: 0,
        table: [AckEntry::default(); MAX_MEMBERS as usize],
        flow_floor: None,
        unread_floor: u64::MAX,
    };
    let mut any = false;
    for r in readers {
        let acked = acked_through(own_epoch, r.peer_ack);
        if r.peer_live {
            fb.flow_floor = Some(fb.flow_floor.map_or(acked, |f| f.min(acked)));
        }
        if !segment {
            // A link: its one reader, known or not, as always.
            fb.ack_sent = r.ack_sent;
            fb.ack_link_tag = r.ack_link_tag;
            fb.unread_floor = fb.unread_floor.min(acked);
            any = true;
            continue;
        }
        if r.peer_known {
            fb.unread_floor = fb.unread_floor.min(acked);
            any = true;
        }
        if let Some(entry) = (r.member as usize)
            .checked_sub(1)
            .and_then(|i| fb.table.get_mut(i))
        {
            if r.ack_link_tag != 0 {
                *entry = AckEntry {
                    ack_epoch: r.ack_sent.0,
                    ack_seq: r.ack_sent.1,
                    ack_link_tag: r.ack_link_tag,
                };
            }
        }
    }
    if !any {
        fb.unread_floor = 0;
    }
    fb
}

/// Where a reader stood on a receive volume: (low 32 bits of its link
/// tag, the one blocks carry; the peer's epoch; the next sequence).
type ReadMark = (u32, u64, u64);

/// Where this node's previous run had read to, from its last state area:
/// one mark on a link (the record's `ack_*` fields), one per member read
/// on a segment (the acknowledgement table's entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ReadMarks {
    marks: [ReadMark; MAX_MEMBERS as usize],
    len: usize,
}

impl ReadMarks {
    const NONE: ReadMarks = ReadMarks {
        marks: [(0, 0, 0); MAX_MEMBERS as usize],
        len: 0,
    };

    fn push(&mut self, mark: ReadMark) {
        if mark.0 != 0 && mark.1 != 0 && self.len < self.marks.len() {
            self.marks[self.len] = mark;
            self.len += 1;
        }
    }

    /// The mark of the receive volume whose blocks carry `tag`.
    fn find(&self, tag: u32) -> Option<(u64, u64)> {
        self.marks[..self.len]
            .iter()
            .find(|m| m.0 == tag && tag != 0)
            .map(|m| (m.1, m.2))
    }
}

/// Largest peer timeout a peer's declaration is followed up to (the
/// largest a volnic node may be configured with).
pub const MAX_DECLARED_TIMEOUT_US: u64 = 60_000_000;

/// What would keep the node that sends on the volume of `own` (its send
/// superblock) from reading the receive volume of `recv` on storage of
/// `sector`-byte sectors and `len` bytes: the reader half's own check of a
/// receive volume, for tools that look at volumes from outside a running
/// node (`volnic status`). `None`: the node would follow it.
pub fn receive_volume_problem(
    own: &Superblock,
    recv: &Superblock,
    sector: usize,
    len: u64,
) -> Option<PeerProblem> {
    reader::receive_problem(
        own.writer_node,
        own.block_size,
        own.authenticated(),
        None,
        &VolumeHead {
            sb: *recv,
            geo: recv.geometry(),
            region: None,
        },
        sector,
        len,
    )
}

/// What would keep member `member` (of the segment `own`, with
/// `block_size`-byte blocks, keyed or not) from reading the region
/// `recv`: [`receive_volume_problem`] for segments.
pub fn receive_region_problem(
    member: u32,
    own: &RegionInfo,
    block_size: u32,
    keyed: bool,
    recv: &VolumeHead,
    sector: usize,
    len: u64,
) -> Option<PeerProblem> {
    reader::receive_problem(member, block_size, keyed, Some(own), recv, sector, len)
}

/// One node's end of a link: the writer half on its send volume, a
/// reader half following each peer on its receive volume, and what they
/// share — the counters all add to, and the link state all decide. A
/// two-node link has one reader; a member of a segment one per other
/// member whose region it reads.
#[derive(Debug)]
pub struct Link {
    /// The send side: claim, blocks, state record, ring read-back.
    writer: Writer,
    /// The receive side: each peer followed on its receive volume, in the
    /// order the host gives the volumes.
    readers: Vec<Reader>,
    /// The link state as the last poll found it (down once the writer
    /// stops, whatever the reader sees).
    link_up: bool,
    counters: Counters,
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
        Self::open_all(cfg, send, core::slice::from_mut(recv), now_us, epoch_seed)
    }

    /// [`Link::open`] with one receive volume per peer: one for a link's
    /// end; for a member of a segment (its send volume a region), the
    /// regions of the other members it reads, in any order.
    pub fn open_all<S: Volume, R: Volume>(
        cfg: LinkConfig,
        send: &mut S,
        recvs: &mut [R],
        now_us: u64,
        epoch_seed: u64,
    ) -> Result<Link, LinkError> {
        let (writer, resume) = Writer::open(cfg.clone(), send, now_us, epoch_seed)?;
        let members = writer.region().map(|r| r.members);
        let fits = match members {
            None => recvs.len() == 1,
            Some(m) => (1..m as usize).contains(&recvs.len()),
        };
        if !fits {
            return Err(LinkError::ReceiveCount {
                given: recvs.len(),
                members,
            });
        }
        let mut readers = Vec::new();
        readers
            .try_reserve_exact(recvs.len())
            .map_err(|_| LinkError::OutOfMemory)?;
        let mut counters = Counters::default();
        for recv in recvs.iter_mut() {
            let mut reader = Reader::try_new(
                cfg.clone(),
                writer.geometry(),
                writer.block_payload(),
                writer.epoch(),
                writer.region(),
                resume,
                now_us,
            )
            .ok_or(LinkError::OutOfMemory)?;
            reader
                .open(recv, &mut counters)
                .map_err(LinkError::ReceiveIo)?;
            readers.push(reader);
        }
        let mut link = Link {
            writer,
            readers,
            link_up: false,
            counters,
        };
        link.mark_duplicates();
        if matches!(link.writer.phase(), Phase::Claiming { .. }) {
            let feedback = link.feedback(now_us);
            link.writer
                .write_claim(send, now_us, &mut link.counters, feedback)?;
        }
        Ok(link)
    }

    /// The writer's feedback from every reader at `now_us`.
    fn feedback(&self, now_us: u64) -> PeerFeedback {
        writer_feedback(
            self.writer.epoch(),
            self.writer.region().is_some(),
            self.readers
                .iter()
                .filter(|r| !r.duplicate())
                .map(|r| r.feedback(now_us)),
        )
    }

    /// Marks each reader that follows a member an earlier reader already
    /// follows (two volumes holding one member's region): it delivers
    /// nothing and keeps no peer up until that changes.
    fn mark_duplicates(&mut self) {
        for i in 0..self.readers.len() {
            let member = self.readers[i].followed_member();
            let dup = member != 0
                && self.readers[..i]
                    .iter()
                    .any(|r| r.followed_member() == member);
            self.readers[i].set_duplicate(dup);
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn epoch(&self) -> u64 {
        self.writer.epoch()
    }
    pub fn next_seq(&self) -> u64 {
        self.writer.next_seq()
    }
    pub fn geometry(&self) -> Geometry {
        self.writer.geometry()
    }
    pub fn send_superblock(&self) -> &Superblock {
        self.writer.send_superblock()
    }
    /// Payload bytes one block carries: the send queue's wake threshold.
    pub fn block_payload(&self) -> usize {
        self.writer.block_payload()
    }
    /// Largest frame this link carries.
    pub fn max_frame_len(&self) -> usize {
        self.writer.max_frame_len()
    }
    pub fn link_up(&self) -> bool {
        self.link_up
    }
    /// Why the receive side is down, if it is: none while a peer keeps
    /// the link up, else the first reader's problem that has one.
    pub fn peer_problem(&self) -> Option<PeerProblem> {
        if self.link_up && self.readers.len() > 1 {
            return None;
        }
        self.readers.iter().find_map(Reader::peer_problem)
    }

    /// The segment of the region this node writes (`None`: one end of a
    /// two-node link).
    pub fn region(&self) -> Option<RegionInfo> {
        self.writer.region()
    }

    /// Every peer followed, in the order of the receive volumes given.
    pub fn peers(&self, now_us: u64) -> impl Iterator<Item = PeerStatus> + '_ {
        self.readers.iter().map(move |r| PeerStatus {
            member: r.feedback(now_us).member,
            state: r.peer_state(now_us),
            up: r.up(now_us),
            problem: r.peer_problem(),
            position: r.peer_position(),
            ack: r.peer_ack(),
        })
    }
    /// The send-volume write error that holds the link down, if one does
    /// (a full disk, an I/O error): the link is down until a write works.
    pub fn send_error(&self) -> Option<VolumeError> {
        self.writer.send_error()
    }
    /// The (first) peer's epoch being followed and the next sequence
    /// expected.
    pub fn peer_position(&self) -> (u64, u64) {
        self.readers.first().map_or((0, 0), Reader::peer_position)
    }
    /// Acknowledgement received from the (first) peer: (epoch, next seq
    /// it wants).
    pub fn peer_ack(&self) -> (u64, u64) {
        self.readers.first().map_or((0, 0), Reader::peer_ack)
    }
    /// True while the claim runs: watching for another live writer, or
    /// waiting to read its own claim back (no traffic yet).
    pub fn claiming(&self) -> bool {
        self.writer.claiming()
    }

    /// This run's claim nonce, as written in its state records.
    pub fn claim_nonce(&self) -> u64 {
        self.writer.claim_nonce()
    }

    /// Why this writer stopped writing its send volume, if it did.
    pub fn lost(&self) -> Option<LostCause> {
        self.writer.lost()
    }
    pub fn config(&self) -> &LinkConfig {
        self.writer.config()
    }
    /// Host-side drop: a frame refused because the queue was full.
    pub fn count_queue_full(&mut self) {
        self.counters.drops_queue_full += 1;
    }
    /// Host-side drop: a frame refused for its length.
    pub fn count_bad_length(&mut self) {
        self.counters.drops_bad_length += 1;
    }

    /// The peer's state; of a segment's peers, the liveliest (running
    /// before starting, shutting down, silent and unknown).
    pub fn peer_state(&self, now_us: u64) -> PeerState {
        let rank = |s: PeerState| match s {
            PeerState::Running => 4,
            PeerState::Starting => 3,
            PeerState::ShuttingDown => 2,
            PeerState::Silent => 1,
            PeerState::Unknown => 0,
        };
        self.readers
            .iter()
            .map(|r| r.peer_state(now_us))
            .max_by_key(|s| rank(*s))
            .unwrap_or(PeerState::Unknown)
    }

    /// How long the peer may stay silent before it is taken for gone: the
    /// larger of this node's peer timeout and the one the peer declares in
    /// its record (it rewrites the record every fifth of its own), so two
    /// nodes configured differently never see a live peer flap.
    pub fn effective_peer_timeout_us(&self) -> u64 {
        self.readers
            .iter()
            .map(Reader::effective_peer_timeout_us)
            .max()
            .unwrap_or(self.writer.config().peer_timeout_us)
    }

    /// The peer's declared peer timeout when it differs from this node's:
    /// `(ours, theirs)` in µs. Freshness follows the larger; hosts name the
    /// mismatch once.
    pub fn peer_timeout_mismatch(&self) -> Option<(u64, u64)> {
        self.readers.iter().find_map(Reader::peer_timeout_mismatch)
    }

    /// Moves frames from the send queue into blocks (memory only: call it
    /// under the lock that guards `queue`). Returns frames moved.
    pub fn pack(&mut self, queue: &mut SendQueue, now_us: u64) -> usize {
        self.writer.pack(queue, now_us, &mut self.counters)
    }

    /// True when packed frames wait for the volume.
    pub fn has_pending(&self) -> bool {
        self.writer.has_pending()
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
        self.poll_all(now_us, send, core::slice::from_mut(recv), sink)
    }

    /// [`Link::poll`] with the receive volumes given to
    /// [`Link::open_all`], in the same order.
    pub fn poll_all<S: Volume, R: Volume>(
        &mut self,
        now_us: u64,
        send: &mut S,
        recvs: &mut [R],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<PollReport, LinkError> {
        let mut report = PollReport::default();
        match self.writer.phase() {
            Phase::ShutDown => {
                report.next_due_us = u64::MAX;
                return Ok(report);
            }
            Phase::Lost(cause) => return Err(LinkError::SendLost(cause)),
            Phase::Watching {
                until_us,
                seen_update,
            } => {
                let feedback = self.feedback(now_us);
                let watched = self.writer.watch(
                    now_us,
                    until_us,
                    seen_update,
                    send,
                    &mut self.counters,
                    feedback,
                );
                self.follow_writer();
                report.next_due_us = watched?;
                return Ok(report);
            }
            Phase::Claiming { until_us } => {
                let checked = self.writer.check_claim(send);
                self.follow_writer();
                checked?;
                if now_us < until_us {
                    // Reading harms no one: follow the peer meanwhile (the
                    // link may show up; frames wait for the claim to settle,
                    // and acknowledgements for the running record).
                    self.receive(now_us, recvs, sink, &mut report);
                    self.update_link(now_us, &mut report);
                    report.next_due_us = until_us.min(now_us + self.writer.config().state_poll_us);
                    return Ok(report);
                }
                let feedback = self.feedback(now_us);
                let started = self
                    .writer
                    .start_running(now_us, send, &mut self.counters, feedback);
                self.follow_writer();
                started?;
            }
            Phase::Running => {}
        }

        let checked = self.writer.check_ring(now_us, send);
        self.follow_writer();
        checked?;
        let feedback = self.feedback(now_us);
        self.writer
            .write_ready(now_us, send, &mut report, &mut self.counters, feedback);
        self.receive(now_us, recvs, sink, &mut report);
        let feedback = self.feedback(now_us);
        let kept = self
            .writer
            .keep_record(now_us, send, &mut report, &mut self.counters, feedback);
        self.follow_writer();
        kept?;

        self.update_link(now_us, &mut report);
        report.next_due_us = self.next_due(now_us);
        Ok(report)
    }

    /// Follows every peer; a moved acknowledgement makes a record due. A
    /// reader marked a duplicate reads on (so that it notices its volume
    /// change) but delivers nothing.
    fn receive<R: Volume>(
        &mut self,
        now_us: u64,
        recvs: &mut [R],
        sink: &mut dyn FnMut(&[u8]),
        report: &mut PollReport,
    ) {
        let mut moved = false;
        for (reader, recv) in self.readers.iter_mut().zip(recvs.iter_mut()) {
            let discard = &mut |_: &[u8]| {};
            let to: &mut dyn FnMut(&[u8]) = if reader.duplicate() { discard } else { sink };
            moved |= reader.receive(now_us, recv, to, report, &mut self.counters);
        }
        self.mark_duplicates();
        if moved {
            self.writer.note_ack_moved();
        }
    }

    /// The link is up while both halves let it be; `report` says so, and
    /// whether that changed.
    fn update_link(&mut self, now_us: u64, report: &mut PollReport) {
        let up = self.writer.up() && self.readers.iter().any(|r| r.up(now_us));
        report.link_changed = up != self.link_up;
        self.link_up = up;
        report.link_up = up;
    }

    /// A writer that stopped (its volume lost, its claim yielded, shut
    /// down) takes the link down at once, before the error is returned.
    fn follow_writer(&mut self) {
        if self.writer.stopped() {
            self.link_up = false;
        }
    }

    fn next_due(&self, now_us: u64) -> u64 {
        let mut due = self.writer.next_due_us();
        for silence in self.readers.iter().filter_map(Reader::silence_due_us) {
            due = due.min(silence);
        }
        due.max(now_us)
    }

    /// Stops the link: writes what is packed as far as flow control allows,
    /// counts the rest as dropped, and writes the shutting-down state record.
    /// Frames still in the host's queue should be packed first.
    pub fn shutdown<S: Volume>(&mut self, now_us: u64, send: &mut S) -> Result<(), LinkError> {
        // The writer flushes every packed block at once, partial ones too,
        // but only as far as a peer live now lets it: unread blocks are
        // never overwritten to make room.
        let feedback = self.feedback(now_us);
        let stopped = self
            .writer
            .shutdown(now_us, send, &mut self.counters, feedback);
        self.follow_writer();
        stopped
    }
}
