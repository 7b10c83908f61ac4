//! The `volnic` subcommands, one module each.

pub mod format;
pub mod inspect;
pub mod mirror;
