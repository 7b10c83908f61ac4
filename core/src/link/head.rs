//! What a volume's block 0 says it is, as both link halves read it: one
//! end of a two-node link (a version-1 superblock), or one member's region
//! of a segment (a region superblock, docs/FORMAT.md "Segments").
//!
//! A region is read and written like a link volume with three
//! differences, which the halves take from here: its reader is every
//! other member (`reader_node` 0), its state area may span several blocks
//! (the geometry says how many), and it belongs to a segment (its id and
//! member count, which every region it is read beside must share).

use crate::format::{FormatError, Geometry, Superblock};
use crate::segment::{RegionSuperblock, SB_FLAG_SEGMENT};

/// The segment a region belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    pub members: u32,
    pub segment_id: [u8; 16],
}

/// A volume's superblock as the link halves use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeHead {
    /// The version-1 fields: for a region, `writer_node` is its member,
    /// `reader_node` 0, and `flags` only the authenticated bit.
    pub sb: Superblock,
    /// Where the state area and the ring lie.
    pub geo: Geometry,
    /// `Some` for a segment's region.
    pub region: Option<RegionInfo>,
}

impl VolumeHead {
    /// Parses the first [`crate::format::SUPERBLOCK_LEN`] bytes of block 0:
    /// a link volume's superblock, or (its segment flag set) a region's.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        match Superblock::parse(bytes) {
            Ok(sb) => Ok(Self {
                sb,
                geo: sb.geometry(),
                region: None,
            }),
            Err(_) if segment_flagged(bytes) => {
                RegionSuperblock::parse(bytes).map(|r| Self::of_region(&r))
            }
            Err(e) => Err(e),
        }
    }

    /// The head of region `r`.
    pub fn of_region(r: &RegionSuperblock) -> Self {
        let layout = r.layout();
        Self {
            sb: Superblock {
                block_size: r.block_size,
                ring_blocks: r.ring_blocks,
                flags: r.flags,
                link_id: r.link_id,
                writer_node: r.member,
                reader_node: 0,
                formatted_at_ms: r.formatted_at_ms,
            },
            geo: layout.geometry(),
            region: Some(RegionInfo {
                members: r.members,
                segment_id: r.segment_id,
            }),
        }
    }

    /// The 64-bit tag the volume's data blocks carry.
    pub fn link_tag(&self) -> u64 {
        self.sb.link_tag()
    }
}

/// The superblock's flags field has the segment bit (whatever else is
/// wrong with it): such a block 0 is judged as a region's.
fn segment_flagged(bytes: &[u8]) -> bool {
    use crate::format::sb_field::FLAGS;
    bytes
        .get(FLAGS..FLAGS + 4)
        .is_some_and(|f| u32::from_le_bytes([f[0], f[1], f[2], f[3]]) & SB_FLAG_SEGMENT != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SUPERBLOCK_LEN;

    fn region(member: u32) -> RegionSuperblock {
        RegionSuperblock {
            block_size: 512,
            ring_blocks: 8,
            flags: 0,
            link_id: [member as u8; 16],
            member,
            members: 3,
            segment_id: [9; 16],
            formatted_at_ms: 1,
        }
    }

    #[test]
    fn a_region_reads_as_its_member_writing_for_reader_zero_with_its_state_area() {
        let mut b = [0u8; SUPERBLOCK_LEN];
        region(2).emit(&mut b);
        let head = VolumeHead::parse(&b).unwrap();
        assert_eq!((head.sb.writer_node, head.sb.reader_node), (2, 0));
        // 256 + 72 + 24 × 3 = 400 bytes: one 512-byte block, ring at block 2.
        assert_eq!(head.geo.state_blocks, 1);
        assert_eq!(head.geo.ring_start(), 2);
        assert_eq!(
            head.region,
            Some(RegionInfo {
                members: 3,
                segment_id: [9; 16]
            })
        );
        assert!(!head.sb.authenticated());
    }

    #[test]
    fn a_link_superblock_is_no_region_and_a_broken_region_says_why() {
        let sb = Superblock {
            block_size: 512,
            ring_blocks: 8,
            flags: 0,
            link_id: [1; 16],
            writer_node: 1,
            reader_node: 2,
            formatted_at_ms: 0,
        };
        let mut b = [0u8; SUPERBLOCK_LEN];
        sb.emit(&mut b);
        let head = VolumeHead::parse(&b).unwrap();
        assert_eq!((head.sb, head.region), (sb, None));
        // A region whose CRC fails is refused as a region (its error),
        // not as a link volume with an unknown flag.
        let mut b = [0u8; SUPERBLOCK_LEN];
        region(1).emit(&mut b);
        b[crate::segment::rs_field::MEMBERS] = 4;
        assert_eq!(VolumeHead::parse(&b), Err(FormatError::BadChecksum));
    }
}
