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
        let storage = vec![0u8; len + IO_ALIGN];
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
        }
    }
}
