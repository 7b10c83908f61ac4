//! The Debian package's inputs: the man pages and shell completions in
//! tools/packaging/generated are what the command line's clap definitions
//! generate now, and every file `[package.metadata.deb]` packages exists
//! (but the release binary, which `cargo deb` builds).
#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const GENERATED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/generated");
const REGENERATE: &str =
    "cargo run -p volnic-tools --example generate-docs -- tools/packaging/generated";

/// Relative path → contents of every file under `dir`.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn the_packaged_man_pages_and_completions_match_the_command_line() {
    let fresh = tempfile::tempdir().unwrap();
    let written = volnic_tools::cli::docs::generate(fresh.path()).expect("generate");
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for page in [
        "volnic.1",
        "volnic-up.1",
        "volnic-format.1",
        "volnic-demo.1",
    ] {
        assert!(names.iter().any(|n| n == page), "no {page} in {names:?}");
    }
    for completion in ["volnic.bash", "_volnic", "volnic.fish"] {
        assert!(names.iter().any(|n| n == completion), "no {completion}");
    }
    assert!(
        !names.iter().any(|n| n.contains("-help")),
        "a man page for `help`: {names:?}"
    );
    let up = std::fs::read_to_string(fresh.path().join("man/volnic-up.1")).unwrap();
    assert!(
        up.contains("\\-\\-send") && up.contains("\\-\\-config"),
        "{up}"
    );

    let want = tree(fresh.path());
    let have = tree(Path::new(GENERATED));
    let stale: Vec<_> = want
        .keys()
        .chain(have.keys())
        .filter(|k| want.get(*k) != have.get(*k))
        .map(|k| k.display().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        stale.is_empty(),
        "tools/packaging/generated is out of date with the command line ({}): run `{REGENERATE}` and commit it",
        stale.join(", ")
    );
}

#[test]
fn every_file_the_package_lists_exists() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Table = std::fs::read_to_string(dir.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    assert_eq!(deb["name"].as_str(), Some("volnic"));
    let assets = deb["assets"].as_array().expect("assets");
    let mut targets = Vec::new();
    for asset in assets {
        let [source, target, mode] = asset.as_array().unwrap().as_slice() else {
            panic!("asset {asset} is not [source, target, mode]");
        };
        let (source, target) = (source.as_str().unwrap(), target.as_str().unwrap());
        u32::from_str_radix(mode.as_str().unwrap(), 8).expect("octal mode");
        targets.push(target.to_string());
        if source.starts_with("target/") {
            continue;
        }
        if let Some(dir_glob) = source.strip_suffix("*.1") {
            let pages = std::fs::read_dir(dir.join(dir_glob)).unwrap().count();
            assert!(pages > 0, "no man pages in {dir_glob}");
        } else {
            assert!(dir.join(source).is_file(), "{source} is missing");
        }
    }
    for want in [
        "usr/bin/",
        "usr/lib/systemd/system/",
        "usr/share/doc/volnic/examples/heartbeat.toml",
        "usr/share/man/man1/",
    ] {
        assert!(targets.iter().any(|t| t == want), "nothing goes to {want}");
    }
    let unit = std::fs::read_to_string(dir.join("systemd/volnic@.service")).unwrap();
    assert!(
        unit.lines()
            .any(|l| l.starts_with("ExecStart=/usr/bin/volnic ")),
        "the unit does not run the packaged /usr/bin/volnic"
    );
}
