//! `volnic keygen`: makes a key file for authenticated mode — 32 random
//! bytes written as 64 lowercase hex digits (no newline), in a new file of
//! mode 0600 whatever the umask, refusing to replace an existing file
//! without `--force`. The key is never printed.
//!
//! The secret is the file's exact bytes — here its 64 ASCII hex digits,
//! with no newline — the one key-file rule of every volnic host
//! (`volnic_core::auth::AuthKey::from_key_file`, docs/SECURITY.md), so the
//! same file works on every node, Linux or Windows; copy it to the peer
//! byte for byte over a secure channel (not retyped: an editor's newline
//! makes another key) and keep it mode 0600 there too.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct KeygenArgs {
    /// Key file to create (mode 0600).
    pub path: PathBuf,
    /// Replace an existing file (it is made mode 0600 first).
    #[arg(long)]
    pub force: bool,
}

/// The text of a new key: 32 random bytes as 64 hex digits.
fn new_key_text() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a new key file at `path` (see the module documentation).
pub fn keygen(path: &Path, force: bool) -> Result<(), String> {
    let p = path.display();
    let fail = |e: std::io::Error| format!("key file {p}: {e}");
    let mut options = std::fs::OpenOptions::new();
    options
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW);
    if force {
        options.create(true);
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_file() {
                return Err(format!(
                    "key file {p}: exists and is not a regular file — remove it or choose another path"
                ));
            }
        }
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!("key file {p}: already exists — add --force to replace it (the peer then needs the new one too)")
        }
        _ => fail(e),
    })?;
    // Exactly 0600 before a byte of the key is in it, whatever the umask
    // (or the mode of a file being replaced).
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    file.set_len(0).map_err(fail)?;
    let mut text = new_key_text().into_bytes();
    let written = file.write_all(&text).and_then(|()| file.sync_all());
    // Do not leave the key in freed memory.
    text.fill(0);
    written.map_err(fail)
}

pub fn run(args: KeygenArgs) -> Result<(), String> {
    keygen(&args.path, args.force)?;
    println!(
        "wrote a new key to {} (mode 0600); copy it to the peer over a secure channel",
        args.path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_new_key_is_private_hex_and_readable_as_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        keygen(&path, false).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 64);
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        // The key is the file's 64 bytes as written, as the engine's rule
        // (and so the driver) reads them.
        assert_eq!(
            crate::keyfile::read_key_file(&path).unwrap(),
            volnic_core::auth::AuthKey::from_key_file(text.as_bytes()).unwrap()
        );
        // Two keys differ.
        let other = dir.path().join("k2.key");
        keygen(&other, false).unwrap();
        assert_ne!(std::fs::read(&other).unwrap(), text.as_bytes());
    }

    #[test]
    fn an_existing_file_is_kept_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        std::fs::write(&path, b"keep me").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = keygen(&path, false).unwrap_err();
        assert!(err.contains("--force"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
        keygen(&path, true).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap().len(), 64);
    }
}
