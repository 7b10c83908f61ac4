//! Text generated from the settings table (`core/src/settings.rs`): the
//! INF's `Ndi\params` entries and their `[Strings]` labels
//! (`inf/volnic.inx`), and the README's configuration table. Each sits
//! between a BEGIN and an END marker line in its file; `cargo run -p
//! volnic-tools --example generate-settings` rewrites what lies between
//! them, and a test (`tests/tests/inf_agreement.rs`) fails when the
//! checked-in text is not what the table generates.
//!
//! Device Manager stores every Advanced-tab value as REG_SZ (numbers as
//! decimal text), so every entry has flags 0; integers are `int` entries in
//! base 10 with the table's default, min, max and step; text is an `edit`
//! entry with an empty default, `optional` = 1 when the driver starts
//! without it, and the table's `LimitText` and `UpperCase`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use volnic_core::settings::{Kind, Setting, ALL};

/// The command that rewrites the generated text.
pub const COMMAND: &str = "cargo run -p volnic-tools --example generate-settings";

/// Where generated text starts and ends. The INF must stay ASCII, so the
/// markers are too.
const BEGIN: &str = "BEGIN generated from core/src/settings.rs -- do not edit";
const END: &str = "END generated from core/src/settings.rs";

/// One generated region: the file (relative to the repository root), the
/// comment that starts its marker lines, and the text between them.
pub struct Region {
    pub file: &'static str,
    comment: &'static str,
    /// Tells regions of one file apart ("params", "strings", "table").
    pub part: &'static str,
    pub body: String,
}

/// Every generated region, in file order.
pub fn regions() -> Vec<Region> {
    vec![
        Region {
            file: "inf/volnic.inx",
            comment: ";",
            part: "params",
            body: inf_params(&ALL),
        },
        Region {
            file: "inf/volnic.inx",
            comment: ";",
            part: "strings",
            body: inf_strings(&ALL),
        },
        Region {
            file: "README.md",
            comment: "<!--",
            part: "table",
            body: readme_table(&ALL),
        },
    ]
}

impl Region {
    fn begin(&self) -> String {
        match self.comment {
            "<!--" => format!("<!-- {BEGIN} ({}): {COMMAND} -->", self.part),
            c => format!("{c} {BEGIN} ({}): {COMMAND}", self.part),
        }
    }
    fn end(&self) -> String {
        match self.comment {
            "<!--" => format!("<!-- {END} ({}) -->", self.part),
            c => format!("{c} {END} ({})", self.part),
        }
    }
}

/// `text` with the lines between `region`'s marker lines replaced by its
/// body; an error naming the missing marker when they are not there once
/// each, in order.
pub fn splice(text: &str, region: &Region) -> Result<String, String> {
    let (begin, end) = (region.begin(), region.end());
    let find = |marker: &str| -> Result<usize, String> {
        let mut hits = text.match_indices(marker).map(|(i, _)| i);
        match (hits.next(), hits.next()) {
            (Some(i), None) => Ok(i),
            (None, _) => Err(format!(
                "{} has no line '{marker}': put the marker lines back around the generated {} and run {COMMAND}",
                region.file, region.part
            )),
            (Some(_), Some(_)) => Err(format!(
                "{} has the line '{marker}' twice: keep one and run {COMMAND}",
                region.file
            )),
        }
    };
    let start = find(&begin)?;
    let stop = find(&end)?;
    let body_start = text[start..]
        .find('\n')
        .map(|n| start + n + 1)
        .filter(|&b| b <= stop)
        .ok_or_else(|| {
            format!(
                "{}: '{end}' comes before '{begin}': put it after and run {COMMAND}",
                region.file
            )
        })?;
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..body_start]);
    out.push_str(&region.body);
    out.push_str(&text[stop..]);
    Ok(out)
}

/// Each file that holds generated regions, with what it holds now and what
/// it should hold.
pub fn files(root: &Path) -> Result<Vec<(PathBuf, String, String)>, String> {
    let mut out: Vec<(PathBuf, String, String)> = Vec::new();
    for region in regions() {
        let path = root.join(region.file);
        if out.last().is_none_or(|(p, _, _)| *p != path) {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            out.push((path, text.clone(), text));
        }
        let (_, _, want) = out.last_mut().expect("pushed above");
        *want = splice(want, &region)?;
    }
    Ok(out)
}

/// The files whose generated text is not current (empty: all are).
pub fn stale(root: &Path) -> Result<Vec<PathBuf>, String> {
    Ok(files(root)?
        .into_iter()
        .filter(|(_, now, want)| now != want)
        .map(|(p, _, _)| p)
        .collect())
}

/// Rewrites the generated regions; returns the files it changed.
pub fn write(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut changed = Vec::new();
    for (path, now, want) in files(root)? {
        if now != want {
            std::fs::write(&path, want)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            changed.push(path);
        }
    }
    Ok(changed)
}

/// The `[Strings]` key of a setting's label.
fn desc_key(s: &Setting) -> String {
    format!("{}.Desc", s.name)
}

/// An INF quoted string: `"` doubled, `%` doubled (else a string key).
fn inf_quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\"").replace('%', "%%"))
}

/// The `Ndi\params` AddReg lines, one block per setting.
pub fn inf_params(settings: &[Setting]) -> String {
    let width = settings
        .iter()
        .map(|s| format!("Ndi\\params\\{},", s.name).len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (i, s) in settings.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut entries: Vec<(&str, String)> = vec![("ParamDesc", format!("%{}%", desc_key(s)))];
        match s.kind {
            Kind::Integer(r) => {
                let _ = writeln!(
                    out,
                    "; {}: {}..{}, default {}",
                    s.name, r.min, r.max, r.default
                );
                entries.push(("type", inf_quoted("int")));
                entries.push(("default", inf_quoted(&r.default.to_string())));
                entries.push(("min", inf_quoted(&r.min.to_string())));
                entries.push(("max", inf_quoted(&r.max.to_string())));
                entries.push(("step", inf_quoted(&r.step.to_string())));
                entries.push(("base", inf_quoted("10")));
            }
            Kind::Text(rule) => {
                let what = if rule.required {
                    "required"
                } else {
                    "optional"
                };
                let _ = writeln!(out, "; {}: {what} text", s.name);
                entries.push(("type", inf_quoted("edit")));
                entries.push(("default", inf_quoted("")));
                if !rule.required {
                    entries.push(("optional", inf_quoted("1")));
                }
                if let Some(limit) = rule.limit_text {
                    entries.push(("LimitText", inf_quoted(&limit.to_string())));
                }
                if rule.upper_case {
                    entries.push(("UpperCase", inf_quoted("1")));
                }
            }
        }
        let subkey = format!("Ndi\\params\\{},", s.name);
        for (key, value) in entries {
            let key = format!("{key},");
            let _ = writeln!(out, "HKR, {subkey:<width$} {key:<10} 0, {value}");
        }
    }
    out
}

/// The `[Strings]` lines of the settings' labels (Device Manager's names).
pub fn inf_strings(settings: &[Setting]) -> String {
    let mut out = String::new();
    for s in settings {
        let _ = writeln!(out, "{:<26} = {}", desc_key(s), inf_quoted(s.display));
    }
    out
}

/// Markdown text: `\` and `|` escaped.
fn md(text: &str) -> String {
    text.replace('\\', "\\\\").replace('|', "\\|")
}

/// The README's configuration table.
pub fn readme_table(settings: &[Setting]) -> String {
    let mut out = String::from(
        "| registry value | Device Manager label | meaning | default | range |\n| --- | --- | --- | --- | --- |\n",
    );
    for s in settings {
        let (default, range) = match s.kind {
            Kind::Integer(r) if r.step > 1 => (
                r.default.to_string(),
                format!("{}–{}, multiple of {}", r.min, r.max, r.step),
            ),
            Kind::Integer(r) => (r.default.to_string(), format!("{}–{}", r.min, r.max)),
            Kind::Text(rule) => (
                String::from(if rule.required { "required" } else { "absent" }),
                match rule.limit_text {
                    Some(n) => format!("text, at most {n} characters"),
                    None => String::from("text"),
                },
            ),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {default} | {range} |",
            s.name,
            md(s.display),
            md(s.help)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use volnic_core::settings::{IntRange, TextRule};

    const NUMBER: Setting = Setting {
        name: "Size",
        kind: Kind::Integer(IntRange {
            default: 8,
            min: 4,
            max: 64,
            step: 4,
        }),
        display: "Size \"big\" 100%",
        help: "a | b \\ c",
    };
    const NAME: Setting = Setting {
        name: "LongerName",
        kind: Kind::Text(TextRule {
            required: false,
            limit_text: Some(5),
            upper_case: true,
        }),
        display: "Name",
        help: "h",
    };

    #[test]
    fn inf_params_are_reg_sz_entries_aligned_on_the_longest_name() {
        let text = inf_params(&[NUMBER, NAME]);
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("HKR")).collect();
        assert_eq!(
            lines,
            [
                r#"HKR, Ndi\params\Size,       ParamDesc, 0, %Size.Desc%"#,
                r#"HKR, Ndi\params\Size,       type,      0, "int""#,
                r#"HKR, Ndi\params\Size,       default,   0, "8""#,
                r#"HKR, Ndi\params\Size,       min,       0, "4""#,
                r#"HKR, Ndi\params\Size,       max,       0, "64""#,
                r#"HKR, Ndi\params\Size,       step,      0, "4""#,
                r#"HKR, Ndi\params\Size,       base,      0, "10""#,
                r#"HKR, Ndi\params\LongerName, ParamDesc, 0, %LongerName.Desc%"#,
                r#"HKR, Ndi\params\LongerName, type,      0, "edit""#,
                r#"HKR, Ndi\params\LongerName, default,   0, """#,
                r#"HKR, Ndi\params\LongerName, optional,  0, "1""#,
                r#"HKR, Ndi\params\LongerName, LimitText, 0, "5""#,
                r#"HKR, Ndi\params\LongerName, UpperCase, 0, "1""#,
            ]
        );
    }

    #[test]
    fn inf_strings_double_quotes_and_percent_signs() {
        assert_eq!(
            inf_strings(&[NUMBER]),
            "Size.Desc                  = \"Size \"\"big\"\" 100%%\"\n"
        );
    }

    #[test]
    fn readme_rows_escape_markdown() {
        let table = readme_table(&[NUMBER, NAME]);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "| `Size` | Size \"big\" 100% | a \\| b \\\\ c | 8 | 4–64, multiple of 4 |",
                "| `LongerName` | Name | h | absent | text, at most 5 characters |",
            ]
        );
    }

    fn region() -> Region {
        Region {
            file: "x.inf",
            comment: ";",
            part: "params",
            body: "new\n".into(),
        }
    }

    #[test]
    fn splice_replaces_only_between_the_markers() {
        let r = region();
        let text = format!("a\n{}\nold\nlines\n{}\nb\n", r.begin(), r.end());
        let want = format!("a\n{}\nnew\n{}\nb\n", r.begin(), r.end());
        assert_eq!(splice(&text, &r).unwrap(), want);
        assert_eq!(splice(&want, &r).unwrap(), want);
    }

    #[test]
    fn splice_names_a_missing_or_doubled_marker() {
        let r = region();
        let no_end = format!("a\n{}\nold\n", r.begin());
        let e = splice(&no_end, &r).unwrap_err();
        assert!(
            e.contains("x.inf has no line '; END") && e.contains(COMMAND),
            "{e}"
        );
        let twice = format!("{0}\n{0}\n{1}\n", r.begin(), r.end());
        assert!(splice(&twice, &r).unwrap_err().contains("twice"));
        let reversed = format!("{1}\n{0}\n", r.begin(), r.end());
        assert!(splice(&reversed, &r).unwrap_err().contains("comes before"));
    }
}
