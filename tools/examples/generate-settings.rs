//! `cargo run -p volnic-tools --example generate-settings`: rewrites the
//! text generated from the settings table (`core/src/settings.rs`): the
//! `Ndi\params` entries and labels in `inf/volnic.inx` and the
//! configuration table in README.md, between their marker lines. Run it
//! after changing the table; a test fails until you do.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    match volnic_tools::generated::write(root) {
        Ok(changed) => {
            for f in &changed {
                println!("rewrote {}", f.display());
            }
            if changed.is_empty() {
                println!("the generated text is current");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("generate-settings: {e}");
            ExitCode::FAILURE
        }
    }
}
