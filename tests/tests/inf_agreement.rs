//! `inf/volnic.inx` and README.md against the settings table and the
//! driver. The INF's `Ndi\params` entries and labels and the README's
//! configuration table are generated from the table
//! (`volnic_tools::generated`); one test holds the checked-in text to what
//! the table generates now. The rest of the INF is checked here: class,
//! hardware ID, target build, media types, service, the `Ndi` keys, and
//! that the install section reaches the generated entries. The driver
//! (`AdapterConfig::from_source`) is held to the table: it reads exactly
//! the table's values, takes each default and bound, and refuses what lies
//! outside.
//!
//! The checker is proved able to fail: each test in `altered_infs` changes
//! one thing in the real INF text and expects the checker to name it.

use std::collections::BTreeMap;

use volnic::config::{AdapterConfig, ConfigError, SettingSource};
use volnic_core::settings::{self, Kind, Setting};
use volnic_tests::inf::{Inf, RegEntry};
use volnic_tools::generated;

const NET_CLASS_GUID: &str = "{4d36e972-e325-11ce-bfc1-08002be10318}";
/// The hardware ID `volnic install` creates its device with.
const HARDWARE_ID: &str = volnic_tools::wincfg::HARDWARE_ID;
const SERVICE: &str = "volnic";
/// `NCF_VIRTUAL` in `Characteristics`.
const NCF_VIRTUAL: u32 = 0x1;
/// AddService flag: the service is the device's function driver.
const SPSVCINST_ASSOCSERVICE: u32 = 0x2;

fn shipped_inf() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../inf/volnic.inx");
    std::fs::read_to_string(path).expect("inf/volnic.inx is readable")
}

// ---------------------------------------------------------------------------
// The driver's side
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadAs {
    Text,
    Integer,
}

/// A registry as NDIS presents it to the driver: every value stored as
/// text (as Device Manager stores Advanced-tab values), integers converted
/// from decimal on `NdisParameterInteger` reads. Records each read.
#[derive(Default)]
struct Registry {
    values: BTreeMap<String, String>,
    reads: Vec<(String, ReadAs)>,
}

impl Registry {
    /// Just the two required volumes, so the driver reads every value.
    fn minimal() -> Self {
        let mut r = Registry::default();
        r.set("SendVolume", "C:\\volnic\\a.vol");
        r.set("ReceiveVolume", "C:\\volnic\\b.vol");
        r
    }
    fn set(&mut self, name: &str, value: &str) {
        self.values.insert(name.to_ascii_lowercase(), value.into());
    }
    fn remove(&mut self, name: &str) {
        self.values.remove(&name.to_ascii_lowercase());
    }
}

impl SettingSource for Registry {
    fn string(&mut self, name: &str) -> Option<String> {
        self.reads.push((name.into(), ReadAs::Text));
        self.values.get(&name.to_ascii_lowercase()).cloned()
    }
    fn integer(&mut self, name: &str) -> Option<u32> {
        self.reads.push((name.into(), ReadAs::Integer));
        self.values.get(&name.to_ascii_lowercase())?.parse().ok()
    }
}

/// The values the driver reads, in order, and how.
fn driver_reads() -> Vec<(String, ReadAs)> {
    let mut registry = Registry::minimal();
    AdapterConfig::from_source(&mut registry).expect("the minimal registry is valid");
    registry.reads
}

fn driver_with(changes: &[(&str, Option<&str>)]) -> Result<AdapterConfig, ConfigError> {
    let mut registry = Registry::minimal();
    for (name, value) in changes {
        match value {
            Some(v) => registry.set(name, v),
            None => registry.remove(name),
        }
    }
    AdapterConfig::from_source(&mut registry)
}

// ---------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------

/// Everything wrong with `inf_text`, one line each (empty: it agrees).
fn problems(inf_text: &str) -> Vec<String> {
    let inf = match Inf::parse(inf_text) {
        Ok(inf) => inf,
        Err(e) => return vec![format!("the INF does not parse: {e}")],
    };
    let mut out = Vec::new();
    out.extend(check_version(&inf).err());
    let install = match find_install_section(&inf) {
        Ok(name) => name,
        Err(e) => {
            out.push(e);
            return out;
        }
    };
    out.extend(check_identity(&inf, &install).err());
    out.extend(check_service(&inf, &install).err());
    match inf.add_reg(&install) {
        Ok(entries) => {
            out.extend(check_ndi(&entries));
            out.extend(check_reaches_params(&entries));
        }
        Err(e) => out.push(e),
    }
    out
}

fn expect_value(inf: &Inf, section: &str, key: &str, want: &str) -> Result<(), String> {
    match inf.value(section, key)? {
        Some(v) if v.eq_ignore_ascii_case(want) => Ok(()),
        Some(v) => Err(format!("[{section}] {key} is '{v}', expected '{want}'")),
        None => Err(format!("[{section}] has no {key} (expected '{want}')")),
    }
}

fn check_version(inf: &Inf) -> Result<(), String> {
    expect_value(inf, "Version", "Signature", "$WINDOWS NT$")?;
    expect_value(inf, "Version", "Class", "Net")?;
    expect_value(inf, "Version", "ClassGuid", NET_CLASS_GUID)?;
    expect_value(inf, "Version", "PnpLockdown", "1")
}

/// Follows [Manufacturer] to the models section that lists the hardware ID
/// and returns its install (DDInstall) section.
fn find_install_section(inf: &Inf) -> Result<String, String> {
    let manufacturer = inf
        .section("Manufacturer")
        .ok_or("the INF has no [Manufacturer] section")?;
    for line in &manufacturer.lines {
        let Some(models) = line.fields.first() else {
            continue;
        };
        // `Models, Decoration, Decoration...` names sections `Models.Decoration`.
        let decorations: Vec<&String> = line.fields[1..].iter().collect();
        let mut names: Vec<String> = decorations
            .iter()
            .map(|d| format!("{models}.{d}"))
            .collect();
        names.push(models.clone());
        for name in names {
            let Some(section) = inf.section(&name) else {
                continue;
            };
            for device in &section.lines {
                let ids = &device.fields[1..];
                if ids.iter().any(|id| id.eq_ignore_ascii_case(HARDWARE_ID)) {
                    if !name.contains("$ARCH$") {
                        return Err(format!(
                            "models section [{name}] is not decorated with NT$ARCH$ for stampinf"
                        ));
                    }
                    check_target_build(&name)?;
                    return Ok(device.fields[0].clone());
                }
            }
        }
    }
    Err(format!(
        "no models section lists the hardware ID {HARDWARE_ID} (the one `volnic install` creates)"
    ))
}

/// The models section's decoration `NT<arch>.<major>.<minor>.<product
/// type>.<suite mask>.<build>` offers the driver from the build that
/// volnic.sys is built for: Windows Server 2019, whose kernel exports all
/// it imports (tests/tests/cross_image.rs), not an older one where it
/// would fail to load, nor a newer one that leaves Server 2019 out.
fn check_target_build(models: &str) -> Result<(), String> {
    let want = volnic::resolved::LOWEST_WINDOWS_BUILD;
    let decoration = models
        .split_once('.')
        .map(|(_, d)| d)
        .ok_or_else(|| format!("models section [{models}] has no decoration"))?;
    let fields: Vec<&str> = decoration.split('.').collect();
    let build = match fields.as_slice() {
        [_arch, "10", "0", _product, _suite, build] => build.parse::<u32>().ok(),
        _ => None,
    };
    match build {
        Some(b) if b == want => Ok(()),
        Some(b) => Err(format!(
            "models section [{models}] offers the driver from build {b}, not {want} \
             (Windows Server 2019, the lowest build volnic.sys loads on)"
        )),
        None => Err(format!(
            "models section [{models}] names no build: decorate it NT$ARCH$.10.0...{want}"
        )),
    }
}

fn parse_number(text: &str) -> Option<u32> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn check_identity(inf: &Inf, install: &str) -> Result<(), String> {
    let number = |key: &str| -> Result<u32, String> {
        let v = inf
            .value(install, key)?
            .ok_or_else(|| format!("[{install}] has no {key}"))?;
        parse_number(&v).ok_or_else(|| format!("[{install}] {key} = '{v}' is not a number"))
    };
    let characteristics = number("Characteristics")?;
    if characteristics & NCF_VIRTUAL == 0 {
        return Err(format!(
            "[{install}] Characteristics {characteristics:#x} lacks NCF_VIRTUAL (0x1)"
        ));
    }
    for (key, driver) in [
        ("*IfType", u32::from(volnic::oid::IF_TYPE)),
        ("*MediaType", volnic::oid::MEDIUM),
        ("*PhysicalMediaType", volnic::oid::PHYSICAL_MEDIUM),
    ] {
        let inf_value = number(key)?;
        if inf_value != driver {
            return Err(format!(
                "[{install}] {key} = {inf_value} but the driver reports {driver}"
            ));
        }
    }
    Ok(())
}

fn check_service(inf: &Inf, install: &str) -> Result<(), String> {
    let services = format!("{install}.Services");
    let lines = inf.entries(&services, "AddService");
    let line = lines
        .iter()
        .find(|l| {
            l.fields
                .first()
                .is_some_and(|n| n.eq_ignore_ascii_case(SERVICE))
        })
        .ok_or_else(|| format!("[{services}] has no AddService = {SERVICE}, ..."))?;
    let flags = line
        .fields
        .get(1)
        .and_then(|f| parse_number(f))
        .unwrap_or(0);
    if flags & SPSVCINST_ASSOCSERVICE == 0 {
        return Err(format!(
            "[{services}] AddService {SERVICE} lacks flag 2 (SPSVCINST_ASSOCSERVICE)"
        ));
    }
    let section = line
        .fields
        .get(2)
        .ok_or_else(|| format!("[{services}] AddService {SERVICE} names no service section"))?;
    expect_value(inf, section, "ServiceType", "1")?;
    expect_value(inf, section, "StartType", "3")?;
    expect_value(inf, section, "ErrorControl", "1")?;
    expect_value(inf, section, "ServiceBinary", "%13%\\volnic.sys")
}

fn check_ndi(entries: &[RegEntry]) -> Vec<String> {
    let mut out = Vec::new();
    for (subkey, name, want) in [
        ("Ndi", "Service", SERVICE),
        ("Ndi\\Interfaces", "UpperRange", "ndis5"),
        ("Ndi\\Interfaces", "LowerRange", "ethernet"),
    ] {
        let found = entries.iter().find(|e| {
            e.root.eq_ignore_ascii_case("HKR")
                && e.subkey.eq_ignore_ascii_case(subkey)
                && e.value_name.eq_ignore_ascii_case(name)
        });
        match found {
            Some(e) if e.value.eq_ignore_ascii_case(want) => {}
            Some(e) => out.push(format!(
                "HKR,{subkey},{name} is '{}', expected '{want}'",
                e.value
            )),
            None => out.push(format!("no HKR,{subkey},{name} = '{want}'")),
        }
    }
    out
}

/// The install section's AddReg reaches an `Ndi\params` entry for every
/// setting (the entries themselves are generated).
fn check_reaches_params(entries: &[RegEntry]) -> Vec<String> {
    settings::ALL
        .iter()
        .filter(|s| {
            let subkey = format!("Ndi\\params\\{}", s.name);
            !entries.iter().any(|e| {
                e.root.eq_ignore_ascii_case("HKR") && e.subkey.eq_ignore_ascii_case(&subkey)
            })
        })
        .map(|s| {
            format!(
                "the install section's AddReg reaches no Ndi\\params\\{} entry",
                s.name
            )
        })
        .collect()
}

/// Everything wrong with how the driver takes `setting` (empty: it follows
/// the table).
fn driver_against_table(setting: &Setting) -> Vec<String> {
    let name = setting.name;
    let mut out = Vec::new();
    match setting.kind {
        Kind::Integer(range) => {
            let d = range.default.to_string();
            if driver_with(&[(name, Some(&d))]) != driver_with(&[(name, None)]) {
                out.push(format!(
                    "{name}: the driver with {d} set differs from the driver without it"
                ));
            }
            for (key, value, beyond) in [
                ("min", range.min, range.min.checked_sub(1)),
                ("max", range.max, range.max.checked_add(1)),
            ] {
                if driver_with(&[(name, Some(&value.to_string()))]).is_err() {
                    out.push(format!("{name}: the driver refuses the {key} {value}"));
                }
                if let Some(beyond) = beyond {
                    if driver_with(&[(name, Some(&beyond.to_string()))]).is_ok() {
                        out.push(format!(
                            "{name}: the driver accepts {beyond}, beyond the {key} {value}"
                        ));
                    }
                }
            }
            if range.step > 1 {
                let off_step = range.min + range.step / 2;
                if driver_with(&[(name, Some(&off_step.to_string()))]).is_ok() {
                    out.push(format!(
                        "{name}: the driver accepts {off_step}, off the step {}",
                        range.step
                    ));
                }
            }
        }
        Kind::Text(rule) => {
            let absent = driver_with(&[(name, None)]);
            let refuses = matches!(absent, Err(ConfigError::Missing(n)) if n == name);
            if refuses != rule.required {
                out.push(format!(
                    "{name}: the table says required = {} but without it the driver {}",
                    rule.required,
                    if refuses {
                        "refuses to start"
                    } else {
                        "starts"
                    }
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[test]
fn the_shipped_inf_identity_and_service_are_right() {
    let problems = problems(&shipped_inf());
    assert!(
        problems.is_empty(),
        "inf/volnic.inx:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_generated_inf_params_and_readme_table_are_current() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let stale = generated::stale(root).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        stale.is_empty(),
        "{} not generated from core/src/settings.rs: run {} to regenerate",
        stale
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        generated::COMMAND
    );
}

#[test]
fn the_driver_takes_the_tables_defaults_and_ranges() {
    let problems: Vec<String> = settings::ALL
        .iter()
        .flat_map(driver_against_table)
        .collect();
    assert!(
        problems.is_empty(),
        "driver/config.rs disagrees with the settings table:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_settings_table_lists_exactly_what_the_driver_reads() {
    let reads: Vec<(String, ReadAs)> = driver_reads();
    let table: Vec<(String, ReadAs)> = settings::ALL
        .iter()
        .map(|s| {
            let read_as = match s.kind {
                Kind::Text(_) => ReadAs::Text,
                Kind::Integer(_) => ReadAs::Integer,
            };
            (s.name.to_string(), read_as)
        })
        .collect();
    assert_eq!(reads, table);
}

/// Changes the one line of `text` that contains every needle.
fn alter_line(text: &str, needles: &[&str], change: impl Fn(&str) -> String) -> String {
    let hits = text
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count();
    assert_eq!(hits, 1, "expected one line with {needles:?}, found {hits}");
    let mut out = String::new();
    for line in text.lines() {
        if needles.iter().all(|n| line.contains(n)) {
            out.push_str(&change(line));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn replace_in_line(text: &str, needles: &[&str], from: &str, to: &str) -> String {
    alter_line(text, needles, |l| {
        assert!(l.contains(from), "'{from}' not in '{l}'");
        l.replacen(from, to, 1)
    })
}

fn without_lines(text: &str, needle: &str) -> String {
    assert!(text.contains(needle));
    text.lines()
        .filter(|l| !l.contains(needle))
        .flat_map(|l| [l, "\n"])
        .collect()
}

fn expect_caught(altered: &str, what: &[&str]) {
    let found = problems(altered);
    assert!(
        found.iter().any(|p| what.iter().all(|w| p.contains(w))),
        "the checker missed an INF altered so that {what:?} should be reported; it said: {found:#?}"
    );
}

#[test]
fn altered_infs_are_caught() {
    let inf = shipped_inf();
    assert!(problems(&inf).is_empty(), "start from an agreeing INF");

    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            without_lines(&inf, "AddReg             = Volnic.Params.Reg"),
            vec!["reaches no Ndi\\params\\SendVolume"],
        ),
        (
            replace_in_line(&inf, &["*PhysicalMediaType"], "14", "0"),
            vec!["*PhysicalMediaType = 0"],
        ),
        (
            replace_in_line(&inf, &["*IfType"], "6 ", "71"),
            vec!["*IfType = 71"],
        ),
        (
            replace_in_line(&inf, &["Characteristics"], "0x1", "0x4"),
            vec!["NCF_VIRTUAL"],
        ),
        (
            replace_in_line(&inf, &["root\\volnic"], "root\\volnic", "root\\volnik"),
            vec![HARDWARE_ID],
        ),
        (
            replace_in_line(&inf, &["ServiceBinary"], "volnic.sys", "other.sys"),
            vec!["ServiceBinary"],
        ),
        (
            replace_in_line(&inf, &["StartType"], "3", "1"),
            vec!["StartType"],
        ),
        (
            replace_in_line(&inf, &["LowerRange"], "ethernet", "wan"),
            vec!["LowerRange"],
        ),
        (
            replace_in_line(&inf, &["ClassGuid"], "4d36e972", "4d36e973"),
            vec!["ClassGuid"],
        ),
        (
            inf.replace("10.0...17763", "10.0...16299"),
            vec!["from build 16299, not 17763"],
        ),
        (
            inf.replace("10.0...17763", "10.0...19041"),
            vec!["from build 19041, not 17763"],
        ),
        (
            inf.replace("NT$ARCH$.10.0...17763", "NT$ARCH$"),
            vec!["names no build"],
        ),
    ];
    for (altered, what) in cases {
        assert_ne!(altered, inf);
        expect_caught(&altered, &what);
    }
}

/// `cargo make` must stamp this very file: wdk-build's stampinf task reads
/// `<output>/volnic.inf` (volnic = the package name), and Makefile.toml's
/// copy task makes it from inf/volnic.inx.
#[test]
fn cargo_make_stamps_inf_volnic_inx() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let cargo: toml::Table = std::fs::read_to_string(format!("{root}/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(cargo["package"]["name"].as_str(), Some("volnic"));
    assert_eq!(
        cargo["package"]["metadata"]["wdk"]["driver-model"]["driver-type"].as_str(),
        Some("WDM")
    );
    let make: toml::Table = std::fs::read_to_string(format!("{root}/Makefile.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let task = &make["tasks"]["copy-inx-to-output"];
    assert_eq!(task["script_runner"].as_str(), Some("@duckscript"));
    let script = task["script"].as_str().unwrap();
    assert!(
        script.contains("${CARGO_MAKE_WORKING_DIRECTORY}/inf/volnic.inx"),
        "{script}"
    );
    assert!(
        script.contains("${WDK_BUILD_OUTPUT_DIRECTORY}/volnic.inf"),
        "{script}"
    );
    let inx = shipped_inf();
    assert!(inx.contains("NT$ARCH$"), "stampinf replaces $ARCH$");
    let parsed = Inf::parse(&inx).unwrap();
    assert_eq!(
        parsed.value("Version", "DriverVer").unwrap(),
        None,
        "stampinf writes DriverVer; the .inx leaves it out"
    );
    assert!(
        inx.is_ascii(),
        "stampinf reads ANSI or UTF-16 INFs; keep it ASCII"
    );
}
