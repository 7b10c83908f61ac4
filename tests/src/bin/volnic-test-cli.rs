//! The `volnic` command line, built inside the test package so its system
//! tests (network namespaces, kill -9) can run the very same program through
//! `CARGO_BIN_EXE_volnic-test-cli`.

fn main() -> std::process::ExitCode {
    volnic_tools::cli::main()
}
