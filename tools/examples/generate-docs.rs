//! `cargo run -p volnic-tools --example generate-docs -- DIR`: writes the
//! man pages (DIR/man) and shell completions (DIR/completions) of `volnic`
//! from its clap definitions. The Debian package ships them from
//! `tools/packaging/generated`.

use std::process::ExitCode;

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("generate-docs: the man pages describe the Unix command line; run it on Linux");
    ExitCode::FAILURE
}

#[cfg(unix)]
fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: generate-docs DIR (e.g. tools/packaging/generated)");
        return ExitCode::FAILURE;
    };
    match volnic_tools::cli::docs::generate(dir.as_ref()) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("generate-docs: {e}");
            ExitCode::FAILURE
        }
    }
}
