//! The man pages and shell completions of `volnic`, generated from the
//! same clap definitions the program parses its command line with
//! ([`crate::cli::command`]), so they cannot describe options it lacks.
//!
//! The Debian package ships them from `tools/packaging/generated/`;
//! regenerate that directory after changing an option or its help text:
//!
//! ```sh
//! cargo run -p volnic-tools --example generate-docs -- tools/packaging/generated
//! ```
//!
//! (`tools/tests/packaging.rs` fails, saying so, while it is out of date.)

use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// Shells whose completions the package ships.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes `out/man/volnic.1` and a page for each subcommand
/// (`volnic-format.1`, ...), and `out/completions/` for bash (`volnic.bash`),
/// zsh (`_volnic`) and fish (`volnic.fish`); returns the files written.
pub fn generate(out: &Path) -> Result<Vec<PathBuf>, String> {
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    // A page for the command and each visible subcommand, `help` left out.
    clap_mangen::generate_to(crate::cli::command(), &man)
        .map_err(|e| format!("writing man pages to {}: {e}", man.display()))?;
    let mut cmd = crate::cli::command();
    for shell in SHELLS {
        clap_complete::generate_to(shell, &mut cmd, "volnic", &completions).map_err(|e| {
            format!(
                "writing {shell} completions to {}: {e}",
                completions.display()
            )
        })?;
    }
    let mut files = Vec::new();
    for dir in [&man, &completions] {
        for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}
