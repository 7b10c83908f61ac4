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

/// Largest key file any host reads, in bytes.
pub const MAX_KEY_FILE: usize = 4096;

/// Why a secret was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Fewer than 16 bytes of secret.
    TooShort(usize),
    /// More than [`MAX_KEY_FILE`] bytes: not a key file.
    TooLong(usize),
}

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyError::TooShort(n) => write!(
                f,
                "the shared secret has {n} bytes; use at least 16 random bytes (e.g. `head -c 32 /dev/urandom`)"
            ),
            KeyError::TooLong(n) => write!(
                f,
                "the key file holds {n} bytes, more than a key file may ({MAX_KEY_FILE}): is it the right file? (`volnic keygen FILE` makes one)"
            ),
        }
    }
}

impl AuthKey {
    /// The key of a key file: **the secret is the file's exact bytes**,
    /// all of them, nothing trimmed or decoded (a trailing newline is part
    /// of the secret), 16 to [`MAX_KEY_FILE`] of them. The one rule every
    /// host applies (docs/FORMAT.md, *Authenticated mode*; docs/SECURITY.md):
    /// the Linux endpoint and the Windows miniport both call this on the
    /// bytes they read. `volnic keygen` writes 64 hex digits and no
    /// newline, and those 64 ASCII bytes are the secret.
    pub fn from_key_file(contents: &[u8]) -> Result<Self, KeyError> {
        if contents.len() > MAX_KEY_FILE {
            return Err(KeyError::TooLong(contents.len()));
        }
        Self::from_secret(contents)
    }

    /// Derives the key from the secret's bytes, as given (see
    /// [`AuthKey::from_key_file`] for where they come from).
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

    /// MAC of a segment member's acknowledgement table: `encoded` is the
    /// table up to its MAC field (`segment::ack_table_mac_at`), bound to
    /// the link id of the member's region.
    pub fn ack_table_mac(&self, link_id: &[u8; 16], encoded: &[u8]) -> [u8; MAC_LEN] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(link_id);
        h.update(encoded);
        *h.finalize().as_bytes()
    }

    /// Checks the MAC of an acknowledgement table of `members` members at
    /// the start of `bytes` (false when `bytes` is too short).
    pub fn verify_ack_table(&self, link_id: &[u8; 16], bytes: &[u8], members: u32) -> bool {
        let mac_at = crate::segment::ack_table_mac_at(members);
        match (bytes.get(..mac_at), bytes.get(mac_at..mac_at + MAC_LEN)) {
            (Some(encoded), Some(mac)) => {
                constant_time_eq(&self.ack_table_mac(link_id, encoded), mac)
            }
            _ => false,
        }
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

    /// A key file's exact bytes are the secret: a trailing newline, space
    /// or CR makes another key (nothing is trimmed), 16 bytes are enough,
    /// 15 are not, whitespace counted; past 4096 bytes it is no key file.
    #[test]
    fn key_file_rule_is_the_exact_bytes() {
        let hex = b"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let key = AuthKey::from_key_file(hex).unwrap();
        assert_eq!(key, AuthKey::from_secret(hex).unwrap());
        for tail in [&b"\n"[..], b"\r\n", b" ", b"\t", b"\x0c"] {
            let mut with = hex.to_vec();
            with.extend_from_slice(tail);
            assert_ne!(AuthKey::from_key_file(&with).unwrap(), key, "{tail:?}");
        }
        let mut spaced = b" ".to_vec();
        spaced.extend_from_slice(hex);
        assert_ne!(AuthKey::from_key_file(&spaced).unwrap(), key);
        assert!(AuthKey::from_key_file(b"0123456789abcde\n").is_ok());
        assert_eq!(
            AuthKey::from_key_file(b"0123456789abcd\n"),
            Err(KeyError::TooShort(15))
        );
        assert!(AuthKey::from_key_file(&[0x20; MAX_KEY_FILE]).is_ok());
        assert_eq!(
            AuthKey::from_key_file(&[0x20; MAX_KEY_FILE + 1]),
            Err(KeyError::TooLong(MAX_KEY_FILE + 1))
        );
    }
}
