//! [`SyncMirror`]: in-process synchronous mirroring; a write returns once
//! it is on both sides, and a cut link is resynchronised on resume.

#[allow(unused_imports)]
use super::*;

/// A [`Volume`] that mirrors every write synchronously: to the primary, then
/// to the secondary, before returning. Reads come from the primary.
///
/// [`cut`](Self::cut) breaks the link: writes then reach only the primary and
/// their ranges are tracked. [`resume`](Self::resume) re-copies them and
/// mirrors synchronously again. A failed secondary write cuts the link the
/// same way (the primary write stands, as with SRDF/S without domino mode or
/// a DRBD primary whose peer went away) and is reported by
/// [`last_error`](Self::last_error).
pub struct SyncMirror<P: Volume, S: Volume> {
    primary: P,
    secondary: S,
    cut: bool,
    dirty: DirtyRanges,
    last_error: Option<VolumeError>,
}

impl<P: Volume, S: Volume> SyncMirror<P, S> {
    /// Mirrors `primary` onto `secondary`, which must be at least as large.
    /// The two are assumed equal to start with.
    pub fn new(primary: P, secondary: S) -> Result<Self, MirrorError> {
        check_sizes(&primary, &secondary)?;
        Ok(Self {
            primary,
            secondary,
            cut: false,
            dirty: DirtyRanges::default(),
            last_error: None,
        })
    }

    /// Breaks the link: later writes reach only the primary.
    pub fn cut(&mut self) {
        self.cut = true;
    }

    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// Ranges written while cut and not yet re-copied.
    pub fn dirty(&self) -> &DirtyRanges {
        &self.dirty
    }

    /// The secondary write error that cut the link, if one did.
    pub fn last_error(&self) -> Option<VolumeError> {
        self.last_error
    }

    /// Re-copies everything written while cut, then mirrors synchronously
    /// again. Returns the bytes copied. On error the link stays cut and the
    /// ranges not yet copied stay dirty.
    pub fn resume(&mut self) -> Result<u64, MirrorError> {
        let mut buf = AlignedBuf::new(COPY_CHUNK as usize);
        let mut copied = 0;
        while let Some(range) = self.dirty.remove_first() {
            if let Err((at, err, reading)) =
                copy_range(&mut self.primary, &mut self.secondary, range, &mut buf)
            {
                self.dirty.insert(at, range.1);
                let name = if reading { "primary" } else { "secondary" };
                return Err(io_err(name)(err));
            }
            copied += range.1 - range.0;
        }
        self.cut = false;
        self.last_error = None;
        Ok(copied)
    }

    pub fn primary(&self) -> &P {
        &self.primary
    }

    pub fn primary_mut(&mut self) -> &mut P {
        &mut self.primary
    }

    pub fn secondary(&self) -> &S {
        &self.secondary
    }

    pub fn secondary_mut(&mut self) -> &mut S {
        &mut self.secondary
    }

    pub fn into_inner(self) -> (P, S) {
        (self.primary, self.secondary)
    }
}

pub(super) fn check_sizes<P: Volume + ?Sized, S: Volume + ?Sized>(
    primary: &P,
    secondary: &S,
) -> Result<(), MirrorError> {
    if secondary.len_bytes() < primary.len_bytes() {
        return Err(MirrorError::DestinationTooSmall {
            src: "primary".into(),
            dst: "secondary".into(),
            dst_len: secondary.len_bytes(),
            need: primary.len_bytes(),
        });
    }
    Ok(())
}

impl<P: Volume, S: Volume> Volume for SyncMirror<P, S> {
    fn len_bytes(&self) -> u64 {
        self.primary.len_bytes()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        self.primary.read_at(offset, buf)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        self.primary.write_at(offset, data)?;
        if self.cut {
            self.dirty.insert_len(offset, data.len());
            return Ok(());
        }
        if let Err(e) = self.secondary.write_at(offset, data) {
            tracing::warn!(
                "sync mirror: secondary write at {offset} failed ({e}); link cut, tracking changes until resume()"
            );
            self.cut = true;
            self.last_error = Some(e);
            self.dirty.insert_len(offset, data.len());
        }
        Ok(())
    }
}
