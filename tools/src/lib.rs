//! Std hosts of the volnic engine: file and block-device volumes, the storage
//! mirror emulator, and the command-line tool's subcommands.

pub mod cli;
pub mod filevol;
pub mod mirror;
pub mod netns;
pub mod pair;
pub mod tap;
