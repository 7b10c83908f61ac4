//! Running a test's program as an unprivileged user (`nobody`) when the
//! tests run as root, as CI does: root ignores file modes, so what a normal
//! user meets (permission denied, the README's commands without root) is
//! only seen this way.
//!
//! The checkout may sit where `nobody` cannot reach (under `/root`, mode
//! 0700), so the program is copied to a directory of its own that every
//! user may enter, and the files such a test uses live in another.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// uid and gid of `nobody` on Debian.
pub const NOBODY: u32 = 65534;

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Is this process root?
pub fn is_root() -> bool {
    euid() == 0
}

/// A new directory that every user may enter and read (mode 0755), in
/// `/var/tmp` (a disk file system, so `O_DIRECT` works) or the system
/// temporary directory; removed when dropped.
pub fn shared_dir(prefix: &str) -> tempfile::TempDir {
    let base = if Path::new("/var/tmp").is_dir() {
        PathBuf::from("/var/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base)
        .expect("temporary directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod the temporary directory");
    dir
}

/// A program copied where any user may run it.
pub struct Program {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Program {
    /// Copies `binary` into a directory of its own that any user may enter.
    pub fn copy_of(binary: &Path) -> Self {
        let dir = shared_dir("volnic-bin-");
        let path = dir.path().join(binary.file_name().expect("a program file"));
        std::fs::copy(binary, &path).expect("copy the program");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the program");
        Self { dir, path }
    }

    /// The command to run the copy as `nobody`, with no environment but a
    /// `PATH`, as a login would give.
    pub fn as_nobody(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .current_dir(self.dir.path())
            .uid(NOBODY)
            .gid(NOBODY);
        cmd
    }
}
