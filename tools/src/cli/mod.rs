//! The `volnic` subcommands, one module each.
//!
//! On Unix, `main` is the full command line (`app`); the Windows build of
//! `volnic.exe` has the Windows subcommands only (`wincfg::main`), since the
//! others need Unix file volumes, signals and TAP devices.

#[cfg(unix)]
mod app;
#[cfg(unix)]
pub mod bench;
#[cfg(unix)]
pub mod demo;
#[cfg(unix)]
pub mod docs;
#[cfg(unix)]
pub mod format;
#[cfg(unix)]
pub mod inspect;
#[cfg(unix)]
pub mod keygen;
#[cfg(unix)]
pub mod mirror;
#[cfg(unix)]
pub mod status;
#[cfg(unix)]
pub mod up;
pub mod wincfg;

/// The clap definition of the command line (man pages, completions).
#[cfg(unix)]
pub use app::command;
#[cfg(unix)]
pub use app::{check_command_line, main};
#[cfg(windows)]
pub use wincfg::main;
