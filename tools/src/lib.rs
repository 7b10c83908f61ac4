//! Std hosts of the volnic engine: file and block-device volumes, the storage
//! mirror emulator, and the command-line tool's subcommands.
//!
//! The file volumes, the mirror, the TAP endpoint and the namespace
//! laboratory use O_DIRECT, POSIX signals and Linux devices: they are built
//! on Unix only. The Windows installer and configurator (`wincfg`) is built
//! everywhere, so its decisions are tested on Linux and its Win32 layer
//! compiles on Windows.

#[cfg(unix)]
pub mod bench;
pub mod cli;
#[cfg(unix)]
pub mod endpoint;
#[cfg(unix)]
pub mod filevol;
#[cfg(unix)]
pub mod format;
pub mod generated;
#[cfg(unix)]
pub mod inspect;
#[cfg(unix)]
pub mod keyfile;
#[cfg(unix)]
pub mod mirror;
#[cfg(unix)]
pub mod netns;
#[cfg(unix)]
pub mod notify;
#[cfg(unix)]
pub mod probe;
#[cfg(unix)]
pub mod tap;
pub mod wincfg;
