//! The README's configuration table agrees with the settings table the
//! driver validates against: every registry value appears once, with the
//! same default and range.

use volnic_core::settings::{Kind, ALL};

fn readme_rows() -> Vec<Vec<String>> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("| registry value | meaning | default | range |")
        .expect("the configuration table");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// "1000" or "512–1048576, multiple of 512" → numbers in the text.
fn numbers(cell: &str) -> Vec<u32> {
    cell.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[test]
fn readme_table_matches_the_settings_table() {
    let rows = readme_rows();
    assert_eq!(
        rows.len(),
        ALL.len(),
        "README rows: {:?}",
        rows.iter().map(|r| &r[0]).collect::<Vec<_>>()
    );
    for setting in ALL {
        let row = rows
            .iter()
            .find(|r| r[0] == format!("`{}`", setting.name))
            .unwrap_or_else(|| panic!("{} missing from the README table", setting.name));
        match setting.kind {
            Kind::Integer(range) => {
                assert_eq!(
                    numbers(&row[2]),
                    vec![range.default],
                    "{} default",
                    setting.name
                );
                let r = numbers(&row[3]);
                assert_eq!(&r[..2], &[range.min, range.max], "{} range", setting.name);
                if range.step > 1 {
                    assert_eq!(r.get(2), Some(&range.step), "{} step", setting.name);
                }
            }
            Kind::Text(rule) => {
                assert_eq!(
                    row[2] == "required",
                    rule.required,
                    "{} required",
                    setting.name
                );
            }
        }
    }
}
