//! The `volnic` subcommands, one module each.

pub mod bench;
pub mod demo;
pub mod format;
pub mod inspect;
pub mod mirror;
