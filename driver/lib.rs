//! volnic NDIS 6 miniport driver (placeholder until the driver issue lands).
//!
//! The driver hosts the `volnic-core` engine; everything it decides about the
//! volume format lives there.
#![cfg_attr(not(test), no_std)]

pub use volnic_core as core_engine;
