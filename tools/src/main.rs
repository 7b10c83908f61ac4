//! `volnic`: format and inspect volumes, emulate a storage mirror, run a
//! Linux endpoint, benchmark, demo.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use volnic_tools::cli;

#[derive(Parser, Debug)]
#[command(
    name = "volnic",
    version,
    about = "volnic: a virtual Ethernet adapter whose wire is storage"
)]
struct Cli {
    /// Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`.
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Format a file or block device as a volnic volume.
    Format(cli::format::FormatArgs),
    /// Decode a volume: superblock, state record, recent blocks.
    Inspect(cli::inspect::InspectArgs),
    /// Run two endpoints on temporary file-backed volumes and report.
    Demo(cli::demo::DemoArgs),
    /// Measure latency, throughput and CPU beside the storage's own limits.
    Bench(cli::bench::BenchArgs),
    /// Emulate storage mirroring from SRC (a send volume) to DST (the peer's receive volume).
    Mirror(cli::mirror::MirrorArgs),
}

fn init_logging(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref());
    let result = match cli.command {
        Command::Format(args) => cli::format::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Mirror(args) => cli::mirror::run(args),
        Command::Bench(args) => cli::bench::run(args),
        Command::Demo(args) => cli::demo::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("volnic: {message}");
            ExitCode::FAILURE
        }
    }
}
