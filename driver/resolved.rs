//! The kernel routines the driver finds at run time with
//! `MmGetSystemRoutineAddress` instead of importing them: the one list, read
//! by `driver/os/windows.rs` (which resolves them in `DriverEntry`) and by
//! the image test `tests/tests/cross_image.rs` (which checks that the image
//! does not import them and excludes them from its import checks).
//!
//! Both exist on every Windows the INF offers (Windows 8.1 / Server 2012 R2
//! and later). They are resolved rather than imported because mingw-w64's
//! headers and import libraries, which the Linux cross build links against,
//! lack them; a kernel that lacked them would have DriverEntry fail with a
//! logged reason instead of the load failing.

/// `KeQueryInterruptTimePrecise` (monotonic clock) and
/// `KeQuerySystemTimePrecise` (wall clock), in the order
/// `driver/os/windows.rs` keeps their addresses.
pub const RESOLVED_AT_RUN_TIME: [&str; 2] =
    ["KeQueryInterruptTimePrecise", "KeQuerySystemTimePrecise"];

/// The lowest Windows build the driver is for: 17763, Windows Server 2019
/// (Windows 10 1809). The INF offers the driver from this build on, and
/// nothing the image imports may need a newer one.
pub const LOWEST_WINDOWS_BUILD: u32 = 17763;
