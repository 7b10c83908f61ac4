//! The `volnic` subcommands, one module each.

pub mod mirror;
