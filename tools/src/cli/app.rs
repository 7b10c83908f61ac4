//! The `volnic` command line: the subcommands and their dispatch.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Format(crate::cli::format::FormatArgs),
    /// Decode a volume: superblock, state record, recent blocks.
    Inspect(crate::cli::inspect::InspectArgs),
    /// Run two endpoints on temporary file-backed volumes and report.
    Demo(crate::cli::demo::DemoArgs),
    /// Measure latency, throughput and CPU beside the storage's own limits.
    Bench(crate::cli::bench::BenchArgs),
    /// Run a Linux endpoint: a TAP device carried over the send and receive volumes.
    Up(crate::cli::up::UpArgs),
    /// Is each volume's writer alive? Epoch, last write, acknowledgements.
    Status(crate::cli::status::StatusArgs),
    /// Windows: install, uninstall, list and configure volnic adapters.
    #[command(flatten)]
    Windows(crate::cli::wincfg::WinCommand),
    /// Emulate storage mirroring from SRC (a send volume) to DST (the peer's receive volume).
    Mirror(crate::cli::mirror::MirrorArgs),
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The `volnic` command line: parses the arguments, runs the subcommand,
/// prints a failure as one line on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref());
    let result = match cli.command {
        Command::Format(args) => crate::cli::format::run(args),
        Command::Inspect(args) => crate::cli::inspect::run(args),
        Command::Mirror(args) => crate::cli::mirror::run(args),
        Command::Bench(args) => crate::cli::bench::run(args),
        Command::Demo(args) => crate::cli::demo::run(args),
        Command::Up(args) => crate::cli::up::run(args),
        Command::Status(args) => crate::cli::status::run(args),
        Command::Windows(command) => crate::cli::wincfg::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("volnic: {message}");
            ExitCode::FAILURE
        }
    }
}
