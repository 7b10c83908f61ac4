//! The hex layout used by the examples in `docs/FORMAT.md`.

use std::fmt::Write;

/// Dumps `bytes` as lines of 16 bytes: `OOOO: hh hh ...`, offsets in hex.
/// A run of lines equal to the line before them is folded into one `*`
/// line, as `hexdump` does; the final offset line closes the dump.
pub fn dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut folded = false;
    for (i, line) in bytes.chunks(16).enumerate() {
        if i > 0 && line.len() == 16 && *line == bytes[(i - 1) * 16..i * 16] {
            if !folded {
                out.push_str("*\n");
                folded = true;
            }
            continue;
        }
        folded = false;
        let _ = write!(out, "{:04x}:", i * 16);
        for b in line {
            let _ = write!(out, " {b:02x}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{:04x}", bytes.len());
    out
}

/// The text of the fenced block that follows `<!-- hex:NAME -->` in `doc`.
pub fn doc_block<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("<!-- hex:{name} -->");
    let after = &doc[doc.find(&marker)? + marker.len()..];
    let start = after.find("```text\n")? + "```text\n".len();
    let body = &after[start..];
    Some(&body[..body.find("```")?])
}
