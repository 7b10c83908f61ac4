//! Segments on storage: the on-volume structures of one volnic segment of 2
//! to 32 members (docs/FORMAT.md, "Segments"). Each member writes one
//! *region*, today's volume generalised, and reads every other member's;
//! the regions lie together on one shared LUN or file (after a segment
//! header and one head block per member) or apart, one volume each.
//!
//! This module is the codec and the layout arithmetic: the segment header,
//! a region's superblock fields, the table of per-peer acknowledgements
//! that follows a member's state record, and the head record a member
//! keeps beside the others' where regions share a device. Each structure
//! is checked like the version-1 ones (magic, version, own length, CRC-32C
//! over the structure with its CRC taken as zero); nothing read from a
//! volume panics. A version-1 volume has no segment flag and is read by
//! `crate::format` as before: it is a segment of two.

use crate::format::{
    block_crc, check_block_size, checked_record, get_u32, get_u64, put_u16, put_u32, put_u64,
    FormatError, Geometry, Superblock, FORMAT_VERSION, MAX_NODE_ID, MAX_RING_BLOCKS,
    MIN_RING_BLOCKS, SB_FLAG_AUTHENTICATED, STATE_LEN, SUPERBLOCK_LEN, SUPERBLOCK_MAGIC,
};

/// Superblock flag: the volume is one member's region of a segment (its
/// reader is every other member, so `reader_node` is 0).
pub const SB_FLAG_SEGMENT: u32 = 2;
/// Fewest members of a segment.
pub const MIN_MEMBERS: u32 = 2;
/// Most members of a segment: every node number.
pub const MAX_MEMBERS: u32 = MAX_NODE_ID;

/// Magic of the segment header (block 0 of a together-form segment).
pub const SEGMENT_MAGIC: [u8; 8] = *b"VOLNICSG";
/// Length of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 128;
/// Magic of the acknowledgement table after a region's state record.
pub const ACK_TABLE_MAGIC: [u8; 8] = *b"VOLNICAK";
/// Magic of a member's head record.
pub const HEAD_MAGIC: [u8; 8] = *b"VOLNICHD";
/// Length of a head record.
pub const HEAD_LEN: usize = 64;
/// Length of the MAC field of the acknowledgement table.
pub const ACK_MAC_LEN: usize = 32;

/// Byte offsets of the segment header.
pub mod sg_field {
    pub const MAGIC: usize = 0; // [u8; 8]
    pub const VERSION: usize = 8; // u16
    pub const HEADER_LEN: usize = 10; // u16, 128
    pub const BLOCK_SIZE: usize = 12; // u32
    pub const RING_BLOCKS: usize = 16; // u32, of every region
    pub const FLAGS: usize = 20; // u32, bit 0 authenticated
    pub const SEGMENT_ID: usize = 24; // [u8; 16]
    pub const MEMBERS: usize = 40; // u32
    pub const FORMATTED_AT: usize = 48; // u64, Unix ms, informational
    pub const CRC: usize = 124; // u32
}

/// Byte offsets of the segment fields of a region's superblock (bytes that
/// are reserved in a version-1 superblock).
pub mod rs_field {
    pub const MEMBERS: usize = 56; // u32
    pub const SEGMENT_ID: usize = 64; // [u8; 16]
}

/// Byte offsets of the acknowledgement table, from its start (byte 256 of
/// the region's state area).
pub mod ak_field {
    pub const MAGIC: usize = 0; // [u8; 8]
    pub const VERSION: usize = 8; // u16
    pub const TABLE_LEN: usize = 10; // u16, 72 + 24 × members
    pub const MEMBERS: usize = 12; // u32
    pub const MEMBER: usize = 16; // u32, the writer of the region
    pub const UPDATE_COUNT: usize = 24; // u64, the state record's
    pub const ENTRIES: usize = 32; // 24 bytes per member 1..=members
    pub const ENTRY_LEN: usize = 24;
    pub const ENTRY_EPOCH: usize = 0; // u64
    pub const ENTRY_SEQ: usize = 8; // u64
    pub const ENTRY_LINK_TAG: usize = 16; // u32
    /// After the entries: the MAC (32 bytes), 4 reserved bytes, the CRC.
    pub const TAIL_LEN: usize = 40;
}

/// Byte offsets of a head record.
pub mod hd_field {
    pub const MAGIC: usize = 0; // [u8; 8]
    pub const VERSION: usize = 8; // u16
    pub const RECORD_LEN: usize = 10; // u16, 64
    pub const MEMBER: usize = 12; // u32
    pub const EPOCH: usize = 16; // u64
    pub const NEXT_SEQ: usize = 24; // u64
    pub const UPDATE_COUNT: usize = 32; // u64
    pub const CRC: usize = 60; // u32
}

fn check_members(members: u32, field: &'static str) -> Result<(), FormatError> {
    if (MIN_MEMBERS..=MAX_MEMBERS).contains(&members) {
        Ok(())
    } else {
        Err(FormatError::BadField(field))
    }
}

fn check_ring_blocks(ring_blocks: u32) -> Result<(), FormatError> {
    if (MIN_RING_BLOCKS..=MAX_RING_BLOCKS).contains(&ring_blocks) {
        Ok(())
    } else {
        Err(FormatError::BadField("ring_blocks"))
    }
}

/// Starts a structure in `b` (all of it): zero, then the magic, the
/// format version and the structure's own length at the offsets every
/// volnic structure keeps them (0, 8, 10).
fn start(b: &mut [u8], magic: &[u8; 8]) {
    b.fill(0);
    b[..8].copy_from_slice(magic);
    put_u16(b, 8, FORMAT_VERSION);
    put_u16(b, 10, b.len() as u16);
}

/// Ends a structure: its CRC-32C at `crc_at`.
fn seal(b: &mut [u8], crc_at: usize) {
    let crc = block_crc(b, crc_at);
    put_u32(b, crc_at, crc);
}

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

/// Where everything of a segment lies, in blocks of `block_size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentLayout {
    pub block_size: u32,
    pub ring_blocks: u32,
    pub members: u32,
}

impl SegmentLayout {
    /// Bytes of a region's state area: the state record and the
    /// acknowledgement table after it.
    pub fn state_area_len(&self) -> usize {
        STATE_LEN + ack_table_len(self.members)
    }

    /// Blocks of a region's state area (1 to 3).
    pub fn state_blocks(&self) -> u64 {
        (self.state_area_len() as u64).div_ceil(u64::from(self.block_size))
    }

    /// Blocks of one region: its superblock, its state area, its ring.
    pub fn region_blocks(&self) -> u64 {
        self.geometry().volume_bytes() / u64::from(self.block_size)
    }

    /// Block index, inside a region, of its first ring slot.
    pub fn ring_start(&self) -> u64 {
        self.geometry().ring_start()
    }

    /// The geometry of one region, as a volume of its own (an apart-form
    /// member volume, or a together-form region seen from its start).
    pub fn geometry(&self) -> Geometry {
        Geometry {
            state_blocks: self.state_blocks() as u32,
            ..Geometry::new(self.block_size, self.ring_blocks)
        }
    }

    /// Byte offset, in a together-form segment, of member `member`'s head
    /// block (`member` in 1..=members).
    pub fn head_offset(&self, member: u32) -> u64 {
        u64::from(member) * u64::from(self.block_size)
    }

    /// Byte offset, in a together-form segment, of member `member`'s region.
    pub fn region_offset(&self, member: u32) -> u64 {
        let first = 1 + u64::from(self.members);
        (first + u64::from(member - 1) * self.region_blocks()) * u64::from(self.block_size)
    }

    /// Bytes of a together-form segment.
    pub fn together_bytes(&self) -> u64 {
        self.region_offset(self.members) + self.region_bytes()
    }

    /// Bytes of one region (an apart-form member volume).
    pub fn region_bytes(&self) -> u64 {
        self.region_blocks() * u64::from(self.block_size)
    }
}

// ---------------------------------------------------------------------------
// Segment header
// ---------------------------------------------------------------------------

/// The header of a together-form segment, block 0 of its LUN or file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub block_size: u32,
    pub ring_blocks: u32,
    /// Bit 0: every block carries a keyed MAC (as in a superblock).
    pub flags: u32,
    /// Random identity of the segment, chosen at format time; every region
    /// of the segment carries it.
    pub segment_id: [u8; 16],
    pub members: u32,
    pub formatted_at_ms: u64,
}

impl SegmentHeader {
    pub fn layout(&self) -> SegmentLayout {
        SegmentLayout {
            block_size: self.block_size,
            ring_blocks: self.ring_blocks,
            members: self.members,
        }
    }

    /// Parses the first [`SEGMENT_HEADER_LEN`] bytes of block 0.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        use sg_field::*;
        let b = checked_record(bytes, SEGMENT_HEADER_LEN, &SEGMENT_MAGIC, CRC, "header_len")?;
        let block_size = get_u32(b, BLOCK_SIZE);
        check_block_size(block_size)?;
        let ring_blocks = get_u32(b, RING_BLOCKS);
        check_ring_blocks(ring_blocks)?;
        let flags = get_u32(b, FLAGS);
        if flags & !SB_FLAG_AUTHENTICATED != 0 {
            return Err(FormatError::BadField("flags"));
        }
        let members = get_u32(b, MEMBERS);
        check_members(members, "members")?;
        let mut segment_id = [0u8; 16];
        segment_id.copy_from_slice(&b[SEGMENT_ID..SEGMENT_ID + 16]);
        Ok(Self {
            block_size,
            ring_blocks,
            flags,
            segment_id,
            members,
            formatted_at_ms: get_u64(b, FORMATTED_AT),
        })
    }

    /// Writes the header into `out` (at least [`SEGMENT_HEADER_LEN`]
    /// bytes; the caller zeroes the rest of block 0).
    pub fn emit(&self, out: &mut [u8]) {
        use sg_field::*;
        let b = &mut out[..SEGMENT_HEADER_LEN];
        start(b, &SEGMENT_MAGIC);
        put_u32(b, BLOCK_SIZE, self.block_size);
        put_u32(b, RING_BLOCKS, self.ring_blocks);
        put_u32(b, FLAGS, self.flags);
        b[SEGMENT_ID..SEGMENT_ID + 16].copy_from_slice(&self.segment_id);
        put_u32(b, MEMBERS, self.members);
        put_u64(b, FORMATTED_AT, self.formatted_at_ms);
        seal(b, CRC);
    }
}

// ---------------------------------------------------------------------------
// Region superblock
// ---------------------------------------------------------------------------

/// The superblock of one member's region: a version-1 superblock with the
/// segment flag, `reader_node` 0, and the segment's size and identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionSuperblock {
    pub block_size: u32,
    pub ring_blocks: u32,
    /// Bit 0: authenticated; the segment flag is implied.
    pub flags: u32,
    /// Random identity of this region's stream, chosen at format time
    /// (distinct for every region, so one region's blocks are another's
    /// foreign blocks).
    pub link_id: [u8; 16],
    /// The member that writes the region.
    pub member: u32,
    pub members: u32,
    pub segment_id: [u8; 16],
    pub formatted_at_ms: u64,
}

impl RegionSuperblock {
    pub fn layout(&self) -> SegmentLayout {
        SegmentLayout {
            block_size: self.block_size,
            ring_blocks: self.ring_blocks,
            members: self.members,
        }
    }

    /// The 64-bit tag data blocks of the region carry (as a version-1
    /// volume's link tag).
    pub fn link_tag(&self) -> u64 {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&self.link_id[..8]);
        u64::from_le_bytes(raw)
    }

    /// Parses the first [`SUPERBLOCK_LEN`] bytes of a region's block 0.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        use crate::format::sb_field::*;
        let b = checked_record(bytes, SUPERBLOCK_LEN, &SUPERBLOCK_MAGIC, CRC, "header_len")?;
        let block_size = get_u32(b, BLOCK_SIZE);
        check_block_size(block_size)?;
        let ring_blocks = get_u32(b, RING_BLOCKS);
        check_ring_blocks(ring_blocks)?;
        let flags = get_u32(b, FLAGS);
        if flags & SB_FLAG_SEGMENT == 0 || flags & !(SB_FLAG_AUTHENTICATED | SB_FLAG_SEGMENT) != 0 {
            return Err(FormatError::BadField("flags"));
        }
        let members = get_u32(b, rs_field::MEMBERS);
        check_members(members, "members")?;
        let member = get_u32(b, WRITER_NODE);
        if !(1..=members).contains(&member) {
            return Err(FormatError::BadField("writer_node"));
        }
        if get_u32(b, READER_NODE) != 0 {
            return Err(FormatError::BadField("reader_node"));
        }
        let mut link_id = [0u8; 16];
        link_id.copy_from_slice(&b[LINK_ID..LINK_ID + 16]);
        let mut segment_id = [0u8; 16];
        segment_id.copy_from_slice(&b[rs_field::SEGMENT_ID..rs_field::SEGMENT_ID + 16]);
        Ok(Self {
            block_size,
            ring_blocks,
            flags: flags & SB_FLAG_AUTHENTICATED,
            link_id,
            member,
            members,
            segment_id,
            formatted_at_ms: get_u64(b, FORMATTED_AT),
        })
    }

    /// Writes the region's superblock into `out` (at least
    /// [`SUPERBLOCK_LEN`] bytes; the caller zeroes the rest of the block).
    pub fn emit(&self, out: &mut [u8]) {
        use crate::format::sb_field::*;
        // The version-1 fields, then the segment's in its reserved bytes.
        Superblock {
            block_size: self.block_size,
            ring_blocks: self.ring_blocks,
            flags: (self.flags & SB_FLAG_AUTHENTICATED) | SB_FLAG_SEGMENT,
            link_id: self.link_id,
            writer_node: self.member,
            reader_node: 0,
            formatted_at_ms: self.formatted_at_ms,
        }
        .emit(out);
        let b = &mut out[..SUPERBLOCK_LEN];
        put_u32(b, rs_field::MEMBERS, self.members);
        b[rs_field::SEGMENT_ID..rs_field::SEGMENT_ID + 16].copy_from_slice(&self.segment_id);
        seal(b, CRC);
    }
}

// ---------------------------------------------------------------------------
// Acknowledgement table
// ---------------------------------------------------------------------------

/// Bytes of the acknowledgement table of a segment of `members`.
pub const fn ack_table_len(members: u32) -> usize {
    ak_field::ENTRIES + ak_field::ENTRY_LEN * members as usize + ak_field::TAIL_LEN
}

/// Offset, in the table, of its MAC field.
pub const fn ack_table_mac_at(members: u32) -> usize {
    ak_field::ENTRIES + ak_field::ENTRY_LEN * members as usize
}

/// How far a member has read one peer's region: the peer's run and the
/// next sequence number expected from it (every block of that run before
/// it has been read), and the low 32 bits of the region's link tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckEntry {
    pub ack_epoch: u64,
    pub ack_seq: u64,
    pub ack_link_tag: u32,
}

/// The acknowledgement table a member writes after its state record: one
/// entry per member slot (its own is zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckTable {
    /// The member that writes the table (the region's writer).
    pub member: u32,
    pub members: u32,
    /// The update count of the state record written with it: a table whose
    /// count differs from its record's is of another write (torn between
    /// blocks) and is not used.
    pub update_count: u64,
    /// Entries of members 1..=members at indices 0..members.
    pub entries: [AckEntry; MAX_MEMBERS as usize],
    /// Keyed MAC in authenticated mode, else zero.
    pub mac: [u8; ACK_MAC_LEN],
}

impl AckTable {
    /// An empty table of member `member` of `members`.
    pub fn new(member: u32, members: u32) -> Self {
        Self {
            member,
            members,
            update_count: 0,
            entries: [AckEntry::default(); MAX_MEMBERS as usize],
            mac: [0; ACK_MAC_LEN],
        }
    }

    /// The entry of member `peer` (1..=members), if it is one.
    pub fn entry(&self, peer: u32) -> Option<&AckEntry> {
        if peer == 0 || peer > self.members {
            return None;
        }
        self.entries.get(peer as usize - 1)
    }

    /// Sets the entry of member `peer`; false when `peer` is no member or
    /// the writer itself.
    pub fn set(&mut self, peer: u32, entry: AckEntry) -> bool {
        if peer == 0 || peer > self.members || peer == self.member {
            return false;
        }
        self.entries[peer as usize - 1] = entry;
        true
    }

    /// Parses a table from the start of `bytes` (the state area from byte
    /// [`STATE_LEN`] on).
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        use ak_field::*;
        let members = match bytes.get(MEMBERS..MEMBERS + 4) {
            Some(_) => get_u32(bytes, MEMBERS),
            None => return Err(FormatError::Truncated),
        };
        check_members(members, "members")?;
        let len = ack_table_len(members);
        let crc_at = len - 4;
        let b = checked_record(bytes, len, &ACK_TABLE_MAGIC, crc_at, "table_len")?;
        let member = get_u32(b, MEMBER);
        if !(1..=members).contains(&member) {
            return Err(FormatError::BadField("member"));
        }
        let mut table = Self::new(member, members);
        table.update_count = get_u64(b, UPDATE_COUNT);
        for (i, entry) in table.entries[..members as usize].iter_mut().enumerate() {
            let at = ENTRIES + i * ENTRY_LEN;
            *entry = AckEntry {
                ack_epoch: get_u64(b, at + ENTRY_EPOCH),
                ack_seq: get_u64(b, at + ENTRY_SEQ),
                ack_link_tag: get_u32(b, at + ENTRY_LINK_TAG),
            };
        }
        if table.entries[member as usize - 1] != AckEntry::default() {
            return Err(FormatError::BadField("own entry"));
        }
        let mac_at = ack_table_mac_at(members);
        table.mac.copy_from_slice(&b[mac_at..mac_at + ACK_MAC_LEN]);
        Ok(table)
    }

    /// Writes the table into the start of `out` (at least
    /// [`ack_table_len`] bytes), its MAC as it stands; `sealed` is then
    /// called with the encoded table, before the CRC, to fill in a MAC
    /// (`AuthKey::ack_table_mac`) if one is due.
    pub fn emit(&self, out: &mut [u8], sealed: impl FnOnce(&[u8]) -> Option<[u8; ACK_MAC_LEN]>) {
        use ak_field::*;
        let len = ack_table_len(self.members);
        let b = &mut out[..len];
        start(b, &ACK_TABLE_MAGIC);
        put_u32(b, MEMBERS, self.members);
        put_u32(b, MEMBER, self.member);
        put_u64(b, UPDATE_COUNT, self.update_count);
        for (i, entry) in self.entries[..self.members as usize].iter().enumerate() {
            let at = ENTRIES + i * ENTRY_LEN;
            if i as u32 + 1 == self.member {
                continue;
            }
            put_u64(b, at + ENTRY_EPOCH, entry.ack_epoch);
            put_u64(b, at + ENTRY_SEQ, entry.ack_seq);
            put_u32(b, at + ENTRY_LINK_TAG, entry.ack_link_tag);
        }
        let mac_at = ack_table_mac_at(self.members);
        let mac = sealed(&b[..mac_at]).unwrap_or(self.mac);
        b[mac_at..mac_at + ACK_MAC_LEN].copy_from_slice(&mac);
        seal(b, len - 4);
    }
}

// ---------------------------------------------------------------------------
// Head record
// ---------------------------------------------------------------------------

/// A member's head record, in its own block beside the other members'
/// where the regions share a device: where its stream stands, so that one
/// read of every head tells a reader which peers have written since.
/// A hint only: it carries no MAC, and nothing is delivered on its word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadRecord {
    pub member: u32,
    pub epoch: u64,
    /// The sequence number the member will give its next data block.
    pub next_seq: u64,
    /// The update count of the member's state record when it was written.
    pub update_count: u64,
}

impl HeadRecord {
    /// Parses the first [`HEAD_LEN`] bytes of a head block. `Ok(None)`: an
    /// all-zero block, a head never written.
    pub fn parse(bytes: &[u8]) -> Result<Option<Self>, FormatError> {
        use hd_field::*;
        match bytes.get(..HEAD_LEN) {
            Some(b) if b.iter().all(|&x| x == 0) => return Ok(None),
            Some(_) => {}
            None => return Err(FormatError::Truncated),
        }
        let b = checked_record(bytes, HEAD_LEN, &HEAD_MAGIC, CRC, "record_len")?;
        let member = get_u32(b, MEMBER);
        if !(1..=MAX_MEMBERS).contains(&member) {
            return Err(FormatError::BadField("member"));
        }
        Ok(Some(Self {
            member,
            epoch: get_u64(b, EPOCH),
            next_seq: get_u64(b, NEXT_SEQ),
            update_count: get_u64(b, UPDATE_COUNT),
        }))
    }

    /// Writes the record into `out` (at least [`HEAD_LEN`] bytes; the
    /// caller zeroes the rest of the block).
    pub fn emit(&self, out: &mut [u8]) {
        use hd_field::*;
        let b = &mut out[..HEAD_LEN];
        start(b, &HEAD_MAGIC);
        put_u32(b, MEMBER, self.member);
        put_u64(b, EPOCH, self.epoch);
        put_u64(b, NEXT_SEQ, self.next_seq);
        put_u64(b, UPDATE_COUNT, self.update_count);
        seal(b, CRC);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn header(members: u32) -> SegmentHeader {
        SegmentHeader {
            block_size: 512,
            ring_blocks: 16,
            flags: 0,
            segment_id: [7; 16],
            members,
            formatted_at_ms: 1_764_028_800_000,
        }
    }

    #[test]
    fn the_header_round_trips_and_refuses_what_is_out_of_bounds() {
        let mut block = vec![0u8; 512];
        header(8).emit(&mut block);
        assert_eq!(SegmentHeader::parse(&block), Ok(header(8)));
        for (members, ok) in [(1, false), (2, true), (32, true), (33, false)] {
            header(members).emit(&mut block);
            assert_eq!(SegmentHeader::parse(&block).is_ok(), ok, "{members}");
        }
        header(3).emit(&mut block);
        block[30] ^= 1;
        assert_eq!(SegmentHeader::parse(&block), Err(FormatError::BadChecksum));
        // A version-1 superblock is no segment header, and the other way.
        let mut sb = vec![0u8; 512];
        Superblock {
            block_size: 512,
            ring_blocks: 16,
            flags: 0,
            link_id: [1; 16],
            writer_node: 1,
            reader_node: 2,
            formatted_at_ms: 0,
        }
        .emit(&mut sb);
        assert_eq!(SegmentHeader::parse(&sb), Err(FormatError::BadMagic));
        header(3).emit(&mut block);
        assert_eq!(Superblock::parse(&block), Err(FormatError::BadMagic));
    }

    fn region(member: u32, members: u32) -> RegionSuperblock {
        RegionSuperblock {
            block_size: 512,
            ring_blocks: 16,
            flags: SB_FLAG_AUTHENTICATED,
            link_id: [member as u8; 16],
            member,
            members,
            segment_id: [9; 16],
            formatted_at_ms: 5,
        }
    }

    #[test]
    fn a_region_superblock_round_trips_and_a_version_1_reader_refuses_it() {
        let mut block = vec![0u8; 512];
        region(3, 8).emit(&mut block);
        assert_eq!(RegionSuperblock::parse(&block), Ok(region(3, 8)));
        // Today's parser sees an unknown flag: a region is never taken for
        // one end of a two-node link.
        assert_eq!(
            Superblock::parse(&block),
            Err(FormatError::BadField("flags"))
        );
        region(9, 8).emit(&mut block);
        assert_eq!(
            RegionSuperblock::parse(&block),
            Err(FormatError::BadField("writer_node"))
        );
        // A version-1 superblock is no region.
        Superblock {
            block_size: 512,
            ring_blocks: 16,
            flags: 0,
            link_id: [1; 16],
            writer_node: 1,
            reader_node: 2,
            formatted_at_ms: 0,
        }
        .emit(&mut block);
        assert_eq!(
            RegionSuperblock::parse(&block),
            Err(FormatError::BadField("flags"))
        );
    }

    #[test]
    fn the_ack_table_round_trips_with_its_mac_and_refuses_a_torn_copy() {
        let mut table = AckTable::new(2, 5);
        table.update_count = 41;
        assert!(table.set(
            1,
            AckEntry {
                ack_epoch: 10,
                ack_seq: 20,
                ack_link_tag: 30
            }
        ));
        assert!(table.set(
            5,
            AckEntry {
                ack_epoch: 11,
                ack_seq: 21,
                ack_link_tag: 31
            }
        ));
        assert!(!table.set(2, AckEntry::default()), "its own entry");
        assert!(!table.set(6, AckEntry::default()), "no such member");
        let mut bytes = vec![0u8; 1024];
        table.emit(&mut bytes, |encoded| {
            assert_eq!(encoded.len(), ack_table_mac_at(5));
            Some([0xab; ACK_MAC_LEN])
        });
        let back = AckTable::parse(&bytes).unwrap();
        assert_eq!(back.mac, [0xab; ACK_MAC_LEN]);
        assert_eq!(back.entry(5).unwrap().ack_seq, 21);
        assert_eq!(back.entry(3), Some(&AckEntry::default()));
        assert_eq!(back.entry(6), None);
        assert_eq!(
            back,
            AckTable {
                mac: [0xab; ACK_MAC_LEN],
                ..table
            }
        );
        bytes[ak_field::ENTRIES + 3] ^= 1;
        assert_eq!(AckTable::parse(&bytes), Err(FormatError::BadChecksum));
        assert_eq!(AckTable::parse(&bytes[..40]), Err(FormatError::Truncated));
    }

    #[test]
    fn regions_and_heads_never_overlap_and_state_areas_fit() {
        for block_size in [512u32, 1024, 4096] {
            for members in MIN_MEMBERS..=MAX_MEMBERS {
                let l = SegmentLayout {
                    block_size,
                    ring_blocks: 8,
                    members,
                };
                assert!(l.state_blocks() * u64::from(block_size) >= l.state_area_len() as u64);
                assert!(l.state_blocks() <= 3);
                let b = u64::from(block_size);
                assert_eq!(l.head_offset(1), b, "the heads follow the header");
                assert_eq!(l.region_offset(1), (1 + u64::from(members)) * b);
                for m in 1..members {
                    assert_eq!(
                        l.region_offset(m + 1) - l.region_offset(m),
                        l.region_bytes()
                    );
                }
                assert_eq!(
                    l.together_bytes(),
                    (1 + u64::from(members) + u64::from(members) * l.region_blocks()) * b
                );
            }
        }
        // A region is a volume of its own geometry: the ring after its
        // state area, and the same length.
        let l = SegmentLayout {
            block_size: 512,
            ring_blocks: 8,
            members: 32,
        };
        let g = l.geometry();
        assert_eq!(g.ring_start(), 4);
        assert_eq!(g.slot_offset(0), 4 * 512);
        assert_eq!(g.slot_offset(9), 5 * 512, "slot 1 of the second lap");
        assert_eq!(g.volume_bytes(), l.region_bytes());
        assert_eq!(Geometry::new(512, 8).ring_start(), 2, "a link's volume");
        // 32 members on 512-byte blocks: 256 + 72 + 768 bytes, three blocks.
        let l = SegmentLayout {
            block_size: 512,
            ring_blocks: 8,
            members: 32,
        };
        assert_eq!((l.state_area_len(), l.state_blocks()), (1096, 3));
    }

    #[test]
    fn a_head_record_round_trips_and_zero_is_never_written() {
        let head = HeadRecord {
            member: 4,
            epoch: 99,
            next_seq: 1234,
            update_count: 7,
        };
        let mut block = vec![0u8; 512];
        assert_eq!(HeadRecord::parse(&block), Ok(None));
        head.emit(&mut block);
        assert_eq!(HeadRecord::parse(&block), Ok(Some(head)));
        block[20] ^= 0x10;
        assert_eq!(HeadRecord::parse(&block), Err(FormatError::BadChecksum));
    }

    proptest::proptest! {
        /// Any bytes, and the same bytes with each structure's CRC made
        /// right: no decoder panics, and what one accepts re-encodes to
        /// itself.
        #[test]
        fn any_bytes_are_refused_or_round_trip(
            mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1200),
            members in MIN_MEMBERS..=MAX_MEMBERS,
        ) {
            let _ = SegmentHeader::parse(&bytes);
            let _ = RegionSuperblock::parse(&bytes);
            let _ = AckTable::parse(&bytes);
            let _ = HeadRecord::parse(&bytes);
            if bytes.len() >= ack_table_len(members) {
                bytes[ak_field::MEMBERS..ak_field::MEMBERS + 4]
                    .copy_from_slice(&members.to_le_bytes());
                let len = ack_table_len(members);
                let crc = block_crc(&bytes[..len], len - 4);
                bytes[len - 4..len].copy_from_slice(&crc.to_le_bytes());
                if let Ok(t) = AckTable::parse(&bytes) {
                    let mut again = vec![0u8; len];
                    t.emit(&mut again, |_| None);
                    proptest::prop_assert_eq!(AckTable::parse(&again), Ok(t));
                }
            }
            if bytes.len() >= SEGMENT_HEADER_LEN {
                let crc = block_crc(&bytes[..SEGMENT_HEADER_LEN], sg_field::CRC);
                bytes[sg_field::CRC..sg_field::CRC + 4].copy_from_slice(&crc.to_le_bytes());
                if let Ok(h) = SegmentHeader::parse(&bytes) {
                    let mut again = vec![0u8; SEGMENT_HEADER_LEN];
                    h.emit(&mut again);
                    proptest::prop_assert_eq!(SegmentHeader::parse(&again), Ok(h));
                }
            }
        }
    }

    #[test]
    fn the_ack_table_mac_binds_the_key_and_the_region() {
        use crate::auth::AuthKey;
        let key = AuthKey::from_secret(b"0123456789abcdef-secret").unwrap();
        let other = AuthKey::from_secret(b"0123456789abcdef-other!").unwrap();
        let link = [3u8; 16];
        let mut table = AckTable::new(1, 3);
        table.set(
            2,
            AckEntry {
                ack_epoch: 1,
                ack_seq: 2,
                ack_link_tag: 3,
            },
        );
        let mut bytes = vec![0u8; ack_table_len(3)];
        table.emit(&mut bytes, |encoded| {
            Some(key.ack_table_mac(&link, encoded))
        });
        assert!(key.verify_ack_table(&link, &bytes, 3));
        assert!(!other.verify_ack_table(&link, &bytes, 3));
        assert!(
            !key.verify_ack_table(&[4u8; 16], &bytes, 3),
            "bound to the region"
        );
        assert!(!key.verify_ack_table(&link, &bytes[..40], 3));
        bytes[ak_field::ENTRIES + ak_field::ENTRY_LEN + 8] ^= 1;
        assert!(!key.verify_ack_table(&link, &bytes, 3), "an entry changed");
    }
}
