//! The writer half of a link: this node's send volume.
//!
//! A [`Writer`] holds everything about the volume only this node writes:
//! its superblock and geometry, this run's epoch and next sequence, the
//! claim (watching for another live writer, claiming, reading the claim
//! back) and whether the volume is still this writer's, the packer that
//! turns queued frames into blocks, the state record it keeps fresh, and
//! its memory of the ring it wrote, read back in a sweep. It owns the
//! buffers it reads and writes with (the state record, the check of
//! blocks 0 and 1, the sweep's read-back), so nothing it does depends on
//! what the reader half last read.
//!
//! It never reads the receive volume: what it publishes and obeys of the
//! reader half (the acknowledgement it sends, the peer's acknowledgement
//! and liveness for flow control) comes in as a [`PeerFeedback`] on each
//! call that needs it, and the counters it adds to are passed in, so the
//! same writer can serve one reader or several.

use alloc::vec::Vec;

use crate::aligned::AlignedBuf;
use crate::format::{
    block_crc, db_field, DataHeader, Geometry, PublishedCounters, StateExt, StateRecord,
    Superblock, WriterState, HOST_NAME_LEN, MAC_LEN, STATE_LEN, SUPERBLOCK_LEN,
};
use crate::packer::Packer;
use crate::queue::SendQueue;
use crate::stats::Counters;
use crate::volume::{Volume, VolumeError, VolumeErrorKind};

use crate::segment::AckTable;

use super::{
    read_head, Claimant, LinkConfig, LinkError, LostCause, PeerFeedback, PollReport, ReadMarks,
    RegionInfo, VolumeHead, HEAD_MAX,
};

/// This node's end of its send volume.
#[derive(Debug)]
pub(super) struct Writer {
    cfg: LinkConfig,
    send_sb: Superblock,
    /// The segment of the region this writer writes (`None`: one end of a
    /// two-node link). A region's state area holds the acknowledgement
    /// table after the record, and its data blocks carry no
    /// acknowledgement.
    region: Option<RegionInfo>,
    geo: Geometry,
    payload_cap: usize,
    /// This run's epoch: greater than any the volume has seen.
    epoch: u64,
    next_seq: u64,
    phase: Phase,
    packer: Packer,
    update_count: u64,
    last_state_write_us: u64,
    state_due_now: bool,
    /// The acknowledgement this node sends moved since it was last
    /// written (in a block or the state record).
    ack_dirty: bool,
    /// The last write of data blocks, and of the state record, failed: the
    /// link is down while either did (each cleared by its next success).
    data_write_error: Option<VolumeError>,
    state_write_error: Option<VolumeError>,
    /// The send volume's state area (the state record, on a region the
    /// acknowledgement table after it), read and written whole.
    block_buf: AlignedBuf,
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

impl Writer {
    /// Validates the send volume and picks the epoch (greater than any the
    /// volume has seen and at least `epoch_seed`); allocates the writer's
    /// buffers. Writes nothing: the claim is written by
    /// [`Writer::write_claim`] once the receive side has been looked at.
    /// Also returns where this node's readers stood when it last wrote its
    /// state area (a previous run of this endpoint), from that area: a
    /// reader never goes back past it.
    pub(super) fn open<S: Volume>(
        cfg: LinkConfig,
        send: &mut S,
        now_us: u64,
        epoch_seed: u64,
    ) -> Result<(Writer, ReadMarks), LinkError> {
        let mut first = AlignedBuf::try_new(HEAD_MAX).ok_or(LinkError::OutOfMemory)?;
        let send_sector =
            read_head(send, first.as_mut_slice(), send.sector_size()).map_err(LinkError::SendIo)?;
        let head = VolumeHead::parse(first.as_slice()).map_err(LinkError::SendNotFormatted)?;
        let send_sb = head.sb;
        if send_sb.writer_node != cfg.node_id {
            // Name the other writer as its state record does, if it can be read.
            let geo = head.geo;
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
        let geo = head.geo;
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
        let area = bs * geo.state_blocks as usize;
        let mut block_buf = AlignedBuf::try_new(area).ok_or(LinkError::OutOfMemory)?;
        send.read_at(geo.state_offset(), block_buf.as_mut_slice())
            .map_err(LinkError::SendIo)?;
        let previous = StateRecord::parse(block_buf.as_slice()).ok();
        let prev_epoch = previous.map_or(0, |r| r.epoch);
        let epoch = prev_epoch.saturating_add(1).max(epoch_seed).max(1);
        // A record that says a writer is starting or running: watch it for
        // a while first. Otherwise claim as soon as the link is open.
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
        let mut resume = ReadMarks::NONE;
        match (previous, head.region) {
            (Some(rec), None) => {
                let ext = StateExt::read(block_buf.as_slice());
                resume.push((ext.ack_link_tag, rec.ack_epoch, rec.ack_seq));
            }
            (Some(rec), Some(region)) => {
                // The table written with that record (the same update).
                let table = AckTable::parse(&block_buf.as_slice()[STATE_LEN..]).ok();
                let ours = table.filter(|t| {
                    t.update_count == rec.update_count
                        && t.members == region.members
                        && t.member == send_sb.writer_node
                });
                if let Some(t) = ours {
                    for e in &t.entries[..t.members as usize] {
                        resume.push((e.ack_link_tag, e.ack_epoch, e.ack_seq));
                    }
                }
            }
            (None, _) => {}
        }
        let writer = Writer {
            cfg,
            send_sb,
            region: head.region,
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
            block_buf,
            nonce,
            own_sb,
            own_record: None,
            check_buf,
            claim_basis,
            slot_watch,
        };
        Ok((writer, resume))
    }

    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }
    pub(super) fn region(&self) -> Option<RegionInfo> {
        self.region
    }
    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq
    }
    pub(super) fn geometry(&self) -> Geometry {
        self.geo
    }
    pub(super) fn send_superblock(&self) -> &Superblock {
        &self.send_sb
    }
    /// Payload bytes one block carries.
    pub(super) fn block_payload(&self) -> usize {
        self.payload_cap
    }
    /// Largest frame this writer carries.
    pub(super) fn max_frame_len(&self) -> usize {
        self.packer.max_frame_len()
    }
    pub(super) fn config(&self) -> &LinkConfig {
        &self.cfg
    }
    pub(super) fn phase(&self) -> Phase {
        self.phase
    }
    /// The send-volume write error that holds the link down, if one does.
    pub(super) fn send_error(&self) -> Option<VolumeError> {
        self.data_write_error.or(self.state_write_error)
    }
    /// True while the claim runs: watching for another live writer, or
    /// waiting to read its own claim back (no traffic yet).
    pub(super) fn claiming(&self) -> bool {
        matches!(self.phase, Phase::Watching { .. } | Phase::Claiming { .. })
    }
    /// This run's claim nonce, as written in its state records.
    pub(super) fn claim_nonce(&self) -> u64 {
        self.nonce
    }
    /// Why this writer stopped writing its send volume, if it did.
    pub(super) fn lost(&self) -> Option<LostCause> {
        match self.phase {
            Phase::Lost(cause) => Some(cause),
            _ => None,
        }
    }
    /// The writer writes nothing more: its volume was lost, its claim
    /// yielded, or it shut down. The link is down from then on.
    pub(super) fn stopped(&self) -> bool {
        matches!(self.phase, Phase::Lost(_) | Phase::ShutDown)
    }
    /// The send side lets the link be up: the volume is this writer's (or
    /// its claim is settling) and its last writes worked.
    pub(super) fn up(&self) -> bool {
        matches!(self.phase, Phase::Running | Phase::Claiming { .. }) && self.send_error().is_none()
    }
    /// The position this node acknowledges moved: a state record carrying
    /// it is due within the ack interval.
    pub(super) fn note_ack_moved(&mut self) {
        self.ack_dirty = true;
    }

    /// Moves frames from the send queue into blocks (memory only: call it
    /// under the lock that guards `queue`). Returns frames moved.
    pub(super) fn pack(
        &mut self,
        queue: &mut SendQueue,
        now_us: u64,
        counters: &mut Counters,
    ) -> usize {
        if self.phase == Phase::ShutDown {
            return 0;
        }
        self.packer
            .pack(queue, now_us, &mut counters.drops_bad_length)
    }

    /// True when packed frames wait for the volume.
    pub(super) fn has_pending(&self) -> bool {
        !self.packer.is_empty()
    }

    /// Watching the send volume for another live writer (the claim's first
    /// step): a record that changed means one is live, and this writer
    /// gives way; once the watch has run with nothing written, the claim
    /// is written. `until_us` and `seen_update` are the watch's end and the
    /// update count of the record watched. Returns when to poll next.
    pub(super) fn watch<S: Volume>(
        &mut self,
        now_us: u64,
        until_us: u64,
        seen_update: u64,
        send: &mut S,
        counters: &mut Counters,
        feedback: PeerFeedback,
    ) -> Result<u64, LinkError> {
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
            return Ok(until_us.min(now_us + self.cfg.state_poll_us));
        }
        // Nobody wrote while we watched: claim it, right after
        // the read that found it unchanged.
        self.write_claim(send, now_us, counters, feedback)?;
        Ok(now_us.saturating_add(self.cfg.state_poll_us))
    }

    /// The claim has settled: the volume is this writer's. Starts the
    /// ring's read-back sweep and writes the running record.
    pub(super) fn start_running<S: Volume>(
        &mut self,
        now_us: u64,
        send: &mut S,
        counters: &mut Counters,
        feedback: PeerFeedback,
    ) -> Result<(), LinkError> {
        self.phase = Phase::Running;
        self.slot_watch.base_us = now_us;
        self.slot_watch.done = 0;
        self.write_state(send, WriterState::Running, now_us, counters, feedback)
            .map_err(LinkError::SendIo)?;
        if let Phase::Lost(cause) = self.phase {
            return Err(LinkError::SendLost(cause));
        }
        Ok(())
    }

    /// The read-back sweep's checks due at `now_us`; a slot that no
    /// longer holds this writer's block is a change it did not make, and
    /// it writes nothing, ever again.
    pub(super) fn check_ring<S: Volume>(
        &mut self,
        now_us: u64,
        send: &mut S,
    ) -> Result<(), LinkError> {
        if let Err(cause) = self.check_slots(now_us, send) {
            self.phase = Phase::Lost(cause);
            return Err(LinkError::SendLost(cause));
        }
        Ok(())
    }

    /// After a poll's blocks are written and the peer read: writes the
    /// state record when it is due (its interval, a forced write, or an
    /// acknowledgement that no block carried since it moved). A failed
    /// write goes into `report` and is retried on a later poll.
    pub(super) fn keep_record<S: Volume>(
        &mut self,
        now_us: u64,
        send: &mut S,
        report: &mut PollReport,
        counters: &mut Counters,
        feedback: PeerFeedback,
    ) -> Result<(), LinkError> {
        if report.blocks_written > 0 {
            self.ack_dirty = false;
        }
        let state_due = self.state_due_now
            || now_us.saturating_sub(self.last_state_write_us) >= self.cfg.state_interval_us
            || (self.ack_dirty
                && now_us.saturating_sub(self.last_state_write_us) >= self.cfg.ack_interval_us);
        if state_due {
            if let Err(e) = self.write_state(send, WriterState::Running, now_us, counters, feedback)
            {
                report.write_error = Some(e);
            }
            if let Phase::Lost(cause) = self.phase {
                return Err(LinkError::SendLost(cause));
            }
        }
        Ok(())
    }

    /// The earliest time the writer has something to do without new
    /// input: the state record, an acknowledgement, a partly filled
    /// block's flush, the sweep's next step.
    pub(super) fn next_due_us(&self) -> u64 {
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
        due
    }

    /// Writes the blocks ready at `now_us` as flow control allows (the
    /// peer's acknowledgement in `feedback`, while it is live), up to the
    /// end of the ring, in one volume write.
    pub(super) fn write_ready<S: Volume>(
        &mut self,
        now_us: u64,
        send: &mut S,
        report: &mut PollReport,
        counters: &mut Counters,
        feedback: PeerFeedback,
    ) {
        let mut ready = self.packer.ready(now_us);
        if ready == 0 {
            return;
        }
        let ring = u64::from(self.geo.ring_blocks);
        if let Some(floor) = feedback.flow_floor {
            let window_end = floor.saturating_add(ring);
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
        // A region's blocks carry no acknowledgement (its table does).
        let ack = match self.region {
            Some(_) => (0, 0),
            None => feedback.ack_sent,
        };
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
                        if overwritten >= feedback.unread_floor {
                            counters.drops_overwritten += 1;
                        }
                    }
                }
                self.data_write_error = None;
                self.packer.consume(n);
                self.next_seq += n as u64;
                counters.blocks_written += n as u64;
                counters.frames_sent += frames;
                counters.bytes_sent += frame_bytes;
                report.blocks_written += n;
            }
            Err(e) => {
                // The slots may hold part of the new blocks: unknown until
                // written again.
                for slot in first_slot..first_slot + n {
                    self.slot_watch.set_known(slot, false);
                }
                counters.write_errors += 1;
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
    pub(super) fn write_claim<S: Volume>(
        &mut self,
        send: &mut S,
        now_us: u64,
        counters: &mut Counters,
        feedback: PeerFeedback,
    ) -> Result<(), LinkError> {
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
        self.write_state(send, WriterState::Starting, now_us, counters, feedback)
            .map_err(LinkError::SendIo)?;
        if let Phase::Lost(cause) = self.phase {
            return Err(LinkError::SendLost(cause));
        }
        Ok(())
    }

    /// Reads the state record back during the claim: still exactly what
    /// this writer wrote, or another claimant overwrote it and this one
    /// yields (and writes nothing more).
    pub(super) fn check_claim<S: Volume>(&mut self, send: &mut S) -> Result<(), LinkError> {
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
        counters: &mut Counters,
        feedback: PeerFeedback,
    ) -> Result<(), VolumeError> {
        if let Err(cause) = self.verify_own(send) {
            // Not ours any more: write nothing, ever again.
            self.phase = Phase::Lost(cause);
            return Ok(());
        }
        self.update_count = self.update_count.wrapping_add(1);
        let c = &*counters;
        // A region's record acknowledges nothing: its table does.
        let (ack_sent, ack_link_tag) = match self.region {
            Some(_) => ((0, 0), 0),
            None => (feedback.ack_sent, feedback.ack_link_tag),
        };
        let rec = StateRecord {
            state,
            writer_node: self.send_sb.writer_node,
            reader_node: self.send_sb.reader_node,
            epoch: self.epoch,
            next_seq: self.next_seq,
            ack_epoch: ack_sent.0,
            ack_seq: ack_sent.1,
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
            ack_link_tag,
        };
        let buf = self.block_buf.as_mut_slice();
        buf.fill(0);
        rec.emit_with(&ext, buf);
        if let Some(key) = &self.cfg.auth_key {
            let mut signed = rec;
            signed.mac = key.state_mac(&self.send_sb.link_id, buf);
            signed.emit_with(&ext, buf);
        }
        if let Some(region) = self.region {
            // The acknowledgement table after the record, of the same
            // update, in the same write.
            let mut table = AckTable::new(self.send_sb.writer_node, region.members);
            table.update_count = self.update_count;
            for peer in 1..=region.members {
                if let Some(entry) = feedback.table.get(peer as usize - 1) {
                    table.set(peer, *entry);
                }
            }
            let key = self.cfg.auth_key.as_ref();
            let link_id = self.send_sb.link_id;
            table.emit(&mut buf[STATE_LEN..], |encoded| {
                key.map(|k| k.ack_table_mac(&link_id, encoded))
            });
        }
        let mut written = [0u8; STATE_LEN];
        written.copy_from_slice(&buf[..STATE_LEN]);
        let result = send.write_at(self.geo.state_offset(), buf);
        // Time is taken even on failure so a broken volume is not hammered.
        self.last_state_write_us = now_us;
        match result {
            Ok(()) => {
                self.own_record = Some(written);
                counters.state_writes += 1;
                self.state_due_now = false;
                self.ack_dirty = false;
                self.state_write_error = None;
                Ok(())
            }
            Err(e) => {
                // What the volume now holds is unknown (the write may have
                // landed in part): the next check does not hold it against us.
                self.own_record = None;
                counters.write_errors += 1;
                self.state_write_error = Some(e);
                Err(e)
            }
        }
    }

    /// Stops the link: writes what is packed as far as flow control allows,
    /// counts the rest as dropped, and writes the shutting-down state record.
    /// Frames still in the host's queue should be packed first.
    pub(super) fn shutdown<S: Volume>(
        &mut self,
        now_us: u64,
        send: &mut S,
        counters: &mut Counters,
        feedback: PeerFeedback,
    ) -> Result<(), LinkError> {
        if self.phase == Phase::ShutDown {
            return Ok(());
        }
        if let Phase::Lost(cause) = self.phase {
            self.phase = Phase::ShutDown;
            return Err(LinkError::SendLost(cause));
        }
        if matches!(self.phase, Phase::Claiming { .. }) {
            // Our claim is on the volume: say we are gone (if it is still ours).
            self.write_state(send, WriterState::ShuttingDown, now_us, counters, feedback)
                .map_err(LinkError::SendIo)?;
        }
        if self.phase == Phase::Running {
            // Flush everything packed, partial blocks included.
            let mut report = PollReport::default();
            for _ in 0..4 {
                if self.packer.is_empty() {
                    break;
                }
                self.write_ready(u64::MAX, send, &mut report, counters, feedback);
                if report.flow_blocked || report.write_error.is_some() {
                    break;
                }
            }
            counters.drops_shutdown += self.packer.pending_frames();
            self.packer.consume(self.packer.pending_blocks());
            self.write_state(send, WriterState::ShuttingDown, now_us, counters, feedback)
                .map_err(LinkError::SendIo)?;
        }
        let lost = self.lost();
        self.phase = Phase::ShutDown;
        match lost {
            Some(cause) => Err(LinkError::SendLost(cause)),
            None => Ok(()),
        }
    }
}

/// Where the writer is with its send volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
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
