//! Block buffers aligned for unbuffered I/O, without `unsafe`: over-allocate
//! and use the aligned window.

use alloc::vec;
use alloc::vec::Vec;

use crate::IO_ALIGN;

/// A zeroed byte buffer whose start is aligned to [`IO_ALIGN`].
#[derive(Debug)]
pub struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    pub fn new(len: usize) -> Self {
        Self::over(vec![0u8; len + IO_ALIGN], len)
    }

    /// As [`AlignedBuf::new`], but `None` where the memory cannot be had:
    /// buffers sized by what a volume says are made this way in a kernel,
    /// where a failed allocation must be an error, never an abort.
    pub fn try_new(len: usize) -> Option<Self> {
        let total = len.checked_add(IO_ALIGN)?;
        let mut storage = Vec::new();
        storage.try_reserve_exact(total).ok()?;
        storage.resize(total, 0);
        Some(Self::over(storage, len))
    }

    fn over(storage: Vec<u8>, len: usize) -> Self {
        let misalign = storage.as_ptr() as usize % IO_ALIGN;
        let start = (IO_ALIGN - misalign) % IO_ALIGN;
        Self {
            storage,
            start,
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_aligned() {
        for len in [1, 512, 4096, 65536] {
            let b = AlignedBuf::new(len);
            assert_eq!(b.as_slice().as_ptr() as usize % IO_ALIGN, 0);
            assert_eq!(b.len(), len);
            let t = AlignedBuf::try_new(len).unwrap();
            assert_eq!(t.as_slice().as_ptr() as usize % IO_ALIGN, 0);
            assert_eq!(t.len(), len);
        }
        assert!(AlignedBuf::try_new(usize::MAX / 2).is_none());
        assert!(AlignedBuf::try_new(usize::MAX).is_none());
    }
}
