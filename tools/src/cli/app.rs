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
    Format(crate::cli::format::FormatCommand),
    /// Decode a volume: superblock, state record, recent blocks.
    Inspect(crate::cli::inspect::InspectArgs),
    /// Run two endpoints on temporary file-backed volumes and report.
    Demo(crate::cli::demo::DemoArgs),
    /// Measure latency, throughput and CPU beside the storage's own limits.
    Bench(crate::cli::bench::BenchArgs),
    /// Make a key file for authenticated mode (mode 0600, 32 random bytes as hex).
    Keygen(crate::cli::keygen::KeygenArgs),
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

/// The range checks of a parsed command line's numeric options (and the
/// other checks that need no I/O beyond reading a settings file), made
/// before the subcommand runs: each failure is one line.
fn validate(command: &Command) -> Result<(), String> {
    use crate::format::check_block_size_option;
    match command {
        Command::Format(c) => c.check().map(drop),
        Command::Inspect(a) => a.check(),
        Command::Demo(a) => check_block_size_option("--block-size", a.block_size).map(drop),
        Command::Bench(a) => a.check(),
        Command::Up(a) => a.settings().map(drop),
        Command::Status(a) => a.check(),
        Command::Mirror(a) => crate::cli::mirror::config(a).map(drop),
        // The Windows subcommands check their values themselves.
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    }
}

/// The first line of a clap error, without its `error: ` prefix: what is
/// wrong with the command line, in one line.
fn clap_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid command line");
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// Parses `argv` (program name first) and makes every check [`main`] makes
/// before running a subcommand, without running it: `Ok` when the command
/// line would run, else the one-line error `volnic` would print. For the
/// property test of every subcommand's options.
pub fn check_command_line<I, T>(argv: I) -> Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(argv).map_err(|e| clap_line(&e))?;
    validate(&cli.command)
}

/// The `volnic` command line: parses the arguments, runs the subcommand,
/// prints a failure as one line on stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // A mistake on the command line: one line, as for any other.
            eprintln!("volnic: {}", clap_line(&e));
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help, --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    init_logging(cli.log.as_deref());
    if let Err(message) = validate(&cli.command) {
        eprintln!("volnic: {message}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Format(args) => crate::cli::format::run(args),
        Command::Inspect(args) => crate::cli::inspect::run(args),
        Command::Mirror(args) => crate::cli::mirror::run(args),
        Command::Bench(args) => crate::cli::bench::run(args),
        Command::Demo(args) => crate::cli::demo::run(args),
        Command::Up(args) => crate::cli::up::run(args),
        Command::Keygen(args) => crate::cli::keygen::run(args),
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

/// The `volnic` command line as clap builds it, for the man pages and shell
/// completions generated from it (`volnic_tools::cli::docs`).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
