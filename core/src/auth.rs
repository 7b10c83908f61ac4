//! Authenticated mode: a keyed MAC (keyed BLAKE3, 32 bytes) on every data
//! block and state record, bound to the link identity, so whoever can write
//! the shared storage but does not hold the secret cannot inject frames.
//!
//! The MAC of a data block covers the volume's 16-byte link id, then the whole
//! block except its last 32 bytes (where the MAC sits), with the CRC field
//! taken as zero. Node numbers, epoch and sequence number are in the header,
//! so a block replayed into another run, slot or link fails either the MAC or
//! the sequence checks. The MAC of a state record covers the link id and the
//! record's bytes before its MAC field. Confidentiality is not provided.

use crate::format::{db_field, st_field, MAC_LEN};

/// Context string of the key derivation (fixed for format version 1).
const KEY_CONTEXT: &str = "volnic 2026-11 block authentication key v1";

/// The 32-byte MAC key derived from the configured secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey([u8; 32]);

impl core::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AuthKey(..)")
    }
}

/// Why a secret was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Fewer than 16 bytes of secret.
    TooShort(usize),
}

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyError::TooShort(n) => write!(
                f,
                "the shared secret has {n} bytes; use at least 16 random bytes (e.g. `head -c 32 /dev/urandom`)"
            ),
        }
    }
}

impl AuthKey {
    /// Derives the key from the secret's bytes (a key file's contents, with
    /// surrounding whitespace removed by the host).
    pub fn from_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < 16 {
            return Err(KeyError::TooShort(secret.len()));
        }
        Ok(Self(blake3::derive_key(KEY_CONTEXT, secret)))
    }

    /// MAC of a whole data block (its last [`MAC_LEN`] bytes excluded, the
    /// CRC field taken as zero).
    pub fn block_mac(&self, link_id: &[u8; 16], block: &[u8]) -> [u8; MAC_LEN] {
        let end = block.len() - MAC_LEN;
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(link_id);
        h.update(&block[..db_field::CRC]);
        h.update(&[0; 4]);
        h.update(&block[db_field::CRC + 4..end]);
        *h.finalize().as_bytes()
    }

    /// Writes the MAC into the block's last [`MAC_LEN`] bytes.
    pub fn sign_block(&self, link_id: &[u8; 16], block: &mut [u8]) {
        let mac = self.block_mac(link_id, block);
        let end = block.len();
        block[end - MAC_LEN..].copy_from_slice(&mac);
    }

    /// Checks a data block's MAC.
    pub fn verify_block(&self, link_id: &[u8; 16], block: &[u8]) -> bool {
        let mac = self.block_mac(link_id, block);
        constant_time_eq(&mac, &block[block.len() - MAC_LEN..])
    }

    /// MAC of an encoded state record (bytes before its MAC field).
    pub fn state_mac(&self, link_id: &[u8; 16], record: &[u8]) -> [u8; MAC_LEN] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(link_id);
        h.update(&record[..st_field::MAC]);
        *h.finalize().as_bytes()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn block_mac_detects_any_change_and_another_key() {
        let key = AuthKey::from_secret(b"0123456789abcdef-secret").unwrap();
        let other = AuthKey::from_secret(b"0123456789abcdef-other!").unwrap();
        let link = [5u8; 16];
        let mut block = vec![0u8; 512];
        block[64..80].fill(0x42);
        key.sign_block(&link, &mut block);
        assert!(key.verify_block(&link, &block));
        assert!(!other.verify_block(&link, &block));
        assert!(!key.verify_block(&[6u8; 16], &block), "bound to the link");
        // The CRC field does not take part: sealing after signing is fine.
        block[db_field::CRC] ^= 0xff;
        assert!(key.verify_block(&link, &block));
        block[70] ^= 1;
        assert!(!key.verify_block(&link, &block));
        assert_eq!(AuthKey::from_secret(b"short"), Err(KeyError::TooShort(5)));
    }
}
