//! The README's main job, `volnic demo` with no arguments, run by a user
//! without root: it makes its volumes in the default temporary directory,
//! reports a working link and removes what it made. As root (CI) the very
//! same program runs as `nobody`; as another user, as that user.

use std::path::Path;
use std::process::Command;

use volnic_tests::unprivileged::{euid, is_root, Program, NOBODY};

/// Entries of `/var/tmp` (the demo's default) owned by `uid` named as the
/// demo names its directory: `volnic-` and six random characters.
fn demo_leftovers(uid: u32) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir("/var/tmp") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("volnic-").is_some_and(|rest| {
                rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric())
            })
        })
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn demo_without_arguments_runs_without_root() {
    let binary = Path::new(env!("CARGO_BIN_EXE_volnic-test-cli"));
    let program = is_root().then(|| Program::copy_of(binary));
    let (mut cmd, uid) = match &program {
        Some(program) => (program.as_nobody(), NOBODY),
        None => (Command::new(binary), euid()),
    };
    let before = demo_leftovers(uid);
    let out = cmd.arg("demo").output().expect("run volnic demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "volnic demo as uid {uid} failed:\n{stdout}\n{stderr}"
    );
    volnic_tests::report!("{stdout}");
    let line = |label: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"))
            .to_owned()
    };
    line("disk ");
    assert!(line("heartbeats ").contains(" 0 lost"), "{stdout}");
    line("bulk ");
    let link = line("link ");
    assert!(link.contains("up during the run"), "{link}");
    assert!(link.contains("rejected blocks 0"), "{link}");
    assert_eq!(
        demo_leftovers(uid),
        before,
        "the demo left its temporary volumes behind"
    );
}
