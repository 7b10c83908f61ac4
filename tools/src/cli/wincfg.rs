//! `volnic install | uninstall | list | config get|set`: the Windows
//! installer and configurator. The decisions are in `crate::wincfg`; this
//! module parses the command line, runs the steps against a
//! [`WinSystem`] and prints what was done.
//!
//! On Windows the real system is `wincfg::win32::Win32System`, and the
//! `volnic.exe` built there has these subcommands (see [`main`]). Elsewhere
//! the subcommands exist but say that they run on Windows only.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::wincfg::{self, WinSystem};

/// The Windows subcommands, to flatten into the `volnic` command line.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum WinCommand {
    /// Windows: add the driver package to the driver store and create a
    /// volnic adapter (a root-enumerated virtual NIC).
    Install(InstallArgs),
    /// Windows: remove every volnic adapter and the driver package.
    Uninstall(UninstallArgs),
    /// Windows: list volnic adapters, their interface names and settings.
    List(ListArgs),
    /// Windows: show or change an adapter's settings (the values of Device
    /// Manager's Advanced tab).
    Config(ConfigArgs),
}

#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct InstallArgs {
    /// The driver package's volnic.inf (next to volnic.sys and volnic.cat).
    /// Default: volnic.inf beside volnic.exe, then in the current directory.
    #[arg(long)]
    pub inf: Option<PathBuf>,
}

#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct UninstallArgs {}

#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct ListArgs {}

#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum ConfigAction {
    /// Show an adapter's settings: all of them, or the KEYs named.
    Get {
        /// The adapter: its interface name (as Get-NetAdapter shows it) or
        /// its device instance ID.
        name: String,
        keys: Vec<String>,
    },
    /// Change settings and restart the adapter so they take effect. Each
    /// KEY=VALUE is checked against the INF's ranges; KEY= removes an
    /// optional value (numbers then take their default).
    Set {
        /// The adapter: its interface name or device instance ID.
        name: String,
        #[arg(required = true, value_name = "KEY=VALUE")]
        assignments: Vec<String>,
    },
}

/// Runs a Windows subcommand on this machine.
pub fn run(command: WinCommand) -> Result<(), String> {
    #[cfg(windows)]
    {
        let mut system = wincfg::win32::Win32System;
        run_with(command, &mut system, &mut std::io::stdout())
    }
    #[cfg(not(windows))]
    {
        let _ = command;
        Err("install, uninstall, list and config manage the Windows driver and run on Windows only (on Linux, `volnic up` runs an endpoint)".into())
    }
}

fn print(out: &mut dyn Write, text: &str) -> Result<(), String> {
    out.write_all(text.as_bytes())
        .map_err(|e| format!("writing the output: {e}"))
}

/// Runs a Windows subcommand against `system`, printing to `out`.
pub fn run_with(
    command: WinCommand,
    system: &mut dyn WinSystem,
    out: &mut dyn Write,
) -> Result<(), String> {
    match command {
        WinCommand::Install(args) => {
            let exe_dir = std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(PathBuf::from));
            let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
            let inf = wincfg::find_inf(args.inf.as_deref(), exe_dir.as_deref(), &cwd)?;
            let outcome = wincfg::run_steps(system, &wincfg::install_steps(&inf))?;
            let mut text = String::new();
            for line in &outcome.done {
                text.push_str(line);
                text.push('\n');
            }
            if let Some(id) = &outcome.created {
                text.push_str(&format!(
                    "volnic adapter {id} installed. Format both volumes (volnic format), then set them:\n  volnic config set {id} SendVolume=D:\\volnic\\a.vol ReceiveVolume=D:\\volnic\\b.vol NodeId=1\n"
                ));
            }
            if outcome.reboot {
                text.push_str("Windows asks for a reboot to finish.\n");
            }
            print(out, &text)
        }
        WinCommand::Uninstall(_) => {
            let adapters = system.adapters()?;
            if adapters.is_empty() {
                return print(out, "no volnic adapter is installed; nothing to do\n");
            }
            let outcome = wincfg::run_steps(system, &wincfg::uninstall_steps(&adapters))?;
            let mut text = outcome.done.join("\n");
            text.push('\n');
            if outcome.reboot {
                text.push_str("Windows asks for a reboot to finish.\n");
            }
            print(out, &text)
        }
        WinCommand::List(_) => {
            let adapters = system.adapters()?;
            if adapters.is_empty() {
                return print(
                    out,
                    "no volnic adapter is installed (volnic install adds one)\n",
                );
            }
            let mut text = String::new();
            for adapter in &adapters {
                let values = match wincfg::driver_key(&adapter.driver) {
                    Ok(key) => Some(system.read_values(&key)?),
                    Err(_) => None,
                };
                text.push_str(&wincfg::describe_adapter(adapter, values.as_ref()));
            }
            print(out, &text)
        }
        WinCommand::Config(ConfigArgs { action }) => match action {
            ConfigAction::Get { name, keys } => {
                let adapters = system.adapters()?;
                let adapter = wincfg::select_adapter(&adapters, &name)?;
                let key = wincfg::driver_key(&adapter.driver)?;
                let values = system.read_values(&key)?;
                let mut text = String::new();
                for (name, shown) in wincfg::describe_settings(&values, &keys)? {
                    text.push_str(&format!("{name:<15} {shown}\n"));
                }
                print(out, &text)
            }
            ConfigAction::Set { name, assignments } => {
                let adapters = system.adapters()?;
                let adapter = wincfg::select_adapter(&adapters, &name)?.clone();
                let key = wincfg::driver_key(&adapter.driver)?;
                let current = system.read_values(&key)?;
                let plan = wincfg::plan_config_set(&key, &current, &assignments)?;
                let outcome =
                    wincfg::run_steps(system, &wincfg::config_set_steps(&adapter, &plan))?;
                let mut text = outcome.done.join("\n");
                text.push('\n');
                for note in &plan.notes {
                    text.push_str(note);
                    text.push('\n');
                }
                if outcome.reboot {
                    text.push_str("Windows asks for a reboot for the change to take effect.\n");
                }
                print(out, &text)
            }
        },
    }
}

/// The `volnic` command line of the Windows build: the Windows subcommands.
/// (The Linux-only subcommands, which need O_DIRECT file volumes, signals
/// and TAP devices, are not built for Windows.)
#[derive(Parser, Debug)]
#[command(
    name = "volnic",
    version,
    about = "volnic: a virtual Ethernet adapter whose wire is storage (Windows installer and configurator)"
)]
pub struct WinCli {
    #[command(subcommand)]
    pub command: WinCommand,
}

/// `main` of `volnic.exe`: parses the arguments, runs the subcommand,
/// prints a failure as one line on stderr.
pub fn main() -> ExitCode {
    let cli = WinCli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("volnic: {message}");
            ExitCode::FAILURE
        }
    }
}
