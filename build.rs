//! Build script of the driver package. On Windows it will hand the build to
//! wdk-build (driver issue); on every other host it does nothing, so the
//! driver's portable code builds and tests with plain cargo.
fn main() {}
