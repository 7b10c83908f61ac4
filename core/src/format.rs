//! The on-volume format: superblock, state record and data blocks.
//!
//! A volume is an array of fixed-size blocks (block size `B`, a multiple of
//! 512). Block 0 holds the [`Superblock`], block 1 the writer's
//! [`StateRecord`], blocks `2 .. 2 + N` are the ring of data blocks: the block
//! with sequence number `s` lives in ring slot `s % N`, at byte offset
//! `(2 + s % N) * B`. Every integer is little-endian at the fixed offset given
//! in the `field` modules. `docs/FORMAT.md` describes the same layout in prose.
//!
//! Each structure is checked on its own: magic, format version, lengths, and a
//! CRC-32C (Castagnoli) that covers every byte of its block except the CRC
//! field itself, so a block torn at any sector boundary fails the check.

use core::fmt;

/// Format version written by this engine and the only one it accepts.
pub const FORMAT_VERSION: u16 = 1;
/// Smallest block size (one sector).
pub const MIN_BLOCK_SIZE: u32 = 512;
/// Largest block size.
pub const MAX_BLOCK_SIZE: u32 = 1 << 20;
/// Fewest ring slots a volume may have.
pub const MIN_RING_BLOCKS: u32 = 8;
/// Node numbers are 1 to this (a superblock naming another is refused).
pub const MAX_NODE_ID: u32 = 32;
/// Most ring slots a volume may have.
pub const MAX_RING_BLOCKS: u32 = 1 << 24;
/// Block index of the superblock.
pub const SUPERBLOCK_INDEX: u64 = 0;
/// Block index of the state record.
pub const STATE_INDEX: u64 = 1;
/// Block index of ring slot 0 on a volume of a two-node link (a
/// segment region's ring starts after its state area: `Geometry::ring_start`).
pub const RING_START_INDEX: u64 = 2;

const CASTAGNOLI: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// CRC-32C over `block` with the four bytes at `crc_at` taken as zero.
pub fn block_crc(block: &[u8], crc_at: usize) -> u32 {
    let mut digest = CASTAGNOLI.digest();
    digest.update(&block[..crc_at]);
    digest.update(&[0; 4]);
    digest.update(&block[crc_at + 4..]);
    digest.finalize()
}

pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
pub(crate) fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(raw)
}
pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Why bytes read from a volume were not accepted as a structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Fewer bytes than the structure needs.
    Truncated,
    /// The magic number is not the expected one (never written, or not volnic).
    BadMagic,
    /// A format version this engine does not speak.
    UnsupportedVersion(u16),
    /// The CRC does not match (torn write or corruption).
    BadChecksum,
    /// A field holds an impossible value.
    BadField(&'static str),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Truncated => f.write_str("structure truncated"),
            FormatError::BadMagic => f.write_str("not a volnic structure (bad magic)"),
            FormatError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "format version {v} is not supported (this build speaks {FORMAT_VERSION})"
                )
            }
            FormatError::BadChecksum => f.write_str("checksum mismatch"),
            FormatError::BadField(name) => write!(f, "invalid value in field {name}"),
        }
    }
}

/// Checks that `block_size` is a legal block size.
pub fn check_block_size(block_size: u32) -> Result<(), FormatError> {
    if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size) || !block_size.is_multiple_of(512) {
        return Err(FormatError::BadField("block_size"));
    }
    Ok(())
}

/// The geometry of a formatted volume: its block size, its ring, and
/// where the ring starts (after the superblock and the state area).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub block_size: u32,
    pub ring_blocks: u32,
    /// Blocks of the state area: 1 on a volume of a two-node link (the
    /// state record in block 1); 1 to 3 in a segment's region, whose state
    /// record is followed by the acknowledgement table
    /// (`crate::segment::SegmentLayout::state_blocks`).
    pub state_blocks: u32,
}

impl Geometry {
    /// The geometry of a volume of a two-node link: the state record in
    /// block 1, the ring from block 2.
    pub const fn new(block_size: u32, ring_blocks: u32) -> Self {
        Self {
            block_size,
            ring_blocks,
            state_blocks: 1,
        }
    }
    /// Block index of the first ring slot.
    pub fn ring_start(&self) -> u64 {
        STATE_INDEX + u64::from(self.state_blocks)
    }
    /// Byte offset of the ring slot that holds sequence number `seq`.
    pub fn slot_offset(&self, seq: u64) -> u64 {
        self.slot_index_offset(seq % u64::from(self.ring_blocks))
    }
    /// Byte offset of ring slot `slot` (`0 <= slot < ring_blocks`).
    pub fn slot_index_offset(&self, slot: u64) -> u64 {
        (self.ring_start() + slot) * u64::from(self.block_size)
    }
    /// Byte offset of the state record.
    pub fn state_offset(&self) -> u64 {
        STATE_INDEX * u64::from(self.block_size)
    }
    /// Bytes a volume of this geometry occupies.
    pub fn volume_bytes(&self) -> u64 {
        (self.ring_start() + u64::from(self.ring_blocks)) * u64::from(self.block_size)
    }
    /// Payload bytes a data block carries.
    pub fn payload_capacity(&self, authenticated: bool) -> usize {
        self.block_size as usize - DATA_HEADER_LEN - if authenticated { MAC_LEN } else { 0 }
    }
}

// ---------------------------------------------------------------------------
// Superblock
// ---------------------------------------------------------------------------

/// Magic of the superblock.
pub const SUPERBLOCK_MAGIC: [u8; 8] = *b"VOLNICSB";
/// Bytes of the superblock that carry fields (the rest of block 0 is zero).
pub const SUPERBLOCK_LEN: usize = 128;

/// Field offsets of the superblock.
pub mod sb_field {
    pub const MAGIC: usize = 0; // [u8; 8]
    pub const VERSION: usize = 8; // u16
    pub const HEADER_LEN: usize = 10; // u16
    pub const BLOCK_SIZE: usize = 12; // u32
    pub const RING_BLOCKS: usize = 16; // u32
    pub const FLAGS: usize = 20; // u32
    pub const LINK_ID: usize = 24; // [u8; 16]
    pub const WRITER_NODE: usize = 40; // u32
    pub const READER_NODE: usize = 44; // u32
    pub const FORMATTED_AT: usize = 48; // u64, Unix ms, informational
    pub const RESERVED: usize = 56; // zero up to CRC
    pub const CRC: usize = 124; // u32
}

/// Superblock flag: blocks on this volume carry a keyed MAC.
pub const SB_FLAG_AUTHENTICATED: u32 = 1;

/// The checks the superblock and the state record share (magic, version
/// and own length sit at the same offsets in both): enough bytes, magic,
/// format version, checksum at `crc_at`, and the record's own length field
/// (named `len_field` in errors). Returns the record's `len` bytes.
pub(crate) fn checked_record<'a>(
    bytes: &'a [u8],
    len: usize,
    magic: &[u8; 8],
    crc_at: usize,
    len_field: &'static str,
) -> Result<&'a [u8], FormatError> {
    use sb_field::{HEADER_LEN, MAGIC, VERSION};
    const _: () = assert!(
        st_field::MAGIC == MAGIC
            && st_field::VERSION == VERSION
            && st_field::RECORD_LEN == HEADER_LEN
    );
    let b = bytes.get(..len).ok_or(FormatError::Truncated)?;
    if b[MAGIC..MAGIC + 8] != *magic {
        return Err(FormatError::BadMagic);
    }
    let version = get_u16(b, VERSION);
    if version != FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion(version));
    }
    if block_crc(b, crc_at) != get_u32(b, crc_at) {
        return Err(FormatError::BadChecksum);
    }
    if usize::from(get_u16(b, HEADER_LEN)) != len {
        return Err(FormatError::BadField(len_field));
    }
    Ok(b)
}

/// Volume header, written once by `volnic format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Superblock {
    pub block_size: u32,
    pub ring_blocks: u32,
    pub flags: u32,
    /// Random identity of the link this volume carries, chosen at format.
    pub link_id: [u8; 16],
    /// Node that writes this volume (its send volume).
    pub writer_node: u32,
    /// Node that reads this volume (its receive volume, via the mirror).
    pub reader_node: u32,
    pub formatted_at_ms: u64,
}

impl Superblock {
    pub fn geometry(&self) -> Geometry {
        Geometry::new(self.block_size, self.ring_blocks)
    }

    /// The 64-bit link tag data blocks carry: the first 8 bytes of the link id.
    pub fn link_tag(&self) -> u64 {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&self.link_id[..8]);
        u64::from_le_bytes(raw)
    }

    pub fn authenticated(&self) -> bool {
        self.flags & SB_FLAG_AUTHENTICATED != 0
    }

    /// Parses the first [`SUPERBLOCK_LEN`] bytes of block 0.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        use sb_field::*;
        let b = checked_record(bytes, SUPERBLOCK_LEN, &SUPERBLOCK_MAGIC, CRC, "header_len")?;
        let block_size = get_u32(b, BLOCK_SIZE);
        check_block_size(block_size)?;
        let ring_blocks = get_u32(b, RING_BLOCKS);
        if !(MIN_RING_BLOCKS..=MAX_RING_BLOCKS).contains(&ring_blocks) {
            return Err(FormatError::BadField("ring_blocks"));
        }
        let flags = get_u32(b, FLAGS);
        if flags & !SB_FLAG_AUTHENTICATED != 0 {
            return Err(FormatError::BadField("flags"));
        }
        let (writer_node, reader_node) = (get_u32(b, WRITER_NODE), get_u32(b, READER_NODE));
        if !(1..=MAX_NODE_ID).contains(&writer_node) {
            return Err(FormatError::BadField("writer_node"));
        }
        if !(1..=MAX_NODE_ID).contains(&reader_node) || reader_node == writer_node {
            // A volume carries traffic from one node to another.
            return Err(FormatError::BadField("reader_node"));
        }
        let mut link_id = [0u8; 16];
        link_id.copy_from_slice(&b[LINK_ID..LINK_ID + 16]);
        Ok(Self {
            block_size,
            ring_blocks,
            flags,
            link_id,
            writer_node,
            reader_node,
            formatted_at_ms: get_u64(b, FORMATTED_AT),
        })
    }

    /// Writes the superblock into `out` (at least [`SUPERBLOCK_LEN`] bytes;
    /// the caller zeroes the rest of block 0).
    pub fn emit(&self, out: &mut [u8]) {
        use sb_field::*;
        let b = &mut out[..SUPERBLOCK_LEN];
        b.fill(0);
        b[MAGIC..MAGIC + 8].copy_from_slice(&SUPERBLOCK_MAGIC);
        put_u16(b, VERSION, FORMAT_VERSION);
        put_u16(b, HEADER_LEN, SUPERBLOCK_LEN as u16);
        put_u32(b, BLOCK_SIZE, self.block_size);
        put_u32(b, RING_BLOCKS, self.ring_blocks);
        put_u32(b, FLAGS, self.flags);
        b[LINK_ID..LINK_ID + 16].copy_from_slice(&self.link_id);
        put_u32(b, WRITER_NODE, self.writer_node);
        put_u32(b, READER_NODE, self.reader_node);
        put_u64(b, FORMATTED_AT, self.formatted_at_ms);
        let crc = block_crc(b, CRC);
        put_u32(b, CRC, crc);
    }
}

// ---------------------------------------------------------------------------
// State record
// ---------------------------------------------------------------------------

/// Magic of the state record.
pub const STATE_MAGIC: [u8; 8] = *b"VOLNICST";
/// Bytes of the state record (the rest of block 1 is zero).
pub const STATE_LEN: usize = 256;

/// Field offsets of the state record.
pub mod st_field {
    pub const MAGIC: usize = 0; // [u8; 8]
    pub const VERSION: usize = 8; // u16
    pub const RECORD_LEN: usize = 10; // u16
    pub const STATE: usize = 12; // u32, WriterState
    pub const WRITER_NODE: usize = 16; // u32
    pub const READER_NODE: usize = 20; // u32
    pub const EPOCH: usize = 24; // u64
    pub const NEXT_SEQ: usize = 32; // u64
    pub const ACK_EPOCH: usize = 40; // u64
    pub const ACK_SEQ: usize = 48; // u64
    pub const UPDATE_COUNT: usize = 56; // u64
    pub const WRITER_TIME_US: usize = 64; // u64
    pub const HOST_NAME: usize = 72; // [u8; 32], UTF-8, zero padded
    pub const FRAMES_SENT: usize = 104; // u64
    pub const BYTES_SENT: usize = 112; // u64
    pub const FRAMES_RECEIVED: usize = 120; // u64
    pub const BYTES_RECEIVED: usize = 128; // u64
    pub const DROPS: usize = 136; // u64
    pub const REJECTS: usize = 144; // u64
    /// Written by volnic 0.2 and later; zero in older records (see [`super::StateExt`]).
    pub const CLAIM_NONCE: usize = 152; // u64, random per run, 0: none
    pub const STATE_INTERVAL_MS: usize = 160; // u32, the writer's state interval, 0: not declared
    pub const PEER_TIMEOUT_MS: usize = 164; // u32, the writer's peer timeout, 0: not declared
    pub const ACK_LINK_TAG: usize = 168; // u32, low 32 bits of the acknowledged volume's link tag, 0: not given
    pub const RESERVED: usize = 172; // zero up to MAC
    pub const MAC: usize = 216; // [u8; 32] keyed MAC when authenticated, else zero
    pub const CRC: usize = 252; // u32
}

/// Length of the host-name field of the state record.
pub const HOST_NAME_LEN: usize = 32;
/// Length of the keyed MAC carried by authenticated structures.
pub const MAC_LEN: usize = 32;

/// What the writer of a volume is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriterState {
    /// Initialising: volumes being verified, no data yet.
    Starting = 1,
    /// Carrying traffic.
    Running = 2,
    /// Stopped on purpose; the link is down until a new epoch starts.
    ShuttingDown = 3,
}

impl WriterState {
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Starting),
            2 => Some(Self::Running),
            3 => Some(Self::ShuttingDown),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::ShuttingDown => "shutting-down",
        }
    }
}

/// Totals a writer publishes in its state record (informational).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishedCounters {
    pub frames_sent: u64,
    pub bytes_sent: u64,
    pub frames_received: u64,
    pub bytes_received: u64,
    pub drops: u64,
    pub rejects: u64,
}

/// The writer's state record, block 1 of its send volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateRecord {
    pub state: WriterState,
    pub writer_node: u32,
    pub reader_node: u32,
    /// Epoch of the writer's current run; strictly greater on every start.
    pub epoch: u64,
    /// Sequence number the writer will give its next data block.
    pub next_seq: u64,
    /// Epoch of the peer whose blocks are acknowledged.
    pub ack_epoch: u64,
    /// Next sequence number expected from the peer: every block before it
    /// has been read.
    pub ack_seq: u64,
    /// Incremented on every write of the record: the peer's liveness signal.
    pub update_count: u64,
    /// Writer's monotonic clock at the write, in µs (informational).
    pub writer_time_us: u64,
    pub host_name: [u8; HOST_NAME_LEN],
    pub counters: PublishedCounters,
    /// Keyed MAC over the record (zero when not authenticated).
    pub mac: [u8; MAC_LEN],
}

/// Fields of the state record that version-1 readers before them ignore
/// (bytes that were reserved, hence zero, in older records): the writer's
/// claim nonce and the liveness clock it declares. All zero means "not
/// given": an older writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateExt {
    /// Random number the writer chose for this run; names its claim of the
    /// volume (0: an older writer, which makes no claim).
    pub claim_nonce: u64,
    /// How often the writer rewrites its record while running, in ms.
    pub state_interval_ms: u32,
    /// The writer's own peer timeout, in ms.
    pub peer_timeout_ms: u32,
    /// Low 32 bits of the link tag of the receive volume whose run
    /// ack_epoch/ack_seq acknowledge (0: not given): where this node's
    /// reader stood, so a restarted reader never goes back.
    pub ack_link_tag: u32,
}

impl StateExt {
    /// Reads the extension fields of a record that [`StateRecord::parse`]
    /// accepted (zero where an older writer left them reserved).
    pub fn read(bytes: &[u8]) -> Self {
        use st_field::*;
        if bytes.len() < STATE_LEN {
            return Self::default();
        }
        Self {
            claim_nonce: get_u64(bytes, CLAIM_NONCE),
            state_interval_ms: get_u32(bytes, STATE_INTERVAL_MS),
            peer_timeout_ms: get_u32(bytes, PEER_TIMEOUT_MS),
            ack_link_tag: get_u32(bytes, ACK_LINK_TAG),
        }
    }
}

impl StateRecord {
    /// The host name as text (lossy: invalid UTF-8 shows as `?`).
    pub fn host_name_str(&self) -> &str {
        let end = self
            .host_name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(HOST_NAME_LEN);
        core::str::from_utf8(&self.host_name[..end]).unwrap_or("?")
    }

    /// Sets the host name, truncated at a character boundary to 32 bytes.
    pub fn set_host_name(&mut self, name: &str) {
        self.host_name = [0; HOST_NAME_LEN];
        let mut end = name.len().min(HOST_NAME_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        self.host_name[..end].copy_from_slice(&name.as_bytes()[..end]);
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        use st_field::*;
        let b = checked_record(bytes, STATE_LEN, &STATE_MAGIC, CRC, "record_len")?;
        let state =
            WriterState::from_u32(get_u32(b, STATE)).ok_or(FormatError::BadField("state"))?;
        let mut host_name = [0u8; HOST_NAME_LEN];
        host_name.copy_from_slice(&b[HOST_NAME..HOST_NAME + HOST_NAME_LEN]);
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&b[st_field::MAC..st_field::MAC + MAC_LEN]);
        Ok(Self {
            state,
            writer_node: get_u32(b, WRITER_NODE),
            reader_node: get_u32(b, READER_NODE),
            epoch: get_u64(b, EPOCH),
            next_seq: get_u64(b, NEXT_SEQ),
            ack_epoch: get_u64(b, ACK_EPOCH),
            ack_seq: get_u64(b, ACK_SEQ),
            update_count: get_u64(b, UPDATE_COUNT),
            writer_time_us: get_u64(b, WRITER_TIME_US),
            host_name,
            counters: PublishedCounters {
                frames_sent: get_u64(b, FRAMES_SENT),
                bytes_sent: get_u64(b, BYTES_SENT),
                frames_received: get_u64(b, FRAMES_RECEIVED),
                bytes_received: get_u64(b, BYTES_RECEIVED),
                drops: get_u64(b, DROPS),
                rejects: get_u64(b, REJECTS),
            },
            mac,
        })
    }

    /// Writes the record into `out[..STATE_LEN]`, CRC included. The MAC field
    /// is written as held in `self.mac` (see [`crate::auth`] for computing it).
    /// The extension fields are written as zero (see [`StateRecord::emit_with`]).
    pub fn emit(&self, out: &mut [u8]) {
        self.emit_with(&StateExt::default(), out);
    }

    /// As [`StateRecord::emit`], with the extension fields `ext`.
    pub fn emit_with(&self, ext: &StateExt, out: &mut [u8]) {
        use st_field::*;
        let b = &mut out[..STATE_LEN];
        b.fill(0);
        b[MAGIC..MAGIC + 8].copy_from_slice(&STATE_MAGIC);
        put_u16(b, VERSION, FORMAT_VERSION);
        put_u16(b, RECORD_LEN, STATE_LEN as u16);
        put_u32(b, STATE, self.state as u32);
        put_u32(b, WRITER_NODE, self.writer_node);
        put_u32(b, READER_NODE, self.reader_node);
        put_u64(b, EPOCH, self.epoch);
        put_u64(b, NEXT_SEQ, self.next_seq);
        put_u64(b, ACK_EPOCH, self.ack_epoch);
        put_u64(b, ACK_SEQ, self.ack_seq);
        put_u64(b, UPDATE_COUNT, self.update_count);
        put_u64(b, WRITER_TIME_US, self.writer_time_us);
        b[HOST_NAME..HOST_NAME + HOST_NAME_LEN].copy_from_slice(&self.host_name);
        put_u64(b, FRAMES_SENT, self.counters.frames_sent);
        put_u64(b, BYTES_SENT, self.counters.bytes_sent);
        put_u64(b, FRAMES_RECEIVED, self.counters.frames_received);
        put_u64(b, BYTES_RECEIVED, self.counters.bytes_received);
        put_u64(b, DROPS, self.counters.drops);
        put_u64(b, REJECTS, self.counters.rejects);
        put_u64(b, CLAIM_NONCE, ext.claim_nonce);
        put_u32(b, STATE_INTERVAL_MS, ext.state_interval_ms);
        put_u32(b, PEER_TIMEOUT_MS, ext.peer_timeout_ms);
        put_u32(b, ACK_LINK_TAG, ext.ack_link_tag);
        b[st_field::MAC..st_field::MAC + MAC_LEN].copy_from_slice(&self.mac);
        let crc = block_crc(b, CRC);
        put_u32(b, CRC, crc);
    }
}

// ---------------------------------------------------------------------------
// Data block
// ---------------------------------------------------------------------------

/// Magic of a data block.
pub const DATA_MAGIC: [u8; 4] = *b"VNDB";
/// Bytes of the data block header; the payload follows.
pub const DATA_HEADER_LEN: usize = 64;
/// `first_frame` value meaning "no frame starts in this block".
pub const NO_FRAME_START: u32 = u32::MAX;
/// Bytes of the length prefix in front of every frame in the payload.
pub const FRAME_PREFIX_LEN: usize = 2;
/// Largest frame the format carries (the length prefix is 16 bits).
pub const MAX_FRAME_LEN: usize = u16::MAX as usize;

/// Field offsets of the data block header.
pub mod db_field {
    pub const MAGIC: usize = 0; // [u8; 4]
    pub const VERSION: usize = 4; // u16
    pub const HEADER_LEN: usize = 6; // u16
    pub const WRITER_NODE: usize = 8; // u32
    pub const READER_NODE: usize = 12; // u32
    pub const EPOCH: usize = 16; // u64
    pub const SEQ: usize = 24; // u64
    pub const VALID_BYTES: usize = 32; // u32, payload bytes in use
    pub const FIRST_FRAME: usize = 36; // u32, payload offset of the first frame start
    pub const ACK_EPOCH: usize = 40; // u64
    pub const ACK_SEQ: usize = 48; // u64
    pub const LINK_TAG: usize = 56; // u32, low 32 bits of the link tag
    pub const CRC: usize = 60; // u32
}

/// Header of a data block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataHeader {
    pub writer_node: u32,
    pub reader_node: u32,
    pub epoch: u64,
    pub seq: u64,
    /// Payload bytes in use, starting right after the header.
    pub valid_bytes: u32,
    /// Payload offset where the first frame starting in this block begins;
    /// bytes before it continue a frame begun in an earlier block.
    /// [`NO_FRAME_START`] when the whole payload continues such a frame.
    pub first_frame: u32,
    pub ack_epoch: u64,
    pub ack_seq: u64,
    /// Low 32 bits of the superblock's link tag.
    pub link_tag: u32,
}

/// Outcome of decoding a data block's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockCheck {
    /// Header and CRC good.
    Valid(DataHeader),
    /// No data block header at all (never written, or zeroes).
    Empty,
    /// Header plausible but the CRC fails: torn write in progress or corruption.
    BadChecksum(DataHeader),
    /// Header impossible (bad version or header length, lengths out of
    /// range) although the CRC holds.
    BadHeader,
}

impl DataHeader {
    fn read(b: &[u8]) -> Self {
        use db_field::*;
        Self {
            writer_node: get_u32(b, WRITER_NODE),
            reader_node: get_u32(b, READER_NODE),
            epoch: get_u64(b, EPOCH),
            seq: get_u64(b, SEQ),
            valid_bytes: get_u32(b, VALID_BYTES),
            first_frame: get_u32(b, FIRST_FRAME),
            ack_epoch: get_u64(b, ACK_EPOCH),
            ack_seq: get_u64(b, ACK_SEQ),
            link_tag: get_u32(b, LINK_TAG),
        }
    }

    /// Decodes a whole block. `payload_capacity` is the number of payload
    /// bytes the block can hold (block size − header − MAC when authenticated).
    pub fn check(block: &[u8], payload_capacity: usize) -> BlockCheck {
        use db_field::*;
        if block.len() < DATA_HEADER_LEN + payload_capacity {
            return BlockCheck::BadHeader;
        }
        if block[MAGIC..MAGIC + 4] != DATA_MAGIC {
            return BlockCheck::Empty;
        }
        let header = Self::read(block);
        if get_u16(block, VERSION) != FORMAT_VERSION
            || usize::from(get_u16(block, HEADER_LEN)) != DATA_HEADER_LEN
        {
            // As below: only a CRC match tells an impossible header from a
            // torn or damaged one.
            if block_crc(block, CRC) == get_u32(block, CRC) {
                return BlockCheck::BadHeader;
            }
            return BlockCheck::BadChecksum(header);
        }
        let valid = header.valid_bytes as usize;
        let first_ok = header.first_frame == NO_FRAME_START
            || (header.first_frame as usize) < valid.max(1) && valid > 0;
        if valid > payload_capacity || !first_ok {
            // A header whose lengths are impossible can still be a torn
            // mixture; only a CRC match makes it trustworthy either way.
            if block_crc(block, CRC) == get_u32(block, CRC) {
                return BlockCheck::BadHeader;
            }
            return BlockCheck::BadChecksum(header);
        }
        if block_crc(block, CRC) != get_u32(block, CRC) {
            return BlockCheck::BadChecksum(header);
        }
        BlockCheck::Valid(header)
    }

    /// Writes the header into `block[..DATA_HEADER_LEN]` with a zero CRC.
    pub fn emit(&self, block: &mut [u8]) {
        use db_field::*;
        block[MAGIC..MAGIC + 4].copy_from_slice(&DATA_MAGIC);
        put_u16(block, VERSION, FORMAT_VERSION);
        put_u16(block, HEADER_LEN, DATA_HEADER_LEN as u16);
        put_u32(block, WRITER_NODE, self.writer_node);
        put_u32(block, READER_NODE, self.reader_node);
        put_u64(block, EPOCH, self.epoch);
        put_u64(block, SEQ, self.seq);
        put_u32(block, VALID_BYTES, self.valid_bytes);
        put_u32(block, FIRST_FRAME, self.first_frame);
        put_u64(block, ACK_EPOCH, self.ack_epoch);
        put_u64(block, ACK_SEQ, self.ack_seq);
        put_u32(block, LINK_TAG, self.link_tag);
        put_u32(block, CRC, 0);
    }

    /// Computes and stores the CRC of a complete block (call last, after
    /// the payload and any MAC are in place).
    pub fn seal(block: &mut [u8]) {
        let crc = block_crc(block, db_field::CRC);
        put_u32(block, db_field::CRC, crc);
    }

    /// Only the acknowledgement fields of a block's header, for the
    /// flow-control path, which reads them without judging the payload.
    pub fn peek_ack(block: &[u8]) -> Option<(u64, u64)> {
        if block.len() < DATA_HEADER_LEN || block[..4] != DATA_MAGIC {
            return None;
        }
        Some((
            get_u64(block, db_field::ACK_EPOCH),
            get_u64(block, db_field::ACK_SEQ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sb() -> Superblock {
        Superblock {
            block_size: 4096,
            ring_blocks: 64,
            flags: 0,
            link_id: [7; 16],
            writer_node: 1,
            reader_node: 2,
            formatted_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn superblock_round_trip_and_checks() {
        let mut block = vec![0u8; 512];
        sb().emit(&mut block);
        assert_eq!(Superblock::parse(&block), Ok(sb()));
        let mut flipped = block.clone();
        flipped[40] ^= 1;
        assert_eq!(Superblock::parse(&flipped), Err(FormatError::BadChecksum));
        assert_eq!(
            Superblock::parse(&block[..100]),
            Err(FormatError::Truncated)
        );
        assert_eq!(Superblock::parse(&[0u8; 512]), Err(FormatError::BadMagic));
    }

    #[test]
    fn superblock_rejects_bad_geometry_even_with_good_crc() {
        let mut bad = sb();
        bad.block_size = 1000;
        let mut block = vec![0u8; 512];
        bad.emit(&mut block);
        assert_eq!(
            Superblock::parse(&block),
            Err(FormatError::BadField("block_size"))
        );
    }

    /// Node numbers are 1..=32 and a volume's writer is not its reader:
    /// nodes 0 and 33 and writer = reader are refused, CRC valid or not.
    #[test]
    fn superblock_rejects_nodes_out_of_range_and_writer_equal_reader() {
        for (writer, reader, field) in [
            (0, 2, "writer_node"),
            (33, 2, "writer_node"),
            (1, 0, "reader_node"),
            (1, 33, "reader_node"),
            (3, 3, "reader_node"),
        ] {
            let mut bad = sb();
            bad.writer_node = writer;
            bad.reader_node = reader;
            let mut block = vec![0u8; 512];
            bad.emit(&mut block);
            assert_eq!(
                Superblock::parse(&block),
                Err(FormatError::BadField(field)),
                "writer {writer}, reader {reader}"
            );
        }
        for (writer, reader) in [(1, 32), (32, 1)] {
            let mut good = sb();
            good.writer_node = writer;
            good.reader_node = reader;
            let mut block = vec![0u8; 512];
            good.emit(&mut block);
            assert_eq!(Superblock::parse(&block), Ok(good));
        }
    }

    #[test]
    fn state_record_round_trip() {
        let mut rec = StateRecord {
            state: WriterState::Running,
            writer_node: 1,
            reader_node: 2,
            epoch: 9,
            next_seq: 100,
            ack_epoch: 3,
            ack_seq: 44,
            update_count: 5,
            writer_time_us: 77,
            host_name: [0; HOST_NAME_LEN],
            counters: PublishedCounters {
                frames_sent: 1,
                bytes_sent: 2,
                frames_received: 3,
                bytes_received: 4,
                drops: 5,
                rejects: 6,
            },
            mac: [0; MAC_LEN],
        };
        rec.set_host_name("node-a.example");
        let mut block = vec![0u8; 512];
        rec.emit(&mut block);
        let back = StateRecord::parse(&block).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.host_name_str(), "node-a.example");
        block[30] ^= 0x80;
        assert_eq!(StateRecord::parse(&block), Err(FormatError::BadChecksum));
    }

    #[test]
    fn data_block_check_classifies() {
        let header = DataHeader {
            writer_node: 1,
            reader_node: 2,
            epoch: 1,
            seq: 3,
            valid_bytes: 10,
            first_frame: 0,
            ack_epoch: 0,
            ack_seq: 0,
            link_tag: 0xdead_beef,
        };
        let mut block = vec![0u8; 512];
        assert_eq!(DataHeader::check(&block, 448), BlockCheck::Empty);
        header.emit(&mut block);
        block[64..74].copy_from_slice(b"0123456789");
        DataHeader::seal(&mut block);
        assert_eq!(DataHeader::check(&block, 448), BlockCheck::Valid(header));
        block[500] ^= 4;
        assert_eq!(
            DataHeader::check(&block, 448),
            BlockCheck::BadChecksum(header)
        );
    }
}
