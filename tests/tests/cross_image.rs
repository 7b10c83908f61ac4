//! The `volnic.sys` that `bash driver/cross/build.sh` links on Linux, held
//! to what Windows needs to load it on Server 2019 (build 17763) and later:
//! AMD64, native subsystem, NX and ASLR compatible with a relocation
//! section, no section both writable and executable, entry point
//! `DriverEntry`, imports only from ntoskrnl.exe, HAL.dll and NDIS.SYS, each
//! imported routine listed in the ndis-facts `functions.tsv` (compiled from
//! the real WDK headers and reference pages) with that module and a minimum
//! Windows no newer than 17763. The wdk-sys substitute's prototypes (from
//! the mingw-w64 headers) of those routines are held to the table's
//! parameter counts and sizes.
//!
//! The image is `target/cross/volnic.sys` (or `$VOLNIC_CROSS_IMAGE`). When
//! it has not been built the image tests say how to build it and pass,
//! except under `VOLNIC_REQUIRE_CROSS=1` (CI), where they fail. Each check
//! is proved able to fail on an altered copy of the image or a crafted list.
//!
//! Also, always: the cross build's manifest (`driver/cross/Cargo.toml`)
//! builds the driver with the root package's dependencies and release
//! profile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use object::read::pe::PeFile64;
use object::{Object, ObjectSection};

/// The modules a miniport may import from.
const ALLOWED_MODULES: [&str; 3] = ["ntoskrnl.exe", "hal.dll", "ndis.sys"];
/// Windows Server 2019 / Windows 10 1809: the INF's lowest build.
const LOWEST_BUILD: u32 = volnic::resolved::LOWEST_WINDOWS_BUILD;
/// C runtime routines the compiler calls and ntoskrnl.exe exports, which
/// the ndis-facts table has no rows for (it covers the driver's own calls):
/// allowed from ntoskrnl.exe only, and reported as not held to the table.
/// A row added to the table for one of them is checked like any other.
const CRT_ROUTINES: [&str; 4] = ["memcmp", "memcpy", "memmove", "memset"];

const IMAGE_FILE_MACHINE_AMD64: u16 = 0x8664;
const IMAGE_SUBSYSTEM_NATIVE: u16 = 1;
const IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE: u16 = 0x0040;
const IMAGE_DLLCHARACTERISTICS_NX_COMPAT: u16 = 0x0100;
const IMAGE_SCN_MEM_EXECUTE: u32 = 0x2000_0000;
const IMAGE_SCN_MEM_WRITE: u32 = 0x8000_0000;
const IMAGE_DIRECTORY_ENTRY_BASERELOC: usize = 5;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The vendored copy of the tables if present, else the shared original.
fn facts_dir() -> PathBuf {
    let vendored = repo().join("tests/ndis-facts");
    if vendored.join("functions.tsv").exists() {
        vendored
    } else {
        repo().join("../shared/reference/ndis-facts")
    }
}

/// One row of `functions.tsv`.
#[derive(Debug, Clone)]
struct FunctionFact {
    module: String,
    param_sizes: String,
    min_windows: String,
}

fn functions_table() -> BTreeMap<String, FunctionFact> {
    let path = facts_dir().join("functions.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_functions(&text)
}

fn parse_functions(text: &str) -> BTreeMap<String, FunctionFact> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header line").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("functions.tsv has no {name} column"))
    };
    let (name, module, sizes, min) = (
        col("name"),
        col("module"),
        col("param_sizes"),
        col("min_windows"),
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[name].to_string(),
                FunctionFact {
                    module: f[module].to_string(),
                    param_sizes: f[sizes].to_string(),
                    min_windows: f[min].to_string(),
                },
            )
        })
        .collect()
}

/// The build number of a `min_windows` entry of the table: the number in
/// parentheses where it gives one, else the release it names. `unsourced`
/// rows are those whose reference page gives no version; the table's README
/// says the WDK headers declare each of them from Windows 2000 on.
fn min_build(min_windows: &str) -> Result<u32, String> {
    if let Some(open) = min_windows.rfind('(') {
        let inner = min_windows[open + 1..].trim_end_matches(')');
        if let Ok(build) = inner.parse::<u32>() {
            return Ok(build);
        }
    }
    let known = [
        ("Windows 2000", 2195),
        ("Windows XP", 2600),
        ("Windows Vista", 6000),
        ("unsourced", 2195),
    ];
    known
        .iter()
        .find(|(prefix, _)| min_windows.starts_with(prefix))
        .map(|(_, build)| *build)
        .ok_or_else(|| format!("unknown minimum Windows {min_windows:?}"))
}

/// `signatures.tsv` of the substitute: name → parameter sizes.
fn parse_signatures(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 3).then(|| (f[0].to_string(), f[2].to_string()))
        })
        .collect()
}

/// What the checks found in one image.
#[derive(Debug, Default)]
struct Findings {
    problems: Vec<String>,
    /// (module, name) of every import.
    imports: Vec<(String, String)>,
    /// Imported routines the substitute has no prototype of.
    unchecked_signatures: Vec<String>,
    crt: Vec<String>,
}

fn check_headers(data: &[u8], problems: &mut Vec<String>) -> Result<(), String> {
    let pe = PeFile64::parse(data).map_err(|e| format!("not a PE32+ image: {e}"))?;
    let nt = pe.nt_headers();
    let le = object::LittleEndian;
    let machine = nt.file_header.machine.get(le);
    if machine != IMAGE_FILE_MACHINE_AMD64 {
        problems.push(format!("machine is {machine:#06x}, not AMD64 (0x8664)"));
    }
    let subsystem = nt.optional_header.subsystem.get(le);
    if subsystem != IMAGE_SUBSYSTEM_NATIVE {
        problems.push(format!("subsystem is {subsystem}, not native (1)"));
    }
    let dll = nt.optional_header.dll_characteristics.get(le);
    if dll & IMAGE_DLLCHARACTERISTICS_NX_COMPAT == 0 {
        problems.push("NX_COMPAT is not set".into());
    }
    if dll & IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE == 0 {
        problems.push("DYNAMIC_BASE is not set".into());
    }
    let relocs = pe
        .data_directories()
        .get(IMAGE_DIRECTORY_ENTRY_BASERELOC)
        .map_or(0, |d| d.size.get(le));
    let reloc_section = pe.sections().any(|s| s.name() == Ok(".reloc"));
    if relocs == 0 || !reloc_section {
        problems.push(format!(
            "no relocations (base-relocation directory {relocs} bytes, .reloc section {})",
            if reloc_section { "present" } else { "absent" }
        ));
    }
    for section in pe.section_table().iter() {
        let c = section.characteristics.get(le);
        if c & IMAGE_SCN_MEM_WRITE != 0 && c & IMAGE_SCN_MEM_EXECUTE != 0 {
            let name = String::from_utf8_lossy(section.raw_name()).to_string();
            problems.push(format!("section {name} is both writable and executable"));
        }
    }
    let exports = pe.exports().map_err(|e| format!("export table: {e}"))?;
    let driver_entry = exports.iter().find(|e| e.name() == b"DriverEntry");
    match driver_entry {
        None => problems.push("DriverEntry is not in the export table".into()),
        Some(e) if e.address() != pe.entry() => problems.push(format!(
            "the entry point {:#x} is not DriverEntry ({:#x})",
            pe.entry(),
            e.address()
        )),
        Some(_) => {}
    }
    Ok(())
}

fn image_imports(data: &[u8]) -> Result<Vec<(String, String)>, String> {
    let pe = PeFile64::parse(data).map_err(|e| format!("not a PE32+ image: {e}"))?;
    let imports = pe.imports().map_err(|e| format!("import table: {e}"))?;
    Ok(imports
        .iter()
        .map(|i| {
            (
                String::from_utf8_lossy(i.library()).to_string(),
                String::from_utf8_lossy(i.name()).to_string(),
            )
        })
        .collect())
}

/// The import rules, on a list of (module, routine).
fn check_imports(
    imports: &[(String, String)],
    table: &BTreeMap<String, FunctionFact>,
    signatures: &BTreeMap<String, String>,
    findings: &mut Findings,
) {
    for (module, name) in imports {
        let lower = module.to_ascii_lowercase();
        if !ALLOWED_MODULES.contains(&lower.as_str()) {
            findings.problems.push(format!(
                "{name} is imported from {module}, not ntoskrnl.exe, HAL.dll or NDIS.SYS"
            ));
            continue;
        }
        if volnic::resolved::RESOLVED_AT_RUN_TIME.contains(&name.as_str()) {
            findings.problems.push(format!(
                "{name} is imported, yet driver/resolved.rs says it is resolved at run time"
            ));
            continue;
        }
        let Some(fact) = table.get(name) else {
            if CRT_ROUTINES.contains(&name.as_str()) && lower == "ntoskrnl.exe" {
                findings.crt.push(name.clone());
            } else {
                findings
                    .problems
                    .push(format!("{name} (from {module}) is not in functions.tsv"));
            }
            continue;
        };
        if !fact.module.eq_ignore_ascii_case(module) {
            findings.problems.push(format!(
                "{name} is imported from {module} but functions.tsv says {}",
                fact.module
            ));
        }
        match min_build(&fact.min_windows) {
            Ok(build) if build > LOWEST_BUILD => findings.problems.push(format!(
                "{name} needs {} (build {build}), newer than Server 2019 ({LOWEST_BUILD})",
                fact.min_windows
            )),
            Ok(_) => {}
            Err(e) => findings.problems.push(format!("{name}: {e}")),
        }
        check_signature(name, fact, signatures, findings);
    }
}

fn check_signature(
    name: &str,
    fact: &FunctionFact,
    signatures: &BTreeMap<String, String>,
    findings: &mut Findings,
) {
    match signatures.get(name) {
        None => findings.unchecked_signatures.push(name.to_string()),
        Some(generated) if *generated != fact.param_sizes => findings.problems.push(format!(
            "{name}: the substitute's prototype (mingw-w64) has parameter sizes [{generated}], \
             the WDK's [{}]",
            fact.param_sizes
        )),
        Some(_) => {}
    }
}

fn check(
    data: &[u8],
    table: &BTreeMap<String, FunctionFact>,
    signatures: &BTreeMap<String, String>,
) -> Findings {
    let mut findings = Findings::default();
    if let Err(e) = check_headers(data, &mut findings.problems) {
        findings.problems.push(e);
        return findings;
    }
    match image_imports(data) {
        Ok(imports) => {
            check_imports(&imports, table, signatures, &mut findings);
            findings.imports = imports;
        }
        Err(e) => findings.problems.push(e),
    }
    // The routines found at run time: known to the table, old enough, and
    // (where the substitute has them) of the WDK's prototype.
    for name in volnic::resolved::RESOLVED_AT_RUN_TIME {
        match table.get(name) {
            None => findings.problems.push(format!(
                "{name} (resolved at run time) is not in functions.tsv"
            )),
            Some(fact) => check_signature(name, fact, signatures, &mut findings),
        }
    }
    findings
}

/// The image, its substitute's signatures, or None (with the reason) when
/// it has not been built and CI does not require it.
fn built_image() -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let path = std::env::var_os("VOLNIC_CROSS_IMAGE")
        .map_or_else(|| repo().join("target/cross/volnic.sys"), PathBuf::from);
    let required = std::env::var("VOLNIC_REQUIRE_CROSS").is_ok_and(|v| v == "1");
    let Ok(data) = std::fs::read(&path) else {
        assert!(
            !required,
            "VOLNIC_REQUIRE_CROSS=1 but {} does not exist: run bash driver/cross/build.sh",
            path.display()
        );
        volnic_tests::report!(
            "cross_image: SKIPPED: {} not built; build it with `bash driver/cross/build.sh`",
            path.display()
        );
        return None;
    };
    let sig_path = path.with_file_name("volnic-signatures.tsv");
    let text = std::fs::read_to_string(&sig_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (written by driver/cross/build.sh)",
            sig_path.display()
        )
    });
    Some((data, parse_signatures(&text)))
}

#[test]
fn the_cross_built_image_loads_on_server_2019() {
    let Some((data, signatures)) = built_image() else {
        return;
    };
    let table = functions_table();
    let findings = check(&data, &table, &signatures);
    let mut by_module: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (module, name) in &findings.imports {
        by_module.entry(module.clone()).or_default().push(name);
    }
    volnic_tests::report!("cross_image: volnic.sys {} bytes", data.len());
    for (module, names) in &by_module {
        volnic_tests::report!("cross_image: {module}: {}", names.join(", "));
    }
    volnic_tests::report!(
        "cross_image: resolved at run time: {}",
        volnic::resolved::RESOLVED_AT_RUN_TIME.join(", ")
    );
    if !findings.crt.is_empty() {
        volnic_tests::report!(
            "cross_image: C runtime routines from ntoskrnl.exe, not in functions.tsv: {}",
            findings.crt.join(", ")
        );
    }
    volnic_tests::report!(
        "cross_image: signatures held to functions.tsv: {} of {}; no mingw-w64 prototype: {}",
        findings.imports.len() - findings.crt.len() - findings.unchecked_signatures.len()
            + volnic::resolved::RESOLVED_AT_RUN_TIME.len(),
        findings.imports.len() - findings.crt.len() + volnic::resolved::RESOLVED_AT_RUN_TIME.len(),
        findings.unchecked_signatures.join(", ")
    );
    assert!(
        findings.problems.is_empty(),
        "volnic.sys:\n  {}",
        findings.problems.join("\n  ")
    );
    assert!(
        by_module.keys().any(|m| m.eq_ignore_ascii_case("ndis.sys")),
        "a miniport imports from NDIS.SYS"
    );
}

// ---- the checker, proved able to fail ----

fn le16(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}
fn le32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}
fn put16(data: &mut [u8], at: usize, v: u16) {
    data[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(data: &mut [u8], at: usize, v: u32) {
    data[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Offsets in the PE headers: (file header, optional header, section table).
fn header_offsets(data: &[u8]) -> (usize, usize, usize) {
    let nt = le32(data, 0x3C) as usize;
    let file = nt + 4;
    let optional = file + 20;
    let sections = optional + le16(data, file + 16) as usize;
    (file, optional, sections)
}

/// Replaces the only occurrence of `from` (with its NUL) by `to`.
fn replace_once(data: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let needle: Vec<u8> = from.bytes().chain([0]).collect();
    let at: Vec<usize> = data
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle.as_slice())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "{from:?} occurs once in the image");
    data[at[0]..at[0] + from.len()].copy_from_slice(to.as_bytes());
}

fn problems_of_altered(alter: impl FnOnce(&mut Vec<u8>)) -> Option<Vec<String>> {
    let (mut data, signatures) = built_image()?;
    alter(&mut data);
    Some(check(&data, &functions_table(), &signatures).problems)
}

fn assert_caught(problems: Option<Vec<String>>, expected: &str) {
    let Some(problems) = problems else {
        return;
    };
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "expected a finding containing {expected:?}, got {problems:#?}"
    );
}

#[test]
fn altered_images_are_caught() {
    assert_caught(
        problems_of_altered(|d| {
            let (file, _, _) = header_offsets(d);
            put16(d, file, 0x014C);
        }),
        "not AMD64",
    );
    assert_caught(
        problems_of_altered(|d| {
            let (_, opt, _) = header_offsets(d);
            put16(d, opt + 68, 2);
        }),
        "not native",
    );
    assert_caught(
        problems_of_altered(|d| {
            let (_, opt, _) = header_offsets(d);
            let v = le16(d, opt + 70);
            put16(d, opt + 70, v & !IMAGE_DLLCHARACTERISTICS_NX_COMPAT);
        }),
        "NX_COMPAT",
    );
    assert_caught(
        problems_of_altered(|d| {
            let (_, opt, _) = header_offsets(d);
            let v = le16(d, opt + 70);
            put16(d, opt + 70, v & !IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE);
        }),
        "DYNAMIC_BASE",
    );
    assert_caught(
        problems_of_altered(|d| {
            let (_, opt, _) = header_offsets(d);
            put32(d, opt + 112 + 8 * IMAGE_DIRECTORY_ENTRY_BASERELOC + 4, 0);
        }),
        "no relocations",
    );
    assert_caught(
        problems_of_altered(|d| {
            // The first section (.text) made writable too.
            let (_, _, sections) = header_offsets(d);
            let v = le32(d, sections + 36);
            put32(d, sections + 36, v | IMAGE_SCN_MEM_WRITE);
        }),
        "both writable and executable",
    );
    assert_caught(
        problems_of_altered(|d| {
            let (_, opt, _) = header_offsets(d);
            let v = le32(d, opt + 16);
            put32(d, opt + 16, v + 1);
        }),
        "is not DriverEntry",
    );
    assert_caught(
        problems_of_altered(|d| replace_once(d, "NDIS.SYS", "NDIS.SYX")),
        "not ntoskrnl.exe, HAL.dll or NDIS.SYS",
    );
    assert_caught(
        problems_of_altered(|d| replace_once(d, "ZwClose", "ZwClosf")),
        "ZwClosf (from ntoskrnl.exe) is not in functions.tsv",
    );
}

fn crafted(imports: &[(&str, &str)], signatures: &[(&str, &str)]) -> Vec<String> {
    let imports: Vec<(String, String)> = imports
        .iter()
        .map(|(m, n)| (m.to_string(), n.to_string()))
        .collect();
    let signatures: BTreeMap<String, String> = signatures
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    let mut findings = Findings::default();
    check_imports(&imports, &functions_table(), &signatures, &mut findings);
    findings.problems
}

#[test]
fn crafted_import_lists_are_judged_by_the_table() {
    // Sound: old routines from their modules, with the WDK's prototypes.
    assert_eq!(
        crafted(
            &[
                ("ntoskrnl.exe", "ZwClose"),
                ("ntoskrnl.exe", "ExAllocatePoolWithTag"),
                ("NDIS.SYS", "NdisMPauseComplete"),
                ("ntoskrnl.exe", "memcpy"),
            ],
            &[("ZwClose", "8"), ("ExAllocatePoolWithTag", "4,8,4")],
        ),
        Vec::<String>::new()
    );
    let p = crafted(&[("ntoskrnl.exe", "ExAllocatePool2")], &[]);
    assert!(
        p.iter().any(|p| p.contains("newer than Server 2019")),
        "{p:?}"
    );
    let p = crafted(&[("ntoskrnl.exe", "KeQueryInterruptTimePrecise")], &[]);
    assert!(
        p.iter().any(|p| p.contains("resolved at run time")),
        "{p:?}"
    );
    let p = crafted(&[("HAL.dll", "ZwClose")], &[]);
    assert!(p.iter().any(|p| p.contains("functions.tsv says")), "{p:?}");
    let p = crafted(&[("ntoskrnl.exe", "ZwClose")], &[("ZwClose", "8,8")]);
    assert!(
        p.iter().any(|p| p.contains("parameter sizes [8,8]")),
        "{p:?}"
    );
    let p = crafted(&[("kernel32.dll", "Sleep")], &[]);
    assert!(p.iter().any(|p| p.contains("not ntoskrnl.exe")), "{p:?}");
    // The CRT allowance is for ntoskrnl.exe's exports only.
    let p = crafted(&[("NDIS.SYS", "memcpy")], &[]);
    assert!(
        p.iter().any(|p| p.contains("not in functions.tsv")),
        "{p:?}"
    );
}

#[test]
fn minimum_windows_entries_read_as_builds() {
    assert_eq!(min_build("Windows 10 2004 (19041)"), Ok(19041));
    assert_eq!(min_build("Windows 8.1 (9600)"), Ok(9600));
    assert_eq!(min_build("Windows Vista / NDIS 6.0"), Ok(6000));
    assert_eq!(min_build("Windows 2000 (64-bit)"), Ok(2195));
    assert_eq!(min_build("Windows XP"), Ok(2600));
    assert!(min_build("Windows 11").is_err());
    // Every row of the table reads.
    for (name, fact) in functions_table() {
        if fact.module != "driver callback" {
            assert!(
                min_build(&fact.min_windows).is_ok(),
                "{name}: {}",
                fact.min_windows
            );
        }
    }
}

// ---- the cross manifest builds what the product builds ----

fn manifest(path: &str) -> toml::Table {
    let full = repo().join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
    text.parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_cross_manifest_builds_the_driver_with_the_products_dependencies_and_profile() {
    let root = manifest("Cargo.toml");
    let cross = manifest("driver/cross/Cargo.toml");
    assert_eq!(cross["package"]["name"].as_str(), Some("volnic"));
    assert_eq!(cross["lib"]["path"].as_str(), Some("../lib.rs"));
    assert_eq!(
        root["lib"]["path"].as_str(),
        Some("driver/lib.rs"),
        "the same source file"
    );
    let windows_deps = |t: &toml::Table| t["target"]["cfg(windows)"]["dependencies"].clone();
    assert_eq!(
        windows_deps(&cross),
        windows_deps(&root),
        "driver/cross/Cargo.toml's Windows dependencies are the root package's"
    );
    let root_deps: Vec<&String> = root["dependencies"].as_table().unwrap().keys().collect();
    let cross_deps: Vec<&String> = cross["dependencies"].as_table().unwrap().keys().collect();
    assert_eq!(cross_deps, root_deps, "the same portable dependencies");
    assert_eq!(
        cross["profile"]["release"], root["profile"]["release"],
        "the same release profile"
    );
    assert_eq!(
        cross["package"]["metadata"]["wdk"], root["package"]["metadata"]["wdk"],
        "the same driver model"
    );
    // The substitute is patched in only there.
    assert!(
        root.get("patch").is_none(),
        "the product build patches nothing"
    );
    assert!(cross["patch"]["crates-io"].get("wdk-sys").is_some());
    assert!(
        !root["target"]["cfg(windows)"]["dependencies"]
            .as_table()
            .unwrap()
            .contains_key("wdk-alloc"),
        "wdk-alloc imports ExAllocatePool2 (build 19041): not a dependency"
    );
}
