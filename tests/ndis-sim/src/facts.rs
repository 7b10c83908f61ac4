//! The NDIS facts compiled from the real WDK headers (`tests/ndis-facts/`,
//! a copy of `../shared/reference/ndis-facts/`): constant values, structure
//! layouts and function prototypes, as the simulation's and the tests'
//! reference. Nothing here reads the driver's own declarations; a value the
//! simulation judges the driver by comes from these tables.
//!
//! Rows are taken for the driver's contract, an NDIS 6.30 miniport, as
//! compiled from WDK 10.0.16299.0 (`wdk_version` exactly `10.0.16299.0`);
//! [`Facts::versions_agree`] reports where 10.0.26100.2454 says otherwise.
//!
//! The lookups panic with a message naming the missing row: they run in
//! tests, where a missing fact is a test failure that must say what the
//! tables lack.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The WDK whose NDIS 6.30 rows are the contract.
pub const CONTRACT_WDK: &str = "10.0.16299.0";
/// The newer WDK whose NDIS 6.30 rows must agree with the contract's.
pub const NEWER_WDK: &str = "10.0.26100.2454";

pub const CONSTANTS_TSV: &str = include_str!("../../ndis-facts/constants.tsv");
pub const LAYOUTS_TSV: &str = include_str!("../../ndis-facts/layouts.tsv");
pub const FUNCTIONS_TSV: &str = include_str!("../../ndis-facts/functions.tsv");
pub const RUST_NAMES_TSV: &str = include_str!("../../ndis-facts/rust-names.tsv");

/// One row of `layouts.tsv`: a type (member empty: size and alignment) or
/// one member (offset and size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutRow {
    /// sizeof (type row) or offset (member row).
    pub size_or_offset: u64,
    /// alignof (type row) or the member's size (member row).
    pub member_size: u64,
}

/// One row of `functions.tsv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// `ndis.sys`, `ntoskrnl.exe`, `driver callback`, ...
    pub module: String,
    pub return_type: String,
    pub param_types: Vec<String>,
    /// x64 sizeof of each parameter; `None` for a variadic tail.
    pub param_sizes: Vec<Option<u64>>,
    pub min_windows: String,
}

/// One row of `rust-names.tsv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RustName {
    pub kind: String,
    pub rust_name: String,
    pub c_name: String,
    pub note: String,
}

/// The four tables, parsed.
#[derive(Debug, Default)]
pub struct Facts {
    /// (wdk_version, name) → value.
    constants: BTreeMap<(String, String), u64>,
    /// (wdk_version, type, member) → row.
    layouts: BTreeMap<(String, String, String), LayoutRow>,
    pub functions: Vec<Function>,
    pub rust_names: Vec<RustName>,
}

fn parse_hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

/// Data rows of a TSV table: its header line and empty lines skipped.
fn rows(table: &str) -> impl Iterator<Item = Vec<&str>> {
    table
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split('\t').collect())
}

impl Facts {
    /// Parses the tables; a malformed row is an error naming it.
    pub fn parse(
        constants: &str,
        layouts: &str,
        functions: &str,
        rust_names: &str,
    ) -> Result<Facts, String> {
        let mut facts = Facts::default();
        for row in rows(constants) {
            let [name, value, _header, version] = row[..] else {
                return Err(format!("constants.tsv: malformed row {row:?}"));
            };
            let value =
                parse_hex(value).ok_or_else(|| format!("constants.tsv: bad value in {row:?}"))?;
            facts
                .constants
                .insert((version.to_owned(), name.to_owned()), value);
        }
        for row in rows(layouts) {
            let [ty, member, first, second, version] = row[..] else {
                return Err(format!("layouts.tsv: malformed row {row:?}"));
            };
            let (Some(size_or_offset), Some(member_size)) = (parse_hex(first), parse_hex(second))
            else {
                return Err(format!("layouts.tsv: bad number in {row:?}"));
            };
            facts.layouts.insert(
                (version.to_owned(), ty.to_owned(), member.to_owned()),
                LayoutRow {
                    size_or_offset,
                    member_size,
                },
            );
        }
        for row in rows(functions) {
            let [name, module, return_type, types, sizes, min_windows, _source] = row[..] else {
                return Err(format!("functions.tsv: malformed row {row:?}"));
            };
            let param_types = types.split("; ").map(str::to_owned).collect();
            let param_sizes = sizes
                .split(',')
                .map(|s| match s {
                    "-" => Ok(None),
                    _ => s
                        .parse::<u64>()
                        .map(Some)
                        .map_err(|_| format!("functions.tsv: bad size in {row:?}")),
                })
                .collect::<Result<_, _>>()?;
            facts.functions.push(Function {
                name: name.to_owned(),
                module: module.to_owned(),
                return_type: return_type.to_owned(),
                param_types,
                param_sizes,
                min_windows: min_windows.to_owned(),
            });
        }
        for row in rows(rust_names) {
            let cells: Vec<&str> = row.iter().map(|c| c.trim()).collect();
            if cells.len() < 3 || cells[0] == "kind" {
                continue;
            }
            facts.rust_names.push(RustName {
                kind: cells[0].to_owned(),
                rust_name: cells[1].to_owned(),
                c_name: cells[2].to_owned(),
                note: cells.get(3).copied().unwrap_or("").to_owned(),
            });
        }
        Ok(facts)
    }

    /// The tables compiled into this crate.
    pub fn get() -> &'static Facts {
        static FACTS: OnceLock<Facts> = OnceLock::new();
        FACTS.get_or_init(|| {
            Facts::parse(CONSTANTS_TSV, LAYOUTS_TSV, FUNCTIONS_TSV, RUST_NAMES_TSV)
                .unwrap_or_else(|e| panic!("tests/ndis-facts: {e}"))
        })
    }

    /// The contract's value of constant `name`, if the tables hold it.
    pub fn try_constant(&self, name: &str) -> Option<u64> {
        self.constant_in(CONTRACT_WDK, name)
    }

    pub fn constant_in(&self, version: &str, name: &str) -> Option<u64> {
        self.constants
            .get(&(version.to_owned(), name.to_owned()))
            .copied()
    }

    /// The contract's row for `ty` (member `""`: the type itself).
    pub fn try_layout(&self, ty: &str, member: &str) -> Option<LayoutRow> {
        self.layout_in(CONTRACT_WDK, ty, member)
    }

    pub fn layout_in(&self, version: &str, ty: &str, member: &str) -> Option<LayoutRow> {
        self.layouts
            .get(&(version.to_owned(), ty.to_owned(), member.to_owned()))
            .copied()
    }

    /// Whether the tables hold a type row for `ty`.
    pub fn has_type(&self, ty: &str) -> bool {
        self.try_layout(ty, "").is_some()
    }

    /// The members the contract lists for `ty`, in offset order.
    pub fn members(&self, ty: &str) -> Vec<(String, LayoutRow)> {
        let mut members: Vec<(String, LayoutRow)> = self
            .layouts
            .iter()
            .filter(|((version, t, m), _)| version == CONTRACT_WDK && t == ty && !m.is_empty())
            .map(|((_, _, m), row)| (m.clone(), *row))
            .collect();
        members.sort_by_key(|(_, row)| row.size_or_offset);
        members
    }

    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// Every contract row (constant or layout) whose NDIS 6.30 value in
    /// the newer WDK differs, one line each.
    pub fn versions_agree(&self) -> Vec<String> {
        let mut differences = Vec::new();
        for ((version, name), value) in &self.constants {
            if version != CONTRACT_WDK {
                continue;
            }
            if let Some(newer) = self.constant_in(NEWER_WDK, name) {
                if newer != *value {
                    differences.push(format!("{name}: {value:#x} vs {newer:#x}"));
                }
            }
        }
        for ((version, ty, member), row) in &self.layouts {
            if version != CONTRACT_WDK {
                continue;
            }
            if let Some(newer) = self.layout_in(NEWER_WDK, ty, member) {
                if newer != *row {
                    differences.push(format!("{ty}.{member}: {row:?} vs {newer:?}"));
                }
            }
        }
        differences
    }
}

/// The contract value of constant `name`; panics naming it if absent.
pub fn constant(name: &str) -> u64 {
    Facts::get().try_constant(name).unwrap_or_else(|| {
        panic!("the NDIS facts tables (tests/ndis-facts/constants.tsv) lack {name}")
    })
}

/// `constant` as the 32-bit NDIS_STATUS the driver returns.
pub fn status(name: &str) -> i32 {
    constant(name) as u32 as i32
}

/// `constant` narrowed to u8 (object-header types and revisions).
pub fn u8_constant(name: &str) -> u8 {
    let value = constant(name);
    u8::try_from(value).unwrap_or_else(|_| panic!("{name} = {value:#x} is not a byte"))
}

/// `constant` narrowed to u16 (object-header sizes).
pub fn u16_constant(name: &str) -> u16 {
    let value = constant(name);
    u16::try_from(value).unwrap_or_else(|_| panic!("{name} = {value:#x} is not 16-bit"))
}

/// `constant` narrowed to u32 (flags, OIDs, enum values).
pub fn u32_constant(name: &str) -> u32 {
    let value = constant(name);
    u32::try_from(value).unwrap_or_else(|_| panic!("{name} = {value:#x} is not 32-bit"))
}

/// sizeof of C type `ty` under the contract.
pub fn size_of(ty: &str) -> usize {
    layout_row(ty, "").size_or_offset as usize
}

/// Offset of `member` (dotted path for nested records) in `ty`.
pub fn offset_of(ty: &str, member: &str) -> usize {
    layout_row(ty, member).size_or_offset as usize
}

/// Size of `member` in `ty`.
pub fn member_size(ty: &str, member: &str) -> usize {
    layout_row(ty, member).member_size as usize
}

fn layout_row(ty: &str, member: &str) -> LayoutRow {
    Facts::get().try_layout(ty, member).unwrap_or_else(|| {
        panic!("the NDIS facts tables (tests/ndis-facts/layouts.tsv) lack {ty} {member:?}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse_and_hold_the_contract_rows() {
        let facts = Facts::get();
        assert_eq!(constant("NDIS_STATUS_PENDING"), 0x103);
        assert_eq!(size_of("NDIS_OBJECT_HEADER"), 4);
        assert_eq!(offset_of("NDIS_OID_REQUEST", "DATA"), 0x20);
        assert!(facts.function("NdisMIndicateReceiveNetBufferLists").is_some());
        assert!(facts.rust_names.iter().any(|r| r.kind == "callback"));
    }

    #[test]
    fn a_malformed_row_is_refused_with_its_text() {
        let err = Facts::parse("h\nNAME\tnot-hex\tndis.h\tv\n", "h\n", "h\n", "h\n").unwrap_err();
        assert!(err.contains("NAME"), "{err}");
    }
}
