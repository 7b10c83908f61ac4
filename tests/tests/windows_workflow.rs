//! `.github/workflows/windows.yml` is valid YAML, has a Windows job and a
//! Linux job, and runs the same commands the documents give: on Windows
//! `cargo make` and the Windows-side tools tests, on Linux `bash .ci/run`
//! (which runs the README's `cargo test --workspace`).

use yaml_rust2::{Yaml, YamlLoader};

/// What the Windows job runs, each as one `run:` line; docs/WINDOWS.md
/// gives the same commands, and every `cargo` command of the README's
/// Windows section is one of them.
const WINDOWS_COMMANDS: [&str; 2] = [
    "cargo make --profile release",
    "cargo test -p volnic-tools --lib --test wincfg",
];
const LINUX_COMMAND: &str = "bash .ci/run";

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn workflow() -> Yaml {
    let text = read(".github/workflows/windows.yml");
    let mut docs = YamlLoader::load_from_str(&text).expect("windows.yml is valid YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    docs.remove(0)
}

/// Every line of every `run:` of a job, trimmed.
fn run_lines(job: &Yaml) -> Vec<String> {
    job["steps"]
        .as_vec()
        .expect("the job has steps")
        .iter()
        .filter_map(|step| step["run"].as_str())
        .flat_map(|run| {
            run.lines()
                .map(|l| l.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn job<'a>(workflow: &'a Yaml, runs_on_prefix: &str) -> &'a Yaml {
    let jobs = workflow["jobs"].as_hash().expect("jobs");
    let found: Vec<&Yaml> = jobs
        .values()
        .filter(|j| {
            j["runs-on"]
                .as_str()
                .is_some_and(|r| r.starts_with(runs_on_prefix))
        })
        .collect();
    assert_eq!(found.len(), 1, "one job runs on {runs_on_prefix}*");
    found[0]
}

#[test]
fn the_workflow_is_valid_yaml_with_a_trigger_and_two_jobs() {
    let w = workflow();
    assert!(w["name"].as_str().is_some());
    // `on:` is a key (YAML 1.2: not a boolean).
    assert!(!w["on"].is_badvalue(), "the workflow has triggers");
    assert_eq!(w["jobs"].as_hash().unwrap().len(), 2);
    for (name, job) in w["jobs"].as_hash().unwrap() {
        for step in job["steps"].as_vec().unwrap() {
            assert!(
                step["run"].as_str().is_some() || step["uses"].as_str().is_some(),
                "job {name:?}: every step runs or uses something: {step:?}"
            );
        }
    }
}

#[test]
fn the_windows_job_builds_with_cargo_make_and_runs_the_tools_tests() {
    let w = workflow();
    let lines = run_lines(job(&w, "windows-"));
    for command in WINDOWS_COMMANDS {
        assert!(
            lines.iter().any(|l| l == command),
            "the Windows job runs `{command}`: {lines:#?}"
        );
    }
    let all = lines.join("\n");
    for tool in [
        "LLVM.LLVM",
        "Microsoft.WindowsSDK.",
        "Microsoft.WindowsWDK.",
    ] {
        assert!(all.contains(tool), "the Windows job installs {tool}");
    }
}

/// The package the workflow keeps is the release build: no `cargo make`
/// without `--profile release`, and the artifact is target/release's.
#[test]
fn the_windows_job_packages_the_release_build() {
    let w = workflow();
    let windows = job(&w, "windows-");
    for line in run_lines(windows) {
        if line.starts_with("cargo make") {
            assert_eq!(
                line, "cargo make --profile release",
                "a debug package is built"
            );
        }
    }
    let paths: Vec<&str> = windows["steps"]
        .as_vec()
        .expect("steps")
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
        })
        .filter_map(|s| s["with"]["path"].as_str())
        .collect();
    assert_eq!(paths, vec!["target/release/volnic_package/"]);
}

/// The static C runtime, which wdk-build requires of a kernel driver, is
/// set for Windows MSVC targets only, so Linux builds are untouched.
#[test]
fn crt_static_is_set_for_windows_msvc_targets_only() {
    let config: toml::Table = read(".cargo/config.toml")
        .parse()
        .expect(".cargo/config.toml is TOML");
    let targets = config["target"].as_table().expect("[target] tables");
    assert_eq!(targets.len(), 1, "one [target] table: {targets:?}");
    let (key, table) = targets.iter().next().unwrap();
    assert_eq!(
        key.replace(' ', ""),
        r#"cfg(all(target_os="windows",target_env="msvc"))"#
    );
    let flags: Vec<&str> = table["rustflags"]
        .as_array()
        .expect("rustflags")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert_eq!(flags, ["-C", "target-feature=+crt-static"]);
    assert!(config.get("build").is_none(), "no flags for every target");
}

#[test]
fn the_linux_job_runs_the_ci_script() {
    let w = workflow();
    let linux = job(&w, "ubuntu-");
    assert_eq!(run_lines(linux), vec![LINUX_COMMAND.to_string()]);
    let ci = read(".ci/run");
    assert!(
        ci.contains("cargo test --workspace"),
        ".ci/run runs the README's test command"
    );
    assert!(read("README.md").contains("cargo test --workspace"));
}

/// The `cargo` command lines in the code blocks of the README's Windows
/// section.
fn readme_windows_cargo_commands() -> Vec<String> {
    let readme = read("README.md");
    let start = readme
        .find("\n## Windows")
        .expect("README.md has a Windows section");
    let section = &readme[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    let mut in_block = false;
    let mut commands = Vec::new();
    for line in section[..end].lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        } else if in_block && line.trim_start().starts_with("cargo ") {
            commands.push(line.trim().to_string());
        }
    }
    commands
}

#[test]
fn the_workflow_runs_the_readmes_windows_commands() {
    let commands = readme_windows_cargo_commands();
    assert!(
        commands.iter().any(|c| c == "cargo make --profile release"),
        "the README's Windows section builds the release package: {commands:?}"
    );
    let w = workflow();
    let lines = run_lines(job(&w, "windows-"));
    for command in &commands {
        assert!(
            lines.contains(command),
            "the README gives `{command}` for Windows; the Windows job must run it too: {lines:#?}"
        );
    }
}

#[test]
fn docs_windows_md_gives_the_workflows_windows_commands() {
    let guide = read("docs/WINDOWS.md");
    for command in WINDOWS_COMMANDS {
        assert!(
            guide.lines().any(|l| l.trim() == command),
            "docs/WINDOWS.md gives `{command}` on a line of its own"
        );
    }
}
