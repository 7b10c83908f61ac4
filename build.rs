//! Build script of the driver package.
//!
//! On Windows it hands the build to wdk-build, which finds the WDK, emits the
//! kernel-mode linker flags and makes the cdylib a `.sys`. On every other host
//! it does nothing: there the driver crate is an ordinary library whose
//! portable code (everything but `driver/os/windows.rs` and the thin
//! `driver/windows.rs` glue) builds and runs against the host simulation.
#[cfg(windows)]
fn main() -> Result<(), wdk_build::ConfigError> {
    wdk_build::configure_wdk_binary_build()
}

#[cfg(not(windows))]
fn main() {}
