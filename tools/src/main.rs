//! `volnic`: format and inspect volumes, emulate a storage mirror, run a
//! Linux endpoint, benchmark, demo. The command line itself lives in the
//! library (`volnic_tools::cli::main`) so test crates can build the same
//! program.

fn main() -> std::process::ExitCode {
    volnic_tools::cli::main()
}
