//! The part of wdk-build's API that the build scripts of wdk 0.5 and
//! wdk-panic 0.5 call, for the Linux cross build: read the driver model
//! from `[package.metadata.wdk.driver-model] driver-type` of the top-level
//! manifest (the `Cargo.toml` beside the nearest `Cargo.lock` above
//! `OUT_DIR`, as wdk-build finds it) and emit it as the cfg
//! `driver_model__driver_type`, with its check-cfg.

use std::fmt;
use std::path::{Path, PathBuf};

/// The driver models wdk-build knows.
const DRIVER_TYPES: [&str; 3] = ["WDM", "KMDF", "UMDF"];

/// Why the driver model could not be read.
#[derive(Debug)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn top_level_manifest() -> Result<PathBuf, ConfigError> {
    let out_dir = std::env::var("OUT_DIR")
        .map_err(|_| ConfigError("OUT_DIR is not set: not run by cargo".into()))?;
    Path::new(&out_dir)
        .ancestors()
        .find(|p| p.join("Cargo.lock").exists())
        .map(|p| p.join("Cargo.toml"))
        .ok_or_else(|| ConfigError(format!("no Cargo.lock above {out_dir}")))
}

fn driver_type(manifest: &Path) -> Result<Option<String>, ConfigError> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| ConfigError(format!("{}: {e}", manifest.display())))?;
    let value: toml::Table = text
        .parse()
        .map_err(|e| ConfigError(format!("{}: {e}", manifest.display())))?;
    Ok(value
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("wdk"))
        .and_then(|w| w.get("driver-model"))
        .and_then(|d| d.get("driver-type"))
        .and_then(|t| t.as_str())
        .map(str::to_string))
}

/// Emits `driver_model__driver_type="<type>"` (and its check-cfg) from the
/// top-level manifest; only the check-cfg when it declares no driver model.
///
/// # Errors
/// The manifest cannot be found or read, or names an unknown driver type.
pub fn configure_wdk_library_build() -> Result<(), ConfigError> {
    let manifest = top_level_manifest()?;
    println!("cargo:rerun-if-changed={}", manifest.display());
    let values: Vec<String> = DRIVER_TYPES.iter().map(|t| format!("\"{t}\"")).collect();
    println!(
        "cargo::rustc-check-cfg=cfg(driver_model__driver_type, values({}))",
        values.join(",")
    );
    match driver_type(&manifest)? {
        Some(t) if DRIVER_TYPES.contains(&t.as_str()) => {
            println!("cargo::rustc-cfg=driver_model__driver_type=\"{t}\"");
            Ok(())
        }
        Some(t) => Err(ConfigError(format!(
            "{}: unknown driver-type {t:?}",
            manifest.display()
        ))),
        None => Ok(()),
    }
}
