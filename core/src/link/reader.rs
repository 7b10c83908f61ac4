//! The reader half of a link: following one peer's send volume, as the
//! storage delivers it here (the receive volume).
//!
//! A [`Reader`] holds everything this node knows of the peer's stream:
//! the receive superblock it follows, its view of the peer (run, next
//! sequence, liveness, the acknowledgement the peer sent back), the slot
//! it waits at and why (the decision table of docs/FORMAT.md, "Reader
//! rules"), the high-water marks that keep it from going back, the stall
//! watch, and the frame being reassembled. It owns the buffers it reads
//! into, so nothing it does depends on what the writer half last did with
//! its own.
//!
//! It never writes and never looks at the writer half: what it needs of
//! this node is passed in when it is made (the configuration, this node's
//! geometry and its epoch, where this node's previous run had read to),
//! and what the writer needs of it goes out as a [`PeerFeedback`] and as
//! the flag [`Reader::receive`] returns. That is what lets a node follow
//! several peers, one reader each, on a segment of more than two nodes.

use crate::aligned::AlignedBuf;
use crate::format::{
    BlockCheck, DataHeader, FormatError, Geometry, StateExt, StateRecord, Superblock, WriterState,
    DATA_HEADER_LEN, STATE_LEN, SUPERBLOCK_LEN,
};
use crate::segment::{AckTable, SegmentLayout, MAX_MEMBERS};
use crate::stats::Counters;
use crate::volume::{Volume, VolumeError};

use super::reassembly::{payload_consistent, Reassembly};
use super::{
    read_head, LinkConfig, PeerProblem, PeerState, PollReport, ReadMark, ReadMarks, ReaderFeedback,
    RegionInfo, VolumeHead, HEAD_MAX, MAX_DECLARED_TIMEOUT_US,
};

/// One peer's stream, followed.
#[derive(Debug)]
pub(super) struct Reader {
    cfg: LinkConfig,
    /// The geometry the receive ring is walked with: the followed receive
    /// volume's (each volume has its own ring size), this node's until one
    /// is followed. Its block size is always this node's: a receive volume
    /// of another block size is refused.
    geo: Geometry,
    /// Payload bytes of this node's blocks: the frame stream of a full
    /// block of the peer's (the modes, hence the MAC, must match).
    payload_cap: usize,
    /// This node's own epoch: the peer acknowledges blocks of this run.
    own_epoch: u64,
    /// The segment of this node's own region (`None`: one end of a
    /// two-node link): every region read must be of it.
    own_region: Option<RegionInfo>,
    recv_sb: Option<VolumeHead>,
    /// The receive superblock whose stream `peer` follows. Unlike `recv_sb`
    /// it survives a spell of the superblock failing its checks, so the same
    /// volume coming back is followed on from where it was, not from the
    /// peer's (possibly older) state record, which would deliver again.
    followed_sb: Option<VolumeHead>,
    problem: Option<PeerProblem>,
    last_peer_read_us: Option<u64>,
    peer: PeerView,
    partial: Reassembly,
    bad: Option<BadBlock>,
    /// What the last read of the peer's state record found wrong with it
    /// (`None`: it was a current record of this link): named as the
    /// reason while no live peer is seen.
    record_issue: Option<PeerProblem>,
    /// `record_issue` once it is the reason the link is down: no live peer
    /// for a peer timeout (since the link opened, or since the peer was
    /// last fresh), so a peer that starts a moment later is not blamed.
    record_shown: Option<PeerProblem>,
    /// When the link was opened.
    opened_us: u64,
    /// Never backwards: for the last few receive volumes followed (by the
    /// low 32 bits of their link tag, the one blocks carry), the highest
    /// position reached — (tag, epoch, next sequence); tag 0: empty. The
    /// marks of this node's own last state area (`resume`) count too, so
    /// a restarted reader does not go back either.
    high_water: [ReadMark; 4],
    /// Where this node's previous run had read to, by link tag.
    resume: ReadMarks,
    /// The followed run's next_seq as the writer's records showed it
    /// growing, with when each was first read (oldest first; the first
    /// `hint_log_len` entries are in use).
    hint_log: [(u64, u64); 8],
    hint_log_len: usize,
    /// The reader's position, and when it last changed (the stall watch).
    progress: ((u64, u64), u64),
    /// Set while the reader has been held at one slot for longer than the
    /// peer timeout although the writer's records say it moved on.
    stalled: Option<PeerProblem>,
    /// Plain mode: the reader is held at another link's block.
    foreign_held: Option<PeerProblem>,
    /// Set while another reader of this node follows the same member's
    /// region: this one delivers nothing and keeps no link up.
    duplicate: Option<PeerProblem>,
    /// What the slot the reader waits at, caught up, was counted as.
    idle_counted: Option<(u64, SlotContent)>,
    /// The position acknowledged to the peer moved (a block delivered, a
    /// new run followed) since [`Reader::receive`] last said so.
    ack_moved: bool,
    /// One block, read apart from `read_buf`: single slots looked at
    /// while `read_buf` still holds a batch being walked.
    block_buf: AlignedBuf,
    /// The peer's state area (its record; on a region, the table after
    /// it): room for the largest, a segment of 32.
    state_buf: AlignedBuf,
    /// Consecutive ring slots, read in one I/O (`max_read_bytes`).
    read_buf: AlignedBuf,
    /// The receive volume's first sector, read to check its superblock.
    head_buf: AlignedBuf,
    /// The receive volume's logical sector size, as reads found it (0:
    /// not yet read).
    recv_sector: usize,
}

/// A block with a bad checksum waiting to be declared torn-then-fixed or corrupt.
#[derive(Clone, Copy, Debug)]
struct BadBlock {
    /// The slot (sequence) the reader stands at.
    seq: u64,
    /// When the reader first stopped in this run of unfit slots.
    since_us: u64,
    /// When the reader met this slot.
    first_seen_us: u64,
    /// What this slot was last counted as (each slot is counted once per
    /// kind of content seen in it).
    counted: Option<SlotContent>,
}

/// The receive side's view of the peer.
#[derive(Clone, Debug)]
struct PeerView {
    /// Epoch of the peer's run being followed (0: none yet).
    epoch: u64,
    /// Next sequence number expected from the peer.
    expected: u64,
    state: Option<WriterState>,
    last_update_count: Option<u64>,
    /// Last time the peer showed a sign of life.
    last_alive_us: u64,
    /// `next_seq` from the peer's latest state record, and when it was read.
    next_seq_hint: u64,
    hint_read_us: u64,
    /// Acknowledgement of our blocks by the peer: (our epoch, next seq it wants).
    ack: (u64, u64),
    /// The peer timeout the peer's record declares, µs (0: none declared,
    /// an older writer), capped at [`MAX_DECLARED_TIMEOUT_US`].
    declared_timeout_us: u64,
}

impl Reader {
    /// Allocates a reader's buffers (`None`: not enough memory), before it
    /// has read anything. `resume` is where this node's previous run had
    /// read to, from its last state area, never gone back past;
    /// `own_region` the segment of this node's region, if it writes one.
    pub(super) fn try_new(
        cfg: LinkConfig,
        geo: Geometry,
        payload_cap: usize,
        own_epoch: u64,
        own_region: Option<RegionInfo>,
        resume: ReadMarks,
        now_us: u64,
    ) -> Option<Self> {
        let bs = geo.block_size as usize;
        let block_buf = AlignedBuf::try_new(bs)?;
        let largest_area = SegmentLayout {
            block_size: geo.block_size,
            ring_blocks: geo.ring_blocks,
            members: MAX_MEMBERS,
        }
        .state_blocks() as usize;
        let state_buf = AlignedBuf::try_new(bs * largest_area.max(1))?;
        let read_buf = AlignedBuf::try_new(bs * (cfg.max_read_bytes / bs).max(1))?;
        let head_buf = AlignedBuf::try_new(HEAD_MAX)?;
        let high_water = [(0, 0, 0); 4];
        Some(Reader {
            cfg,
            geo,
            payload_cap,
            own_epoch,
            own_region,
            recv_sb: None,
            followed_sb: None,
            problem: None,
            last_peer_read_us: None,
            peer: PeerView {
                epoch: 0,
                expected: 0,
                state: None,
                last_update_count: None,
                last_alive_us: now_us,
                next_seq_hint: 0,
                hint_read_us: 0,
                ack: (0, 0),
                declared_timeout_us: 0,
            },
            partial: Reassembly::new(),
            bad: None,
            record_issue: None,
            record_shown: None,
            opened_us: now_us,
            high_water,
            resume,
            hint_log: [(0, 0); 8],
            hint_log_len: 0,
            progress: ((0, 0), now_us),
            stalled: None,
            foreign_held: None,
            duplicate: None,
            idle_counted: None,
            ack_moved: false,
            block_buf,
            state_buf,
            read_buf,
            head_buf,
            recv_sector: 0,
        })
    }

    /// The first look at the receive volume: it must be reachable (an
    /// error here stops the link from opening); its contents may still be
    /// unformatted (the peer may not have started), which only keeps the
    /// link down.
    pub(super) fn open<R: Volume>(
        &mut self,
        recv: &mut R,
        counters: &mut Counters,
    ) -> Result<(), VolumeError> {
        self.recv_sector = read_head(recv, self.head_buf.as_mut_slice(), recv.sector_size())?;
        self.check_receive_volume(recv, counters);
        Ok(())
    }

    /// Why the receive side is down, if it is.
    pub(super) fn peer_problem(&self) -> Option<PeerProblem> {
        self.problem
            .or(self.duplicate)
            .or(self.stalled)
            .or(self.foreign_held)
            .or(self.record_shown)
    }

    /// The peer's epoch being followed and the next sequence expected.
    pub(super) fn peer_position(&self) -> (u64, u64) {
        (self.peer.epoch, self.peer.expected)
    }

    /// Acknowledgement received from the peer: (epoch, next seq it wants).
    pub(super) fn peer_ack(&self) -> (u64, u64) {
        self.peer.ack
    }

    /// The receive side lets the link be up at `now_us`: sound (no
    /// problem with the volume, not stalled, not held at another link's
    /// block) and the peer running and fresh. The problem named while no
    /// live peer is seen does not count: the peer's state does.
    pub(super) fn up(&self, now_us: u64) -> bool {
        self.problem.is_none()
            && self.duplicate.is_none()
            && self.stalled.is_none()
            && self.foreign_held.is_none()
            && self.peer_state(now_us) == PeerState::Running
    }

    /// When the peer, silent from now on, becomes [`PeerState::Silent`]
    /// (`None`: no record of it followed yet).
    pub(super) fn silence_due_us(&self) -> Option<u64> {
        self.peer.state.map(|_| {
            self.peer
                .last_alive_us
                .saturating_add(self.effective_peer_timeout_us())
        })
    }

    /// What the writer half publishes and obeys of this reader at `now_us`.
    pub(super) fn feedback(&self, now_us: u64) -> ReaderFeedback {
        ReaderFeedback {
            ack_sent: (self.peer.epoch, self.peer.expected),
            ack_link_tag: match self.followed_sb {
                Some(head) if self.peer.epoch != 0 => head.link_tag() as u32,
                _ => 0,
            },
            member: self.followed_sb.map_or(0, |head| head.sb.writer_node),
            peer_ack: self.peer.ack,
            peer_live: self.peer_live(now_us),
            peer_known: self.peer.state.is_some(),
        }
    }

    /// Marks this reader as following a member another reader follows.
    pub(super) fn set_duplicate(&mut self, duplicate: bool) {
        self.duplicate = duplicate.then_some(PeerProblem::DuplicateMember {
            member: self.followed_member(),
        });
    }

    pub(super) fn duplicate(&self) -> bool {
        self.duplicate.is_some()
    }

    /// The member whose region this reader follows (0: none yet, or a
    /// link's peer is followed as it always was).
    pub(super) fn followed_member(&self) -> u32 {
        match self.followed_sb {
            Some(head) if head.region.is_some() => head.sb.writer_node,
            _ => 0,
        }
    }

    pub(super) fn peer_state(&self, now_us: u64) -> PeerState {
        match self.peer.state {
            None => PeerState::Unknown,
            Some(WriterState::ShuttingDown) => PeerState::ShuttingDown,
            Some(_) if !self.peer_fresh(now_us) => PeerState::Silent,
            Some(WriterState::Starting) => PeerState::Starting,
            Some(WriterState::Running) => PeerState::Running,
        }
    }

    fn peer_fresh(&self, now_us: u64) -> bool {
        now_us.saturating_sub(self.peer.last_alive_us) < self.effective_peer_timeout_us()
    }

    /// How long the peer may stay silent before it is taken for gone: the
    /// larger of this node's peer timeout and the one the peer declares in
    /// its record (it rewrites the record every fifth of its own), so two
    /// nodes configured differently never see a live peer flap.
    pub(super) fn effective_peer_timeout_us(&self) -> u64 {
        self.cfg.peer_timeout_us.max(self.peer.declared_timeout_us)
    }

    /// The peer's declared peer timeout when it differs from this node's:
    /// `(ours, theirs)` in µs. Freshness follows the larger; hosts name the
    /// mismatch once.
    pub(super) fn peer_timeout_mismatch(&self) -> Option<(u64, u64)> {
        let theirs = self.peer.declared_timeout_us;
        (theirs != 0 && theirs != self.cfg.peer_timeout_us)
            .then_some((self.cfg.peer_timeout_us, theirs))
    }

    /// Flow control applies while the peer is live: running, or starting
    /// (claiming its own volume, reading already), and fresh.
    fn peer_live(&self, now_us: u64) -> bool {
        matches!(
            self.peer_state(now_us),
            PeerState::Running | PeerState::Starting
        )
    }

    /// Reads and checks the receive volume's superblock; sets or clears the
    /// problem accordingly. Returns true when the receive side is usable.
    fn check_receive_volume<R: Volume>(&mut self, recv: &mut R, counters: &mut Counters) -> bool {
        let hint = match self.recv_sector {
            0 => recv.sector_size(),
            known => known as u32,
        };
        let buf = self.head_buf.as_mut_slice();
        match read_head(recv, buf, hint) {
            Ok(sector) => self.recv_sector = sector,
            Err(e) => {
                counters.read_errors += 1;
                self.problem = Some(PeerProblem::Io(e));
                return false;
            }
        }
        let sector = self.recv_sector;
        let found = match VolumeHead::parse(&self.head_buf.as_slice()[..SUPERBLOCK_LEN]) {
            Ok(head) => match self.receive_sb_problem(&head, sector, recv.len_bytes()) {
                None => Ok(head),
                Some(problem) => Err(problem),
            },
            Err(e) => Err(PeerProblem::NotFormatted(e)),
        };
        let sb = match self.unproven_change(recv, found, sector) {
            Ok(sb) => sb,
            Err(problem) => {
                self.problem = Some(problem);
                self.recv_sb = None;
                return false;
            }
        };
        self.recv_sb = Some(sb);
        if self.followed_sb != Some(sb) {
            // A new or replaced receive volume: follow it from scratch —
            // but where the one it replaces had got to is kept, so that
            // volume coming back (a superblock swapped and restored) is
            // never followed from further back.
            self.remember_position();
            self.followed_sb = Some(sb);
            self.geo = sb.geo;
            self.peer.epoch = 0;
            self.peer.expected = 0;
            self.peer.state = None;
            self.peer.last_update_count = None;
            self.partial.abandon();
            self.bad = None;
            self.foreign_held = None;
        }
        if !matches!(self.problem, Some(PeerProblem::AuthFailed)) {
            self.problem = None;
        }
        true
    }

    /// What makes the receive volume of head `head` unusable for this
    /// reader on storage of `sector`-byte sectors and `len` bytes, if
    /// anything.
    fn receive_sb_problem(
        &self,
        head: &VolumeHead,
        sector: usize,
        len: u64,
    ) -> Option<PeerProblem> {
        receive_problem(
            self.cfg.node_id,
            self.geo.block_size,
            self.cfg.auth_key.is_some(),
            self.own_region.as_ref(),
            head,
            sector,
            len,
        )
    }

    /// Authenticated mode (reader rule 7): once this reader follows a
    /// receive volume (its superblock, and a state record that verified
    /// under the key), a superblock that changes — another link id, other
    /// geometry or flags, undecodable — is adopted only when the key
    /// proves it: a new link id whose state record in block 1 carries a
    /// valid MAC under that id (a key holder formatted the volume anew and
    /// its writer runs). Anything else is ignored: the reader keeps the
    /// superblock it follows, and frames keep flowing. What the storage
    /// itself says (its length, its sector) still counts. Plain mode, or
    /// before a record verified: `found` as it is.
    fn unproven_change<R: Volume>(
        &mut self,
        recv: &mut R,
        found: Result<VolumeHead, PeerProblem>,
        sector: usize,
    ) -> Result<VolumeHead, PeerProblem> {
        let (Some(key), Some(followed)) = (&self.cfg.auth_key, self.followed_sb) else {
            return found;
        };
        if self.peer.epoch == 0 || found.as_ref().ok() == Some(&followed) {
            return found;
        }
        if let Ok(head) = &found {
            let sb = &head.sb;
            if sb.link_id != followed.sb.link_id
                && recv
                    .read_at(self.geo.state_offset(), self.block_buf.as_mut_slice())
                    .is_ok()
            {
                let record = self.block_buf.as_slice();
                let proven = StateRecord::parse(record)
                    .is_ok_and(|rec| key.state_mac(&sb.link_id, record) == rec.mac);
                if proven {
                    return found;
                }
            }
        }
        match self.receive_sb_problem(&followed, sector, recv.len_bytes()) {
            None => Ok(followed),
            Some(problem) => Err(problem),
        }
    }

    /// Follows the peer at `now_us`: reads its state record when due and
    /// the ring from the next expected block, delivering frames to `sink`
    /// (blocks read and frames delivered go into `report`, whose
    /// `flow_blocked`, set by the writer half, asks for the peer's record
    /// at once). Returns true when the position this reader acknowledges
    /// moved (a block delivered, a new run followed): the writer half
    /// then owes the peer a fresh acknowledgement.
    pub(super) fn receive<R: Volume>(
        &mut self,
        now_us: u64,
        recv: &mut R,
        sink: &mut dyn FnMut(&[u8]),
        report: &mut PollReport,
        counters: &mut Counters,
    ) -> bool {
        self.receive_blocks(now_us, recv, sink, report, counters);
        self.watch_progress(now_us);
        core::mem::take(&mut self.ack_moved)
    }

    /// The stall watch (reader rule 4): a reader held at one slot for
    /// longer than the peer timeout while the writer's records, read since
    /// it got there, say the writer has written past it, reports the link
    /// down (never up while it delivers nothing of what the writer sends).
    fn watch_progress(&mut self, now_us: u64) {
        self.remember_position();
        let timeout = self.effective_peer_timeout_us();
        self.record_shown = match self.peer.state {
            None if now_us.saturating_sub(self.opened_us) >= timeout => self.record_issue,
            Some(_) if !self.peer_fresh(now_us) => self.record_issue,
            _ => None,
        };
        let position = (self.peer.epoch, self.peer.expected);
        if position != self.progress.0 {
            self.progress = (position, now_us);
            self.stalled = None;
            return;
        }
        let since = self.progress.1;
        let held = self.peer.next_seq_hint > self.peer.expected
            && self.peer.hint_read_us > since
            && now_us.saturating_sub(since) > self.effective_peer_timeout_us();
        self.stalled = held.then_some(PeerProblem::Stalled {
            seq: self.peer.expected,
            writer_next: self.peer.next_seq_hint,
        });
    }

    fn receive_blocks<R: Volume>(
        &mut self,
        now_us: u64,
        recv: &mut R,
        sink: &mut dyn FnMut(&[u8]),
        report: &mut PollReport,
        counters: &mut Counters,
    ) {
        let state_read_due = match self.last_peer_read_us {
            None => true,
            Some(t) => {
                now_us.saturating_sub(t) >= self.cfg.state_poll_us
                    || report.flow_blocked
                    || self.bad.is_some()
                    || self.recv_sb.is_none()
            }
        };
        if state_read_due {
            self.last_peer_read_us = Some(now_us);
            if !self.check_receive_volume(recv, counters) {
                return;
            }
            self.read_peer_state(now_us, recv, counters);
        }
        let Some(head) = self.recv_sb else { return };
        let sb = head.sb;
        if self.peer.epoch == 0 {
            // No state record of the peer followed yet: the reader's
            // starting position comes from one (reader rules), and a
            // block alone never makes a peer live.
            return;
        }
        // Read one slot; while blocks keep coming, read twice as many
        // consecutive slots in one I/O each time (up to the ring's end and
        // `max_read_blocks` per poll): one block per read when idle, large
        // reads under load.
        let ring = u64::from(self.geo.ring_blocks);
        let mut reads_left = (self.read_buf.len() / self.geo.block_size as usize) as u64;
        let mut batch = 1u64;
        while reads_left > 0 {
            let first_slot = self.peer.expected % ring;
            let n = batch.min(reads_left).min(ring - first_slot) as usize;
            let bs = self.geo.block_size as usize;
            let offset = self.geo.slot_offset(self.peer.expected);
            if let Err(e) = recv.read_at(offset, &mut self.read_buf.as_mut_slice()[..n * bs]) {
                counters.read_errors += 1;
                self.problem = Some(PeerProblem::Io(e));
                return;
            }
            for i in 0..n {
                if self.peer.expected % ring != first_slot + i as u64 {
                    break; // the position jumped (resync): read afresh
                }
                match self.judge_block(now_us, recv, &sb, i, sink, counters) {
                    Step::Wait => return,
                    Step::Delivered { frames } => {
                        report.blocks_read += 1;
                        report.frames_delivered += frames;
                    }
                    Step::Skipped => {}
                }
            }
            reads_left -= n as u64;
            // Saturating: a poll may skip slot after slot (a record far
            // ahead of a zeroed ring), more times than a u64 doubles.
            batch = batch.saturating_mul(2);
        }
    }

    fn read_peer_state<R: Volume>(&mut self, now_us: u64, recv: &mut R, counters: &mut Counters) {
        let offset = self.geo.state_offset();
        let area = self.geo.block_size as usize * self.geo.state_blocks as usize;
        let Some(area_buf) = self.state_buf.as_mut_slice().get_mut(..area) else {
            // A state area larger than any segment's: refused at its
            // superblock already; nothing to read.
            return;
        };
        if let Err(e) = recv.read_at(offset, area_buf) {
            counters.read_errors += 1;
            self.problem = Some(PeerProblem::Io(e));
            return;
        }
        let rec = match StateRecord::parse(self.state_buf.as_slice()) {
            Ok(rec) => rec,
            // No record at all (block 1 never written, or zeroed): the peer
            // never started. Not counted; named while no peer is seen.
            Err(FormatError::BadMagic) if self.peer.state.is_none() => {
                self.record_issue = Some(PeerProblem::NoRecord);
                return;
            }
            Err(e) => {
                counters.rejects_state += 1;
                self.record_issue = Some(PeerProblem::RecordInvalid(e));
                return;
            }
        };
        let Some(head) = self.recv_sb else { return };
        let sb = head.sb;
        // Read now: the block buffer is reused below.
        let ext = StateExt::read(self.state_buf.as_slice());
        if let Some(key) = &self.cfg.auth_key {
            if key.state_mac(&sb.link_id, self.state_buf.as_slice()) != rec.mac {
                counters.rejects_auth += 1;
                self.problem = Some(PeerProblem::AuthFailed);
                return;
            }
            if self.problem == Some(PeerProblem::AuthFailed) {
                self.problem = None;
            }
        }
        if rec.writer_node != sb.writer_node || rec.reader_node != sb.reader_node {
            // Another link's record (crossed mirrors): never a sign of life.
            counters.rejects_foreign += 1;
            self.record_issue = Some(PeerProblem::ForeignRecord {
                writer_node: rec.writer_node,
                reader_node: rec.reader_node,
            });
            return;
        }
        let floor = self.floor(&sb);
        let older_run =
            rec.epoch < self.peer.epoch || floor.is_some_and(|(epoch, _)| rec.epoch < epoch);
        let older_write = rec.epoch == self.peer.epoch
            && self
                .peer
                .last_update_count
                .is_some_and(|seen| rec.update_count < seen);
        if older_run || older_write {
            // A record older than one already seen (a lagging or
            // rolled-back copy, a replay): ignored, never a sign of life.
            counters.rejects_stale += 1;
            self.record_issue = Some(PeerProblem::StaleRecord {
                epoch: rec.epoch,
                update_count: rec.update_count,
            });
            return;
        }
        self.record_issue = None;
        if rec.epoch > self.peer.epoch {
            let initial = self.peer.epoch == 0;
            let mut start = if initial { rec.next_seq } else { 0 };
            let resumed = floor.filter(|&(epoch, _)| epoch == rec.epoch);
            if let Some((_, seq)) = resumed {
                start = start.max(seq);
            }
            self.adopt_epoch(rec.epoch, start, counters);
            if initial && resumed.is_some() {
                // This reader (or its previous run) followed this run
                // before and may have delivered past its last
                // acknowledgement and past the record's next_seq, which
                // lags the writer: resume at the writer's current
                // position, never below (frames in flight may be lost,
                // none is delivered twice).
                self.resume_at_writer(recv, &sb, counters);
            }
            self.peer.last_update_count = None;
        }
        if self.peer.last_update_count != Some(rec.update_count) {
            // update_count grew (an older one was refused above): the
            // writer wrote its record again.
            self.peer.last_update_count = Some(rec.update_count);
            self.peer.last_alive_us = now_us;
        }
        self.peer.state = Some(rec.state);
        self.peer.next_seq_hint = rec.next_seq;
        self.peer.hint_read_us = now_us;
        self.log_hint(rec.next_seq, now_us);
        self.peer.declared_timeout_us =
            (u64::from(ext.peer_timeout_ms) * 1000).min(MAX_DECLARED_TIMEOUT_US);
        match head.region {
            None => self.note_ack(rec.ack_epoch, rec.ack_seq),
            Some(region) => {
                if let Some((epoch, seq)) = self.table_ack(&rec, &sb, region.members, counters) {
                    self.note_ack(epoch, seq);
                }
            }
        }
    }

    /// A region's acknowledgement of this node, from the table after the
    /// peer's record `rec` (in the state buffer): used only when the table
    /// is of the same write as the record (its update count), of this
    /// segment's size and the region's writer, and, in authenticated mode,
    /// its MAC holds. A table that fails its checks is counted and leaves
    /// the acknowledgement as it was.
    fn table_ack(
        &self,
        rec: &StateRecord,
        sb: &Superblock,
        members: u32,
        counters: &mut Counters,
    ) -> Option<(u64, u64)> {
        let area = self.geo.block_size as usize * self.geo.state_blocks as usize;
        let bytes = self.state_buf.as_slice().get(STATE_LEN..area)?;
        let table = match AckTable::parse(bytes) {
            Ok(t) if t.members == members && t.member == sb.writer_node => t,
            _ => {
                counters.rejects_state += 1;
                return None;
            }
        };
        if table.update_count != rec.update_count {
            // The two halves of different writes (torn between blocks).
            return None;
        }
        if let Some(key) = &self.cfg.auth_key {
            if !key.verify_ack_table(&sb.link_id, bytes, members) {
                counters.rejects_auth += 1;
                return None;
            }
        }
        let entry = table.entry(self.cfg.node_id)?;
        Some((entry.ack_epoch, entry.ack_seq))
    }

    /// Records the current position in [`Reader::high_water`].
    fn remember_position(&mut self) {
        let Some(sb) = self.followed_sb else { return };
        if self.peer.epoch == 0 {
            return;
        }
        let tag = sb.link_tag() as u32;
        let here = (self.peer.epoch, self.peer.expected);
        if let Some(entry) = self.high_water.iter_mut().find(|e| e.0 == tag) {
            if here > (entry.1, entry.2) {
                *entry = (tag, here.0, here.1);
            }
            return;
        }
        self.high_water.rotate_right(1);
        self.high_water[0] = (tag, here.0, here.1);
    }

    /// The highest position reached on the receive volume `sb` (by its
    /// blocks' link tag), if it was followed before.
    fn floor(&self, sb: &Superblock) -> Option<(u64, u64)> {
        let tag = sb.link_tag() as u32;
        let seen = self
            .high_water
            .iter()
            .find(|e| e.0 == tag && tag != 0)
            .map(|e| (e.1, e.2));
        match (seen, self.resume.find(tag)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves the expected position past every block of the followed run
    /// already in the ring from there on (in sequence, whole, genuine):
    /// the writer's current position.
    fn resume_at_writer<R: Volume>(
        &mut self,
        recv: &mut R,
        sb: &Superblock,
        counters: &mut Counters,
    ) {
        let ring = u64::from(self.geo.ring_blocks);
        for _ in 0..ring {
            let seq = self.peer.expected;
            if recv
                .read_at(self.geo.slot_offset(seq), self.block_buf.as_mut_slice())
                .is_err()
            {
                counters.read_errors += 1;
                return;
            }
            match self.classify(sb, self.block_buf.as_slice(), seq) {
                Ok(h) if h.epoch == self.peer.epoch && h.seq == seq => {
                    self.peer.expected += 1;
                }
                _ => return,
            }
        }
    }

    fn adopt_epoch(&mut self, epoch: u64, expected: u64, counters: &mut Counters) {
        if self.peer.epoch != 0 {
            counters.peer_restarts += 1;
        }
        self.peer.epoch = epoch;
        self.peer.expected = expected;
        // The hint was about the previous run (a record of this run sets it).
        self.peer.next_seq_hint = 0;
        self.hint_log_len = 0;
        self.drop_partial(counters);
        self.bad = None;
        self.foreign_held = None;
        self.idle_counted = None;
        self.ack_moved = true;
    }

    fn note_ack(&mut self, epoch: u64, seq: u64) {
        let newer = epoch == self.own_epoch && (self.peer.ack.0 != epoch || seq > self.peer.ack.1);
        if newer || self.peer.ack.0 != self.own_epoch {
            self.peer.ack = (epoch, seq);
        }
    }

    /// Gives up the frame under way, if any, counting it as dropped.
    fn drop_partial(&mut self, counters: &mut Counters) {
        if self.partial.abandon() {
            counters.drops_partial_frames += 1;
        }
    }

    /// Classifies the bytes of one ring slot for the slot of `expected`
    /// (rows R1–R7 of the reader rules' decision table in docs/FORMAT.md):
    /// `Ok(header)` when it is a whole, genuine block of this link in its
    /// own slot with consistent contents (rows R8–R10 then look at its
    /// epoch and sequence), else what it is instead.
    fn classify(
        &self,
        sb: &Superblock,
        block: &[u8],
        expected: u64,
    ) -> Result<DataHeader, SlotContent> {
        let header = match DataHeader::check(block, self.payload_cap) {
            // R1: no magic.
            BlockCheck::Empty => return Err(SlotContent::Empty),
            // R7 (first sector of the previous lap still there): a block
            // being overwritten whose header, not yet replaced, says this
            // run and a lower sequence.
            BlockCheck::BadChecksum(h) if h.epoch == self.peer.epoch && h.seq < expected => {
                return Err(SlotContent::PreviousLap)
            }
            // R2: the CRC fails (a write in flight, or damage).
            BlockCheck::BadChecksum(_) => return Err(SlotContent::Torn),
            // R3: the CRC holds (or the header cannot be a block at all)
            // but the header is impossible.
            BlockCheck::BadHeader => return Err(SlotContent::Inconsistent),
            BlockCheck::Valid(h) => h,
        };
        // R4: another link's block.
        if header.writer_node != sb.writer_node
            || header.reader_node != sb.reader_node
            || header.link_tag != sb.link_tag() as u32
        {
            return Err(SlotContent::Foreign {
                writer_node: header.writer_node,
            });
        }
        // R5: authenticated mode, the keyed MAC fails.
        if let Some(key) = &self.cfg.auth_key {
            if !key.verify_block(&sb.link_id, block) {
                return Err(SlotContent::Forged);
            }
        }
        // R3: a block copied into another slot, or whose frame stream a
        // writer could not have produced.
        let ring = u64::from(self.geo.ring_blocks);
        let valid = header.valid_bytes as usize;
        let payload = &block[DATA_HEADER_LEN..DATA_HEADER_LEN + valid];
        if header.seq % ring != expected % ring
            || !payload_consistent(payload, header.first_frame, self.payload_cap)
        {
            return Err(SlotContent::Inconsistent);
        }
        Ok(header)
    }

    /// Judges the block at `index` of the read buffer, which holds the slot
    /// of the next expected sequence number, and delivers it if it is that
    /// block. Follows the decision table of docs/FORMAT.md ("Reader
    /// rules") row by row.
    fn judge_block<R: Volume>(
        &mut self,
        now_us: u64,
        recv: &mut R,
        sb: &Superblock,
        index: usize,
        sink: &mut dyn FnMut(&[u8]),
        counters: &mut Counters,
    ) -> Step {
        let bs = self.geo.block_size as usize;
        let block_start = index * bs;
        let judged = self.classify(
            sb,
            &self.read_buf.as_slice()[block_start..block_start + bs],
            self.peer.expected,
        );
        let header = match judged {
            Err(content) => return self.unfit(now_us, recv, content, counters),
            Ok(h) if h.epoch < self.peer.epoch => {
                // R6: an earlier run's block.
                return self.unfit(now_us, recv, SlotContent::Stale, counters);
            }
            Ok(h) if h.epoch == self.peer.epoch && h.seq < self.peer.expected => {
                // R7: this run's previous lap.
                return self.unfit(now_us, recv, SlotContent::PreviousLap, counters);
            }
            Ok(h) => h,
        };
        if header.epoch > self.peer.epoch {
            // R8: the peer restarted and we see its new run before its
            // record: follow it from this block.
            self.adopt_epoch(header.epoch, header.seq, counters);
            self.peer.state = Some(WriterState::Running);
        }
        if header.seq > self.peer.expected {
            // R9: the writer lapped us (we were not live to it). The ring
            // holds at most the N blocks up to this one: the blocks before
            // the oldest of them are lost; go back to it and read on from
            // there (what the writer wrote since the reader fell behind is
            // still in the ring and delivered, in order; a slot of the
            // window that holds something else is judged like any other).
            let ring = u64::from(self.geo.ring_blocks);
            let oldest = (header.seq + 1)
                .saturating_sub(ring)
                .max(self.peer.expected + 1);
            counters.drops_blocks_missed += oldest - self.peer.expected;
            self.drop_partial(counters);
            self.peer.expected = oldest;
            self.peer.last_alive_us = now_us;
            self.bad = None;
            self.foreign_held = None;
            if oldest < header.seq {
                return Step::Skipped;
            }
        }
        // R10: the expected block. Deliver.
        self.bad = None;
        self.foreign_held = None;
        if self.followed_sb.is_some_and(|head| head.region.is_none()) {
            // A link's blocks carry the peer's acknowledgement (a region's
            // travel in its table).
            self.note_ack(header.ack_epoch, header.ack_seq);
        }
        self.peer.last_alive_us = now_us;
        let valid = header.valid_bytes as usize;
        let payload_start = block_start + DATA_HEADER_LEN;
        let delivered = self.partial.deliver(
            &self.read_buf.as_slice()[payload_start..payload_start + valid],
            header.first_frame,
            header.seq,
            counters,
            sink,
        );
        self.peer.expected += 1;
        self.ack_moved = true;
        counters.blocks_read += 1;
        Step::Delivered { frames: delivered }
    }

    /// The expected slot holds `content`, not the expected block (rows
    /// R1–R7). Counted once per slot and kind when first seen; waited for
    /// while the writer has not provably moved past the slot (column
    /// "not past"); skipped, with nothing delivered from it, once it has
    /// and the torn grace has run since the reader first stopped in this
    /// run of unfit slots (column "past") — one grace for a run, not one
    /// per slot.
    fn unfit<R: Volume>(
        &mut self,
        now_us: u64,
        recv: &mut R,
        content: SlotContent,
        counters: &mut Counters,
    ) -> Step {
        let expected = self.peer.expected;
        let mut bad = match self.bad {
            Some(bad) if bad.seq == expected => bad,
            // A new slot of the run keeps the run's start; a new run
            // starts now.
            Some(bad) => BadBlock {
                seq: expected,
                since_us: bad.since_us,
                first_seen_us: now_us,
                counted: None,
            },
            None => BadBlock {
                seq: expected,
                since_us: now_us,
                first_seen_us: now_us,
                counted: None,
            },
        };
        if self.idle_counted == Some((expected, content)) {
            bad.counted = Some(content); // counted while the reader waited
        }
        if bad.counted != Some(content) {
            bad.counted = Some(content);
            match content {
                SlotContent::Torn => counters.rejects_torn += 1,
                SlotContent::Inconsistent => counters.rejects_corrupt += 1,
                SlotContent::Foreign { .. } => counters.rejects_foreign += 1,
                SlotContent::Forged => counters.rejects_auth += 1,
                SlotContent::Stale => counters.rejects_stale += 1,
                SlotContent::Empty | SlotContent::PreviousLap => {}
            }
        }
        let waits_for_writer = matches!(
            content,
            SlotContent::Empty | SlotContent::PreviousLap | SlotContent::Stale
        );
        if waits_for_writer && !self.hint_past(expected, bad.since_us) {
            // Looks like a slot the writer has not reached yet, and its
            // record agrees: the reader is caught up, no run is under way
            // (a torn block met next gets its own grace).
            // No run: nothing kept but what the slot was counted as (and
            // the peer's record is read at its usual pace, not every poll).
            self.idle_counted = bad.counted.map(|c| (expected, c));
            self.bad = None;
            return Step::Wait;
        }
        // Plain mode: another link's block where this one's next block
        // belongs is a configuration error (crossed mirrors) and named as
        // the link's problem while the reader is held at it. Authenticated
        // mode does not let it take the link down: anyone can write one
        // (the link tag is not secret), so it only costs frames.
        self.foreign_held = match content {
            SlotContent::Foreign { writer_node } if self.cfg.auth_key.is_none() => {
                Some(PeerProblem::Foreign { writer_node })
            }
            _ => None,
        };
        if self.writer_moved_past(now_us, &bad, recv, counters) {
            self.foreign_held = None;
            // Column "past": skip. A torn block still torn after the grace
            // is corrupt; the others were counted when first seen.
            if content == SlotContent::Torn {
                counters.rejects_corrupt += 1;
            }
            counters.drops_blocks_missed += 1;
            self.drop_partial(counters);
            self.peer.expected += 1;
            self.bad = Some(BadBlock {
                seq: expected + 1,
                since_us: bad.since_us,
                first_seen_us: now_us,
                counted: None,
            });
            return Step::Skipped;
        }
        self.bad = Some(bad);
        Step::Wait
    }

    /// The writer's state record, read since `since_us`, says it has
    /// written sequence `seq` of the followed epoch.
    fn hint_past(&self, seq: u64, since_us: u64) -> bool {
        self.peer.hint_read_us >= since_us && self.peer.next_seq_hint > seq
    }

    /// The writer has provably moved past the slot `bad` stands at, and
    /// the torn grace has run since (what a write in flight needs):
    /// either its state record, read since the reader stopped in this run,
    /// says so, and the grace has run since the run began and since a
    /// record first said so (one grace for a run of slots the writer had
    /// passed when the reader stopped — a zeroed ring — and a grace of
    /// their own for slots whose blocks the writer wrote since, which may
    /// still be on their way); or the grace has run since the reader met
    /// this slot and the next slot holds a later block of the same run,
    /// whole and genuine (writes go in order).
    fn writer_moved_past<R: Volume>(
        &mut self,
        now_us: u64,
        bad: &BadBlock,
        recv: &mut R,
        counters: &mut Counters,
    ) -> bool {
        let grace = self.cfg.torn_grace_us;
        let seq = bad.seq;
        if self.hint_past(seq, bad.since_us) {
            if let Some(t) = self.past_since(seq) {
                if now_us.saturating_sub(t.max(bad.since_us)) >= grace {
                    return true;
                }
            }
        }
        if now_us.saturating_sub(bad.first_seen_us) < grace {
            return false;
        }
        let Some(VolumeHead { sb, .. }) = self.recv_sb else {
            return false;
        };
        // The block buffer, not the read buffer: the caller still walks a
        // batch of blocks in the read buffer.
        if recv
            .read_at(self.geo.slot_offset(seq + 1), self.block_buf.as_mut_slice())
            .is_err()
        {
            counters.read_errors += 1;
            return false;
        }
        matches!(
            self.classify(&sb, self.block_buf.as_slice(), seq + 1),
            Ok(h) if h.epoch == self.peer.epoch && h.seq > seq
        )
    }

    /// When a state record of the followed run first said the writer had
    /// written `seq` (next_seq > `seq`), as far as [`Reader::hint_log`]
    /// remembers (an entry it dropped only makes the answer later).
    fn past_since(&self, seq: u64) -> Option<u64> {
        self.hint_log[..self.hint_log_len]
            .iter()
            .find(|&&(next, _)| next > seq)
            .map(|&(_, t)| t)
    }

    /// Notes a record's next_seq of the followed run, with the time read.
    fn log_hint(&mut self, next_seq: u64, now_us: u64) {
        let n = self.hint_log_len;
        if n > 0 && self.hint_log[n - 1].0 >= next_seq {
            return;
        }
        if n == self.hint_log.len() {
            self.hint_log.copy_within(1.., 0);
            self.hint_log[n - 1] = (next_seq, now_us);
        } else {
            self.hint_log[n] = (next_seq, now_us);
            self.hint_log_len += 1;
        }
    }
}

/// What judging the expected slot came to.
enum Step {
    /// The expected block was read and `frames` of it delivered.
    Delivered { frames: usize },
    /// The slot was given up on: the reader moved past it.
    Skipped,
    /// The reader waits at the slot.
    Wait,
}

/// What the expected slot holds instead of the expected block: rows
/// R1–R7 of the reader rules' decision table (docs/FORMAT.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotContent {
    /// R1: no magic (never written, zeroed, or the write was lost).
    Empty,
    /// R2: the CRC fails (a write in flight, or damage).
    Torn,
    /// R3: the CRC holds but the header or frame stream is impossible, or
    /// the block sits in another sequence's slot.
    Inconsistent,
    /// R4: another link's block (nodes or link tag differ).
    Foreign { writer_node: u32 },
    /// R5: the keyed MAC fails (authenticated mode).
    Forged,
    /// R6: a block of an earlier run.
    Stale,
    /// R7: a block of this run's previous lap.
    PreviousLap,
}

/// What makes a receive volume (head `head`, on storage of `sector`-byte
/// sectors and `len` bytes) unusable for node `node_id`, whose blocks are
/// `block_size` bytes, which has a key when `keyed` and writes a region of
/// `own_region` when it is a segment's member.
pub(super) fn receive_problem(
    node_id: u32,
    block_size: u32,
    keyed: bool,
    own_region: Option<&RegionInfo>,
    head: &VolumeHead,
    sector: usize,
    len: u64,
) -> Option<PeerProblem> {
    let sb = &head.sb;
    let kind = match (own_region, &head.region) {
        (None, None) if sb.writer_node == node_id => Some(PeerProblem::OwnVolume),
        (None, None) if sb.reader_node != node_id => Some(PeerProblem::WrongReader {
            reader_node: sb.reader_node,
            node_id,
        }),
        (None, None) => None,
        (None, Some(theirs)) => Some(PeerProblem::RegionForLink {
            members: theirs.members,
        }),
        (Some(_), None) => Some(PeerProblem::LinkVolumeForRegion),
        (Some(ours), Some(theirs))
            if ours.segment_id != theirs.segment_id || ours.members != theirs.members =>
        {
            Some(PeerProblem::OtherSegment {
                members: theirs.members,
            })
        }
        (Some(_), Some(_)) if sb.writer_node == node_id => Some(PeerProblem::OwnVolume),
        (Some(_), Some(_)) => None,
    };
    if kind.is_some() {
        kind
    } else if sb.authenticated() != keyed {
        Some(PeerProblem::AuthModeMismatch { ours: keyed })
    } else if sb.block_size != block_size {
        Some(PeerProblem::BlockSizeMismatch {
            ours: block_size,
            theirs: sb.block_size,
        })
    } else if !(sb.block_size as usize).is_multiple_of(sector) {
        Some(PeerProblem::SectorSize {
            block_size: sb.block_size,
            sector_size: sector as u32,
        })
    } else if len < head.geo.volume_bytes() {
        Some(PeerProblem::Truncated {
            need: head.geo.volume_bytes(),
            have: len,
        })
    } else {
        None
    }
}
