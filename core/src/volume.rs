//! The one I/O seam of the engine: a volume is a byte-addressed device that
//! the engine reads and writes in whole blocks.
//!
//! Hosts implement it: the Linux file/block-device volume (`volnic-tools`),
//! the Windows `ZwReadFile`/`ZwWriteFile` volume in the driver, and the
//! in-memory and fault-injecting volumes of the test harness.

use core::fmt;

/// Why a volume operation failed, in the terms an administrator acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeErrorKind {
    /// The path does not exist.
    NotFound,
    /// The caller may not open, read or write the volume.
    PermissionDenied,
    /// The volume is read-only.
    ReadOnly,
    /// No space left to write (a sparse file on a full filesystem).
    NoSpace,
    /// The offset/length lies beyond the end of the volume.
    OutOfRange,
    /// The request was not aligned as the device requires.
    Misaligned,
    /// Any other I/O error, with the host's error code.
    Io,
}

impl VolumeErrorKind {
    /// Whether a volume failing to open or read this way may heal without
    /// a change of configuration: storage not there yet (an iSCSI LUN not
    /// logged in, a mirror target not attached, a file system not mounted),
    /// not yet readable or writable (an offline disk), or failing I/O. Both
    /// hosts wait for such a volume, retrying after
    /// [`STORAGE_RETRY_FIRST_US`], doubling to [`STORAGE_RETRY_MAX_US`];
    /// anything else is a fault of the configuration and is reported as such.
    pub const fn may_heal(self) -> bool {
        matches!(
            self,
            VolumeErrorKind::NotFound
                | VolumeErrorKind::PermissionDenied
                | VolumeErrorKind::ReadOnly
                | VolumeErrorKind::Io
        )
    }
}

/// First wait between two tries to open a volume that is not there yet.
pub const STORAGE_RETRY_FIRST_US: u64 = 250_000;
/// Longest wait between two tries: each failed try doubles the wait, up to
/// this.
pub const STORAGE_RETRY_MAX_US: u64 = 4_000_000;

/// An I/O error from a [`Volume`], with the host's native error code (errno,
/// NTSTATUS) kept for the log; code 0 where no host error lies behind it
/// (an access past the end found by the volume itself), and then the
/// message leaves the code out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeError {
    pub kind: VolumeErrorKind,
    pub code: i64,
}

impl VolumeError {
    pub const fn new(kind: VolumeErrorKind, code: i64) -> Self {
        Self { kind, code }
    }
}

impl fmt::Display for VolumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            VolumeErrorKind::NotFound => "volume not found",
            VolumeErrorKind::PermissionDenied => "permission denied on volume",
            VolumeErrorKind::ReadOnly => "volume is read-only",
            VolumeErrorKind::NoSpace => "no space left on volume",
            VolumeErrorKind::OutOfRange => "access beyond the end of the volume",
            VolumeErrorKind::Misaligned => "misaligned volume access",
            VolumeErrorKind::Io => "volume I/O error",
        };
        // Code 0: the engine's own finding (no OS error behind it).
        match self.code {
            0 => f.write_str(what),
            code => write!(f, "{what} (code {code})"),
        }
    }
}

/// A volume the engine reads and writes with unbuffered I/O.
///
/// Offsets and lengths passed by the engine are always multiples of the
/// volume's block size (itself a multiple of 512), and buffers handed over by
/// the engine are aligned to [`crate::IO_ALIGN`] bytes, so an implementation
/// can pass them straight to `O_DIRECT` / `FILE_NO_INTERMEDIATE_BUFFERING`.
pub trait Volume {
    /// Length of the volume in bytes.
    fn len_bytes(&self) -> u64;
    /// Read exactly `buf.len()` bytes at `offset`, bypassing any cache.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError>;
    /// Write all of `data` at `offset`; when this returns, the data is on
    /// stable storage (write-through).
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError>;
    /// The volume's length asked of the storage afresh, so a writer sees a
    /// file cut short or a device shrunk or gone under it (`NotFound` for a
    /// volume that no longer exists). Hosts that cannot tell report
    /// [`Volume::len_bytes`].
    fn current_len(&mut self) -> Result<u64, VolumeError> {
        Ok(self.len_bytes())
    }
    /// The storage's logical sector size in bytes: the unit of unbuffered
    /// I/O, so the smallest block the volume carries whole. Hosts that
    /// cannot ask report 512; the engine then learns a 4096-byte sector
    /// from a 512-byte read the storage refuses as misaligned.
    fn sector_size(&self) -> u32 {
        512
    }
}

impl<V: Volume + ?Sized> Volume for &mut V {
    fn len_bytes(&self) -> u64 {
        (**self).len_bytes()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        (**self).read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        (**self).write_at(offset, data)
    }
    fn current_len(&mut self) -> Result<u64, VolumeError> {
        (**self).current_len()
    }
    fn sector_size(&self) -> u32 {
        (**self).sector_size()
    }
}

impl<V: Volume + ?Sized> Volume for alloc::boxed::Box<V> {
    fn len_bytes(&self) -> u64 {
        (**self).len_bytes()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        (**self).read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        (**self).write_at(offset, data)
    }
    fn current_len(&mut self) -> Result<u64, VolumeError> {
        (**self).current_len()
    }
    fn sector_size(&self) -> u32 {
        (**self).sector_size()
    }
}

/// A window of a volume: `len` bytes from byte `offset` on, seen as a
/// volume of its own — one member's region of a together-form segment
/// (docs/FORMAT.md, "Segments"), which both link halves read and write
/// as if it were a volume by itself. `offset` is a multiple of the block
/// size, so the engine's alignment holds through the window.
#[derive(Clone, Debug)]
pub struct Window<V> {
    pub inner: V,
    pub offset: u64,
    pub len: u64,
}

impl<V: Volume> Window<V> {
    /// The inner volume's range of `[offset, offset + len)`; access
    /// beyond it is refused as out of range.
    fn range(&self, offset: u64, n: usize) -> Result<u64, VolumeError> {
        let out = || VolumeError::new(VolumeErrorKind::OutOfRange, 0);
        let end = offset.checked_add(n as u64).ok_or_else(out)?;
        if end > self.len {
            return Err(out());
        }
        self.offset.checked_add(offset).ok_or_else(out)
    }
}

impl<V: Volume> Volume for Window<V> {
    fn len_bytes(&self) -> u64 {
        self.len
            .min(self.inner.len_bytes().saturating_sub(self.offset))
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        let at = self.range(offset, buf.len())?;
        self.inner.read_at(at, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        let at = self.range(offset, data.len())?;
        self.inner.write_at(at, data)
    }
    fn current_len(&mut self) -> Result<u64, VolumeError> {
        let whole = self.inner.current_len()?;
        Ok(self.len.min(whole.saturating_sub(self.offset)))
    }
    fn sector_size(&self) -> u32 {
        self.inner.sector_size()
    }
}

/// A volume held in memory: the reference implementation used by unit tests
/// and by hosts that simulate storage.
#[derive(Clone, Debug, Default)]
pub struct MemVolume {
    pub bytes: alloc::vec::Vec<u8>,
}

impl MemVolume {
    pub fn new(len: usize) -> Self {
        Self {
            bytes: alloc::vec![0; len],
        }
    }

    fn range(&self, offset: u64, len: usize) -> Result<core::ops::Range<usize>, VolumeError> {
        let start = usize::try_from(offset)
            .map_err(|_| VolumeError::new(VolumeErrorKind::OutOfRange, 0))?;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(VolumeError::new(VolumeErrorKind::OutOfRange, 0))?;
        Ok(start..end)
    }
}

impl Volume for MemVolume {
    fn len_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        let range = self.range(offset, buf.len())?;
        buf.copy_from_slice(&self.bytes[range]);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        let range = self.range(offset, data.len())?;
        self.bytes[range].copy_from_slice(data);
        Ok(())
    }
}
