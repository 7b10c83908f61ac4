//! The `volnic` subcommands, one module each.

mod app;
pub mod bench;
pub mod demo;
pub mod format;
pub mod inspect;
pub mod mirror;
pub mod status;
pub mod up;

pub use app::main;
