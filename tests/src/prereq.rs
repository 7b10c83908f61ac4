//! The one place a test decides whether this machine can run it: root,
//! the TUN device and iproute2 for the network-namespace tests
//! ([`volnic_tools::netns::unavailable`]), and programs outside volnic
//! that a test drives (python3, corosync, ...).
//!
//! Where something is missing the test prints one line — which test, what
//! is missing, the Debian package that brings it — and passes having done
//! nothing, so `cargo test --workspace` passes on a fresh machine with only
//! Rust. With `VOLNIC_REQUIRE_NETNS=1` (CI, which installs everything) the
//! same line fails the test instead.

pub use volnic_tools::netns::{Program, IP};

/// The Python interpreter (netns_e2e's TCP transfer).
pub const PYTHON3: Program = Program {
    name: "python3",
    package: "python3",
};

/// corosync and its tools (`corosync-cfgtool`, `corosync-quorumtool`).
pub const COROSYNC: Program = Program {
    name: "corosync",
    package: "corosync",
};

/// The `kill` program.
pub const KILL: Program = Program {
    name: "kill",
    package: "procps",
};

/// The environment variable that turns a skip into a failure.
pub const REQUIRE: &str = "VOLNIC_REQUIRE_NETNS";

/// The line a test prints when it skips.
pub fn skip_line(test: &str, why: &str) -> String {
    format!("SKIPPED {test}: {why}")
}

fn ready(test: &str, why: Option<String>) -> bool {
    let Some(why) = why else {
        return true;
    };
    let line = skip_line(test, &why);
    assert!(
        std::env::var_os(REQUIRE).is_none_or(|v| v.is_empty() || v == "0"),
        "{line} — and {REQUIRE} is set, so it must run"
    );
    crate::report_line(&line);
    false
}

/// Whether `test` can run here: it needs network namespaces (root,
/// /dev/net/tun, iproute2) and `programs`. `false` after the skip line.
pub fn netns_ready(test: &str, programs: &[Program]) -> bool {
    let why =
        volnic_tools::netns::unavailable().or_else(|| programs.iter().find_map(Program::missing));
    ready(test, why)
}

/// Whether `test`, which needs only `programs`, can run here. `false` after
/// the skip line.
pub fn programs_ready(test: &str, programs: &[Program]) -> bool {
    ready(test, programs.iter().find_map(Program::missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_its_package_in_one_line() {
        let absent = Program {
            name: "volnic-no-such-program",
            package: "volnic-no-such-package",
        };
        let why = absent.missing().expect("not on PATH");
        assert!(!why.contains('\n'), "{why}");
        assert!(
            why.contains("apt-get install volnic-no-such-package"),
            "{why}"
        );
        assert_eq!(
            Program {
                name: "sh",
                package: "dash"
            }
            .missing(),
            None
        );
        let line = skip_line("t", &why);
        assert!(
            line.starts_with("SKIPPED t: `volnic-no-such-program`"),
            "{line}"
        );
    }
}
