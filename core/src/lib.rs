//! volnic-core: the storage transport engine of volnic.
//!
//! Everything that decides what goes on a volume, and when, lives here and is
//! pure: no I/O of its own (volumes are behind [`Volume`]), no clock of its
//! own (time is passed in, in microseconds of a monotonic clock), no `unsafe`.
//! The Windows miniport and the Linux TAP endpoint are thin hosts around it.
//!
//! Data flows one way through it:
//! frame → [`queue::SendQueue`] → [`packer::Packer`] → block on the send volume
//! → (storage mirror) → receive volume → [`Link::poll`]'s scanner → frame.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod aligned;
pub mod auth;
#[cfg(test)]
mod claim_tests;
pub mod datapath;
#[cfg(test)]
mod datapath_tests;
pub mod format;
pub mod host_config;
pub mod link;
#[cfg(test)]
mod link_tests;
pub mod mac;
pub mod pacer;
pub mod packer;
pub mod queue;
#[cfg(test)]
mod sector_tests;
pub mod segment;
#[cfg(test)]
mod segment_tests;
pub mod settings;
pub mod stats;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod volume;

pub use volume::{MemVolume, Volume, VolumeError, VolumeErrorKind};

/// Alignment of every buffer the engine hands to a [`Volume`] (the largest
/// logical sector size in use, so unbuffered I/O accepts it as is).
pub const IO_ALIGN: usize = 4096;

pub use link::{
    Claimant, Link, LinkConfig, LinkError, LostCause, PeerProblem, PeerState, PollReport,
};
pub use queue::{Pushed, QueueError, SendQueue};
pub use stats::Counters;
