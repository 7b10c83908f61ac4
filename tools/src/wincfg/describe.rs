//! What `list` and `config get` show.

#[allow(unused_imports)]
use super::*;

/// Every setting of one adapter: the stored value, or the default (marked)
/// when absent. `only` limits it to some names (checked against the table).
pub fn describe_settings(
    values: &BTreeMap<String, String>,
    only: &[String],
) -> Result<Vec<(&'static str, String)>, String> {
    let selected: Vec<&'static Setting> = if only.is_empty() {
        settings::ALL.iter().collect()
    } else {
        only.iter()
            .map(|k| find_setting(k))
            .collect::<Result<_, _>>()?
    };
    Ok(selected
        .into_iter()
        .map(|s| {
            let stored = values
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(s.name))
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty());
            let shown = match (stored, s.kind) {
                (Some(v), _) => v,
                (None, Kind::Integer(r)) => format!("{} (default)", r.default),
                (None, Kind::Text(rule)) if rule.required => "(not set: required)".into(),
                (None, Kind::Text(_)) => "(not set)".into(),
            };
            (s.name, shown)
        })
        .collect())
}

/// `volnic list`'s text for one adapter.
pub fn describe_adapter(adapter: &Adapter, values: Option<&BTreeMap<String, String>>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  ({}{})",
        adapter.name.as_deref().unwrap_or("(no interface yet)"),
        adapter.instance_id,
        if adapter.present { "" } else { ", not present" }
    );
    match values {
        Some(values) => {
            for (name, shown) in describe_settings(values, &[]).unwrap_or_default() {
                let _ = writeln!(out, "  {name:<15} {shown}");
            }
        }
        None => {
            let _ = writeln!(out, "  (no driver installed on this device)");
        }
    }
    out
}
