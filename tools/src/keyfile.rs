//! Reading the shared secret of authenticated mode from a key file, guarded:
//! only a regular file of at most [`MAX_KEY_FILE`] bytes that no one but its
//! owner may read or write is read, with a bounded read; a FIFO, a device or
//! a directory is refused from its metadata, before it is opened, and the
//! open itself never blocks (`O_NONBLOCK`), so `--key-file /dev/zero` or a
//! FIFO cannot exhaust memory or hang the endpoint. The secret never leaves
//! this module except as the derived [`AuthKey`], whose `Debug` hides it;
//! no message quotes a byte of the file.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use volnic_core::auth::AuthKey;

/// Largest key file read (a secret is at least 16 bytes; `volnic keygen`-style
/// secrets are 32 bytes or 64 hex digits). The Windows driver reads at most
/// as many.
pub const MAX_KEY_FILE: u64 = 4096;

/// Why a key file was refused (without its contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileProblem {
    /// Not a regular file: what it is instead.
    NotRegular(&'static str),
    /// Larger than [`MAX_KEY_FILE`].
    TooLarge(u64),
    /// Group or other users may read or write it: its permission bits.
    TooOpen(u32),
}

/// What kind of file `meta` describes, for the message.
fn kind_of(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// The checks on a key file's metadata: a regular file, bounded in size,
/// accessible by its owner only.
pub fn check_key_metadata(meta: &Metadata) -> Result<(), KeyFileProblem> {
    if !meta.file_type().is_file() {
        return Err(KeyFileProblem::NotRegular(kind_of(meta)));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(KeyFileProblem::TooLarge(meta.len()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileProblem::TooOpen(mode));
    }
    Ok(())
}

fn describe(path: &Path, problem: &KeyFileProblem) -> String {
    let p = path.display();
    match problem {
        KeyFileProblem::NotRegular(kind) => format!(
            "key file {p}: is {kind}, not a regular file — give the path of a regular file holding the shared secret"
        ),
        KeyFileProblem::TooLarge(len) => format!(
            "key file {p}: holds {len} bytes, more than a key file may ({MAX_KEY_FILE}) — is it the right file? A secret of 32 random bytes is enough"
        ),
        KeyFileProblem::TooOpen(mode) => format!(
            "key file {p}: mode {mode:04o} lets other users read or write the shared secret — restrict it with `chmod 600 {p}` (and check its owner)"
        ),
    }
}

/// Opens a key file for reading without blocking (a FIFO whose writer never
/// comes would block a plain open) and without becoming its controlling
/// terminal.
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Reads the secret's bytes from `path` under the rules above.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let p = path.display();
    let io = |e: std::io::Error| match e.raw_os_error() {
        Some(libc::ENOENT) => {
            format!("key file {p}: not found — check the path (the same key file on both nodes)")
        }
        Some(libc::EACCES | libc::EPERM) => {
            format!("key file {p}: permission denied — run as the user who owns it (mode 600)")
        }
        _ => format!("key file {p}: {e}"),
    };
    // Refuse what is not a regular file before opening it at all: opening a
    // device can have side effects, and reading one may never end.
    let meta = std::fs::metadata(path).map_err(io)?;
    check_key_metadata(&meta).map_err(|problem| describe(path, &problem))?;
    let file = open_nonblocking(path).map_err(io)?;
    // The file opened may not be the one looked at (a rename in between):
    // check what was opened, then read at most one byte more than allowed.
    let meta = file.metadata().map_err(io)?;
    check_key_metadata(&meta).map_err(|problem| describe(path, &problem))?;
    let mut secret = Vec::with_capacity(MAX_KEY_FILE as usize + 1);
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut secret)
        .map_err(io)?;
    if secret.len() as u64 > MAX_KEY_FILE {
        return Err(describe(
            path,
            &KeyFileProblem::TooLarge(secret.len() as u64),
        ));
    }
    Ok(secret)
}

/// Reads the shared secret of authenticated mode and derives the key. The
/// secret is the file's exact bytes, nothing trimmed
/// ([`AuthKey::from_key_file`], the rule the Windows driver applies too):
/// a newline at the end is part of it.
pub fn read_key_file(path: &Path) -> Result<AuthKey, String> {
    let secret = read_secret(path)?;
    // The one key-file rule, in the engine: the file's exact bytes.
    let result =
        AuthKey::from_key_file(&secret).map_err(|e| format!("key file {}: {e}", path.display()));
    // Do not leave the secret in freed memory longer than needed.
    let mut secret = secret;
    secret.iter_mut().for_each(|b| *b = 0);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write_key(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn private_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_key(dir.path(), "k", b"0123456789abcdef-secret\n", 0o600);
        let key = read_key_file(&path).unwrap();
        // The exact bytes, the newline included (docs/SECURITY.md).
        assert_eq!(
            key,
            AuthKey::from_secret(b"0123456789abcdef-secret\n").unwrap()
        );
        assert_ne!(
            key,
            AuthKey::from_secret(b"0123456789abcdef-secret").unwrap()
        );
        assert_eq!(format!("{key:?}"), "AuthKey(..)");
        let path = write_key(dir.path(), "r", b"0123456789abcdef-secret", 0o400);
        assert!(read_key_file(&path).is_ok());
    }

    #[test]
    fn group_or_other_access_is_refused_with_the_chmod() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o666, 0o660] {
            let path = write_key(dir.path(), "k", b"0123456789abcdef-secret", mode);
            let err = read_key_file(&path).unwrap_err();
            assert!(
                err.contains(&format!("chmod 600 {}", path.display())),
                "{mode:o}: {err}"
            );
            assert!(err.contains(&format!("{mode:04o}")), "{err}");
            assert!(
                !err.contains("abcdef"),
                "no key material in messages: {err}"
            );
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn too_large_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_key(dir.path(), "big", &[7u8; 5000], 0o600);
        let err = read_key_file(&path).unwrap_err();
        assert!(err.contains("5000 bytes"), "{err}");
        let path = write_key(dir.path(), "edge", &[7u8; 4096], 0o600);
        assert!(read_key_file(&path).is_ok());
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_key_file(Path::new("/dev/zero")).unwrap_err();
        assert!(err.contains("character device"), "{err}");
        let err = read_key_file(dir.path()).unwrap_err();
        assert!(err.contains("a directory"), "{err}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo");
        let start = std::time::Instant::now();
        let err = read_key_file(&fifo).unwrap_err();
        assert!(err.contains("FIFO"), "{err}");
        // A functional bound: refusing it took no wait for a writer.
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_key_file(Path::new("/nonexistent/volnic.key")).unwrap_err();
        assert!(
            err.starts_with("key file /nonexistent/volnic.key: not found"),
            "{err}"
        );
    }
}
