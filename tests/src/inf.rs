//! A small reader of Windows INF files, enough to check `inf/volnic.inx`
//! against the driver: sections, `key = value` lines, bare lines, comments,
//! line continuations, `%token%` strings and `AddReg` entries
//! (`HKR, subkey, value name, flags, value`).
//!
//! It follows the INF syntax rules that matter here: section names, keys
//! and string tokens are case-insensitive; `;` starts a comment outside
//! quotes; a `\` at the very end of a line continues it; fields are
//! separated by commas outside quotes; `""` inside quotes is one quote;
//! `%%` is a literal percent sign.

use std::collections::BTreeMap;

/// One line of a section: `key = fields` or bare `fields`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the file (of the line's start).
    pub number: usize,
    pub key: Option<String>,
    /// Comma-separated fields, quotes removed, tokens not yet resolved.
    pub fields: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Section {
    pub name: String,
    pub lines: Vec<Line>,
}

/// A registry entry of an AddReg section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegEntry {
    pub number: usize,
    /// `HKR`, `HKLM`, ...
    pub root: String,
    pub subkey: String,
    pub value_name: String,
    /// The flags field (`0` or empty: REG_SZ; 0x00010001: REG_DWORD ...).
    pub flags: u32,
    /// The value, with `%tokens%` resolved.
    pub value: String,
}

#[derive(Clone, Debug, Default)]
pub struct Inf {
    pub sections: Vec<Section>,
}

/// Splits a line into an optional key and comma-separated fields, at `=`
/// and `,` outside quotes, dropping a `;` comment.
fn split_line(text: &str) -> (Option<String>, Vec<String>) {
    let mut key = None;
    let mut raw_fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                // `""` inside quotes toggles twice: `unquote` reads it as one quote.
                quoted = !quoted;
                field.push(c);
            }
            ';' if !quoted => break,
            '=' if !quoted && key.is_none() && raw_fields.is_empty() => {
                key = Some(unquote(&field));
                field.clear();
            }
            ',' if !quoted => raw_fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    raw_fields.push(field);
    let mut fields: Vec<String> = raw_fields.iter().map(|f| unquote(f)).collect();
    if key.is_none() && fields.len() == 1 && fields[0].is_empty() {
        fields.clear();
    }
    (key, fields)
}

/// A field's text: blanks around it dropped, quotes removed (blanks inside
/// them kept), `""` inside quotes read as one `"`.
fn unquote(raw: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = raw.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.push('"');
            }
            '"' => quoted = !quoted,
            c => out.push(c),
        }
    }
    out
}

/// Does the physical line end with a continuation `\` (outside a comment)?
fn continues(line: &str) -> bool {
    let mut quoted = false;
    let mut code_end = line.len();
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                code_end = i;
                break;
            }
            _ => {}
        }
    }
    line[..code_end].trim_end().ends_with('\\') && code_end == line.len()
}

impl Inf {
    /// Parses INF text. Fails on a line outside any section that is not a
    /// comment, and on an unterminated section header.
    pub fn parse(text: &str) -> Result<Inf, String> {
        let mut inf = Inf::default();
        let mut pending = String::new();
        let mut pending_start = 0;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let raw = raw.trim_start_matches('\u{feff}');
            if pending.is_empty() {
                pending_start = number;
            }
            if continues(raw) {
                let body = raw.trim_end();
                pending.push_str(&body[..body.len() - 1]);
                continue;
            }
            pending.push_str(raw);
            let line = std::mem::take(&mut pending);
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with(';') {
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let end = rest
                    .find(']')
                    .ok_or_else(|| format!("line {pending_start}: section header without ']'"))?;
                inf.sections.push(Section {
                    name: rest[..end].trim().to_string(),
                    lines: Vec::new(),
                });
                continue;
            }
            let (key, fields) = split_line(trimmed);
            let section = inf.sections.last_mut().ok_or_else(|| {
                format!("line {pending_start}: '{trimmed}' is outside any section")
            })?;
            section.lines.push(Line {
                number: pending_start,
                key,
                fields,
            });
        }
        Ok(inf)
    }

    /// The section named `name` (case-insensitive). INF sections of the same
    /// name are one section; the lines of all of them are returned.
    pub fn section(&self, name: &str) -> Option<Section> {
        let mut found: Option<Section> = None;
        for s in self
            .sections
            .iter()
            .filter(|s| s.name.eq_ignore_ascii_case(name))
        {
            found
                .get_or_insert_with(|| Section {
                    name: s.name.clone(),
                    lines: Vec::new(),
                })
                .lines
                .extend(s.lines.iter().cloned());
        }
        found
    }

    /// Every `key = ...` line of `section` with this key (case-insensitive).
    pub fn entries(&self, section: &str, key: &str) -> Vec<Line> {
        self.section(section)
            .map(|s| {
                s.lines
                    .into_iter()
                    .filter(|l| {
                        l.key
                            .as_deref()
                            .is_some_and(|k| k.eq_ignore_ascii_case(key))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first field of the only `key = value` line of `section`, tokens
    /// resolved. `None` when absent; an error when given twice.
    pub fn value(&self, section: &str, key: &str) -> Result<Option<String>, String> {
        let entries = self.entries(section, key);
        match entries.as_slice() {
            [] => Ok(None),
            [line] => Ok(Some(
                self.resolve(line.fields.first().map_or("", String::as_str))?,
            )),
            _ => Err(format!("[{section}] gives {key} {} times", entries.len())),
        }
    }

    /// The `[Strings]` entries, keys lower-cased.
    pub fn strings(&self) -> BTreeMap<String, String> {
        self.section("Strings")
            .map(|s| {
                s.lines
                    .into_iter()
                    .filter_map(|l| {
                        let key = l.key?.to_ascii_lowercase();
                        Some((key, l.fields.join(",")))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replaces `%token%` with its `[Strings]` value and `%%` with `%`.
    /// Numeric tokens (`%13%`, directory ids) are kept as they are. An
    /// unknown token is an error.
    pub fn resolve(&self, text: &str) -> Result<String, String> {
        let strings = self.strings();
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let end = after
                .find('%')
                .ok_or_else(|| format!("unterminated %token% in '{text}'"))?;
            let token = &after[..end];
            if token.is_empty() {
                out.push('%');
            } else if token.chars().all(|c| c.is_ascii_digit()) {
                out.push('%');
                out.push_str(token);
                out.push('%');
            } else {
                let value = strings
                    .get(&token.to_ascii_lowercase())
                    .ok_or_else(|| format!("%{token}% is not in [Strings]"))?;
                out.push_str(value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The registry entries of every AddReg section named by `AddReg`
    /// directives in `install_section`, in order.
    pub fn add_reg(&self, install_section: &str) -> Result<Vec<RegEntry>, String> {
        let mut entries = Vec::new();
        for directive in self.entries(install_section, "AddReg") {
            for name in directive.fields.iter().filter(|n| !n.is_empty()) {
                let section = self.section(name).ok_or_else(|| {
                    format!(
                        "line {}: AddReg names [{name}], which does not exist",
                        directive.number
                    )
                })?;
                for line in section.lines {
                    entries.push(self.reg_entry(&line)?);
                }
            }
        }
        Ok(entries)
    }

    fn reg_entry(&self, line: &Line) -> Result<RegEntry, String> {
        if line.key.is_some() {
            return Err(format!(
                "line {}: an AddReg line has no '=' (found a key)",
                line.number
            ));
        }
        let field = |i: usize| line.fields.get(i).map_or("", String::as_str);
        let flags_text = field(3);
        let flags = if flags_text.is_empty() {
            0
        } else if let Some(hex) = flags_text
            .strip_prefix("0x")
            .or_else(|| flags_text.strip_prefix("0X"))
        {
            u32::from_str_radix(hex, 16)
                .map_err(|_| format!("line {}: bad flags '{flags_text}'", line.number))?
        } else {
            flags_text
                .parse()
                .map_err(|_| format!("line {}: bad flags '{flags_text}'", line.number))?
        };
        Ok(RegEntry {
            number: line.number,
            root: field(0).to_string(),
            subkey: self.resolve(field(1))?,
            value_name: self.resolve(field(2))?,
            flags,
            value: self.resolve(&line.fields.get(4..).unwrap_or(&[]).join(","))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
; a comment
[Version]
Signature = "$WINDOWS NT$" ; trailing comment
Class     = Net

[Install]
AddReg = One, Two
AddReg = Three

[One]
HKR, Ndi\params\A, ParamDesc, 0, %A.Desc%
HKR, Ndi\params\A, default,    , "4096"
[Two]
HKR, , EventMessageFile, 0x00020000, "%%SystemRoot%%\x.dll;y"
[Three]
HKR, Ndi\params\B, ParamDesc, 0, "with ""quotes"", and a comma"
HKR, Ndi\params\B, \
     type, 0, "edit"

[Strings]
A.Desc = "Label of A"
"#;

    #[test]
    fn parses_sections_keys_and_comments() {
        let inf = Inf::parse(SAMPLE).unwrap();
        assert_eq!(
            inf.value("version", "SIGNATURE").unwrap().as_deref(),
            Some("$WINDOWS NT$")
        );
        assert_eq!(
            inf.value("Version", "Class").unwrap().as_deref(),
            Some("Net")
        );
        assert_eq!(inf.value("Version", "Provider").unwrap(), None);
    }

    #[test]
    fn add_reg_entries_follow_every_directive_in_order() {
        let inf = Inf::parse(SAMPLE).unwrap();
        let entries = inf.add_reg("Install").unwrap();
        let got: Vec<_> = entries
            .iter()
            .map(|e| {
                (
                    e.subkey.as_str(),
                    e.value_name.as_str(),
                    e.flags,
                    e.value.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("Ndi\\params\\A", "ParamDesc", 0, "Label of A"),
                ("Ndi\\params\\A", "default", 0, "4096"),
                ("", "EventMessageFile", 0x20000, "%SystemRoot%\\x.dll;y"),
                (
                    "Ndi\\params\\B",
                    "ParamDesc",
                    0,
                    "with \"quotes\", and a comma"
                ),
                ("Ndi\\params\\B", "type", 0, "edit"),
            ]
        );
    }

    #[test]
    fn errors_are_named() {
        assert!(Inf::parse("Key = 1\n")
            .unwrap_err()
            .contains("outside any section"));
        assert!(Inf::parse("[Version\n")
            .unwrap_err()
            .contains("without ']'"));
        let inf = Inf::parse("[S]\nAddReg = Missing\n").unwrap();
        assert!(inf.add_reg("S").unwrap_err().contains("[Missing]"));
        let inf = Inf::parse("[S]\nK = %nope%\n").unwrap();
        assert!(inf.value("S", "K").unwrap_err().contains("%nope%"));
        let inf = Inf::parse("[S]\nK = 1\nK = 2\n").unwrap();
        assert!(inf.value("S", "K").unwrap_err().contains("2 times"));
    }

    #[test]
    fn directory_ids_stay() {
        let inf = Inf::parse("[S]\nServiceBinary = %13%\\volnic.sys\n").unwrap();
        assert_eq!(
            inf.value("S", "ServiceBinary").unwrap().as_deref(),
            Some("%13%\\volnic.sys")
        );
    }
}
