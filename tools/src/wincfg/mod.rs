//! Installing and configuring volnic adapters on Windows: every decision,
//! on every platform.
//!
//! What `volnic install`, `uninstall`, `list` and `config` do is decided
//! here, in plain Rust that the Linux tests run: which INF, which hardware
//! ID, the order of the steps, how a `KEY=VALUE` argument is checked against
//! the settings table (`volnic_core::settings`, the same table the driver
//! and the INF follow), which volume paths are accepted, and which registry
//! values a `config set` writes under which key. The Win32 side (SetupAPI,
//! newdev, the registry) sits behind the [`WinSystem`] trait: [`win32`] on
//! Windows, a thin layer of calls and nothing else, and `FakeSystem` in
//! tests, which records every call (built for tests only: the
//! `fake-windows` feature).
//!
//! Where the adapter keeps its settings: the driver key of its device node,
//! `HKLM\SYSTEM\CurrentControlSet\Control\Class\{4d36e972-…}\NNNN`, the same
//! key Device Manager's Advanced tab edits and `NdisOpenConfigurationEx`
//! reads. Every value is stored as REG_SZ, numbers as decimal text, as
//! Device Manager stores them; NDIS converts numbers when the driver reads
//! them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use volnic_core::settings::{self, Kind, Setting};

#[cfg(windows)]
pub mod win32;

/// The hardware ID in `inf/volnic.inx`; `install` creates a root-enumerated
/// device with it.
pub const HARDWARE_ID: &str = "root\\volnic";
/// The network adapter setup class.
pub const NET_CLASS_NAME: &str = "Net";
pub const NET_CLASS_GUID: &str = "{4d36e972-e325-11ce-bfc1-08002be10318}";
/// The stamped INF of the driver package (`cargo make` output).
pub const INF_FILE_NAME: &str = "volnic.inf";
/// Driver keys of network adapters, under HKLM.
pub const CLASS_KEY: &str =
    "SYSTEM\\CurrentControlSet\\Control\\Class\\{4d36e972-e325-11ce-bfc1-08002be10318}";
/// Per-interface network configuration (the connection name), under HKLM.
pub const NETWORK_KEY: &str =
    "SYSTEM\\CurrentControlSet\\Control\\Network\\{4d36e972-e325-11ce-bfc1-08002be10318}";

mod adapter;
mod assignment;
mod describe;
#[cfg(any(test, feature = "fake-windows"))]
mod fake;
mod steps;
mod system;
mod volume_path;

pub use adapter::*;
pub use assignment::*;
pub use describe::*;
#[cfg(any(test, feature = "fake-windows"))]
pub use fake::*;
pub use steps::*;
pub use system::*;
pub use volume_path::*;
