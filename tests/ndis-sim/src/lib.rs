//! Host simulation of NDIS 6 and of the NT kernel services the volnic
//! miniport calls, so the real miniport code runs in tests on Linux.
//!
//! [`Sim`] implements the driver's two seams: `volnic::ndis_api::NdisApi`
//! (in `ndis.rs`, every routine checking its NDIS contract) and
//! `volnic::os::Os` (in `os.rs`, std files, threads and clocks).
//! [`host::SimHost`] drives the driver as NDIS does and fails the test on
//! any contract breach. [`storage`] makes file-backed volume pairs joined by
//! the synchronous mirror of `volnic-tools`.

// NDIS objects handed to the driver live in boxes so that their addresses
// stay fixed while the vectors holding them grow.
#![allow(clippy::vec_box)]

pub mod facts;
pub mod host;
pub mod ndis;
pub mod os;
pub mod storage;

pub use host::{AdapterId, MdlLayout, OidReply, SendFrame, SimHost};
pub use ndis::RegistrationInfo;
pub use ndis::{AllocationFaults, RegValue};

/// The simulated platform the driver is instantiated with in tests.
pub struct Sim;
