//! volnic NDIS 6 miniport driver: a virtual Ethernet adapter whose wire is
//! storage. It hosts the `volnic-core` engine; everything it decides about
//! the volume format lives there.
//!
//! One file per concern (like netvmini): `entry` (DriverEntry,
//! characteristics, Unload), `deferred` (the work left for Unload),
//! `adapter` (initialize/halt/pause/restart and the other NDIS entries),
//! `registry` (the adapter's registry values), `config` (the settings'
//! rules), `startup` (opening the link on the datapath thread, waiting for
//! storage), `datapath/` (the send path, the receive path, the thread,
//! statistics and trace, around the adapter's state), `oid` (answers),
//! `eventlog` (the system event log), `ndis` (the NDIS declarations, with
//! their x64 layout assertions). NDIS is reached through
//! [`ndis_api::NdisApi`] and the kernel through [`os::Os`]; on Windows both
//! are the thin `windows` layer, in tests the `volnic-ndis-sim` crate.
//!
//! On Windows the crate is `no_std` (kernel); elsewhere it links std only so
//! that its cdylib target links as an ordinary shared library (std supplies
//! the allocator and panic handler there; no NDIS symbol is referenced).
#![cfg_attr(all(windows, not(test)), no_std)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(clippy::multiple_unsafe_ops_per_block)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod adapter;
pub mod config;
pub mod datapath;
mod deferred;
pub mod entry;
pub mod eventlog;
pub mod ndis;
pub mod ndis_api;
pub mod oid;
pub mod os;
pub mod registry;
pub mod resolved;
pub mod startup;
#[cfg(windows)]
mod windows;

pub use volnic_core as core_engine;
