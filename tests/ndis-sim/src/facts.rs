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

    /// Every contract constant whose name starts with `prefix`, by name.
    pub fn constants_with_prefix(&self, prefix: &str) -> Vec<(String, u64)> {
        self.constants
            .iter()
            .filter(|((version, name), _)| version == CONTRACT_WDK && name.starts_with(prefix))
            .map(|((_, name), value)| (name.clone(), *value))
            .collect()
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

/// The OID named `name` (`OID_GEN_...`), from the tables.
pub fn oid(name: &str) -> u32 {
    assert!(name.starts_with("OID_"), "{name} is not an OID name");
    u32_constant(name)
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

/// The OR of every contract constant whose name starts with `prefix`
/// (e.g. `NDIS_MINIPORT_ATTRIBUTES_`): the flag bits the tables know.
pub fn flags_with_prefix(prefix: &str) -> u64 {
    Facts::get()
        .constants_with_prefix(prefix)
        .into_iter()
        .fold(0, |all, (_, value)| all | value)
}

/// The contract constant whose name starts with `prefix` and whose value is
/// `value`, if any (e.g. the `NDIS_STATUS_` name of a status code).
pub fn name_of(prefix: &str, value: u64) -> Option<String> {
    Facts::get()
        .constants_with_prefix(prefix)
        .into_iter()
        .find(|(_, v)| *v == value)
        .map(|(name, _)| name)
}

/// The contract's name of NDIS_STATUS `status`, if the tables hold one.
pub fn status_name(status: i32) -> Option<String> {
    Facts::get()
        .constants_with_prefix("NDIS_STATUS_")
        .into_iter()
        // NDIS_STATUS_INDICATION_REVISION_1 names a revision, not a status.
        .filter(|(name, _)| !name.starts_with("NDIS_STATUS_INDICATION_"))
        .find(|(_, value)| *value == u64::from(status as u32))
        .map(|(name, _)| name)
}

/// The `Size` an object header of `record` at `revision` must carry:
/// `NDIS_SIZEOF_<record>_REVISION_<n>` (the record's name without its
/// `NDIS_` prefix), provided the tables hold `<record>_REVISION_<n>` with
/// value n under the contract. `None`: no such revision in NDIS 6.30.
pub fn revision_size(record: &str, revision: u8) -> Option<u16> {
    let facts = Facts::get();
    let named = facts.try_constant(&format!("{record}_REVISION_{revision}"))?;
    if named != u64::from(revision) {
        return None;
    }
    let short = record.strip_prefix("NDIS_").unwrap_or(record);
    let size = facts.try_constant(&format!("NDIS_SIZEOF_{short}_REVISION_{revision}"))?;
    u16::try_from(size).ok()
}

/// An NDIS_OBJECT_HEADER as read from memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub revision: u8,
    pub size: u16,
}

impl Header {
    /// The header at the start of `base` (every NDIS object begins with
    /// one), read at the tables' offsets.
    ///
    /// # Safety
    /// `base` points to at least `size_of("NDIS_OBJECT_HEADER")` readable
    /// bytes.
    pub unsafe fn read(base: *const u8) -> Header {
        // SAFETY: the header's bytes are readable (caller).
        let kind = unsafe { read::<u8>(base, "NDIS_OBJECT_HEADER", "Type") };
        // SAFETY: as above.
        let revision = unsafe { read::<u8>(base, "NDIS_OBJECT_HEADER", "Revision") };
        // SAFETY: as above.
        let size = unsafe { read::<u16>(base, "NDIS_OBJECT_HEADER", "Size") };
        Header {
            kind,
            revision,
            size,
        }
    }

    /// Writes this header at the start of `base`.
    ///
    /// # Safety
    /// `base` points to at least `size_of("NDIS_OBJECT_HEADER")` writable
    /// bytes.
    pub unsafe fn write(self, base: *mut u8) {
        // SAFETY: the header's bytes are writable (caller).
        unsafe { write(base, "NDIS_OBJECT_HEADER", "Type", self.kind) };
        // SAFETY: as above.
        unsafe { write(base, "NDIS_OBJECT_HEADER", "Revision", self.revision) };
        // SAFETY: as above.
        unsafe { write(base, "NDIS_OBJECT_HEADER", "Size", self.size) };
    }

    /// The header NDIS expects on `record` at `revision`: type constant
    /// `type_name`, size `NDIS_SIZEOF_<record>_REVISION_<n>`, all from the
    /// tables.
    pub fn expected(type_name: &str, record: &str, revision: u8) -> Header {
        Header {
            kind: u8_constant(type_name),
            revision,
            size: revision_size(record, revision).unwrap_or_else(|| {
                panic!("the NDIS facts tables hold no NDIS 6.30 revision {revision} of {record}")
            }),
        }
    }

    /// Judges this header as one of `record`: its type must be the tables'
    /// `type_name`, its revision one of the record's NDIS 6.30 revisions
    /// from `min_revision` on, and its size that revision's
    /// `NDIS_SIZEOF_..._REVISION_n`. The error names what is wrong.
    pub fn judge(self, type_name: &str, record: &str, min_revision: u8) -> Result<(), String> {
        let want_type = u8_constant(type_name);
        if self.kind != want_type {
            return Err(format!(
                "{record} header type {:#x}, the tables say {type_name} = {want_type:#x}",
                self.kind
            ));
        }
        let Some(size) = revision_size(record, self.revision) else {
            return Err(format!(
                "{record} header revision {} is not an NDIS 6.30 revision in the tables",
                self.revision
            ));
        };
        if self.revision < min_revision {
            return Err(format!(
                "{record} header revision {}, NDIS 6.30 needs revision {min_revision} or later",
                self.revision
            ));
        }
        if self.size != size {
            let short = record.strip_prefix("NDIS_").unwrap_or(record);
            return Err(format!(
                "{record} header size {:#x} for revision {}, the tables say \
                 NDIS_SIZEOF_{short}_REVISION_{} = {size:#x}",
                self.size, self.revision, self.revision
            ));
        }
        Ok(())
    }
}

/// A value that may be read from or written to raw memory at a table
/// offset: every bit pattern of its size is a valid value.
///
/// # Safety
/// Implement only for types valid for every bit pattern of their size.
pub unsafe trait Scalar: Copy {}
// SAFETY: integers and raw pointers are valid for any bit pattern.
unsafe impl Scalar for u8 {}
// SAFETY: as above.
unsafe impl Scalar for u16 {}
// SAFETY: as above.
unsafe impl Scalar for u32 {}
// SAFETY: as above.
unsafe impl Scalar for u64 {}
// SAFETY: as above.
unsafe impl Scalar for i16 {}
// SAFETY: as above.
unsafe impl Scalar for i32 {}
// SAFETY: as above.
unsafe impl Scalar for i64 {}
// SAFETY: as above.
unsafe impl Scalar for usize {}
// SAFETY: as above.
unsafe impl<T> Scalar for *mut T {}
// SAFETY: as above.
unsafe impl<T> Scalar for *const T {}

/// The offset of `member` in `ty`, checked to be `width` bytes wide.
fn scalar_offset(ty: &str, member: &str, width: usize) -> usize {
    let row = layout_row(ty, member);
    if row.member_size as usize != width {
        panic!(
            "{ty}.{member} is {:#x} bytes in the NDIS facts tables, accessed as {width}",
            row.member_size
        );
    }
    row.size_or_offset as usize
}

/// Reads `member` of the C record `ty` at `base`, at the tables' offset;
/// the tables' member size must be `size_of::<T>()`.
///
/// # Safety
/// `base` points to a readable record of at least the tables' size of `ty`.
pub unsafe fn read<T: Scalar>(base: *const u8, ty: &str, member: &str) -> T {
    let offset = scalar_offset(ty, member, std::mem::size_of::<T>());
    // SAFETY: the member lies inside the record (caller, tables).
    let at = unsafe { base.add(offset) };
    // SAFETY: `at` is readable for size_of::<T>() bytes; any bit pattern is
    // a valid T (Scalar); no alignment is assumed.
    unsafe { std::ptr::read_unaligned(at.cast::<T>()) }
}

/// Writes `member` of the C record `ty` at `base`, at the tables' offset;
/// the tables' member size must be `size_of::<T>()`.
///
/// # Safety
/// `base` points to a writable record of at least the tables' size of `ty`.
pub unsafe fn write<T: Scalar>(base: *mut u8, ty: &str, member: &str, value: T) {
    let offset = scalar_offset(ty, member, std::mem::size_of::<T>());
    // SAFETY: the member lies inside the record (caller, tables).
    let at = unsafe { base.add(offset) };
    // SAFETY: `at` is writable for size_of::<T>() bytes; no alignment is
    // assumed.
    unsafe { std::ptr::write_unaligned(at.cast::<T>(), value) }
}

/// The bytes of `member` (an array: MAC addresses, GUIDs) of `ty` at `base`.
///
/// # Safety
/// As for [`read`].
pub unsafe fn read_bytes(base: *const u8, ty: &str, member: &str) -> Vec<u8> {
    let row = layout_row(ty, member);
    // SAFETY: the member lies inside the record (caller, tables).
    let at = unsafe { base.add(row.size_or_offset as usize) };
    // SAFETY: the member's bytes are readable (caller).
    let bytes = unsafe { std::slice::from_raw_parts(at, row.member_size as usize) };
    bytes.to_vec()
}

/// Where `member` of `ty` at `base` is (for records nested in records).
///
/// # Safety
/// `base` points to a record of at least the tables' size of `ty`.
pub unsafe fn member_ptr(base: *mut u8, ty: &str, member: &str) -> *mut u8 {
    // SAFETY: the offset lies inside the record (caller, tables).
    unsafe { base.add(offset_of(ty, member)) }
}

/// A zeroed allocation of the C type `ty` with the tables' size and
/// alignment: how the simulation makes the NDIS objects it hands the
/// driver, so the driver's own declaration of them decides nothing about
/// where the simulation puts or finds a field.
pub struct Record {
    ptr: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
    ty: String,
}

// SAFETY: a Record owns its memory exclusively, as a Box<[u8]> does; the
// raw pointer inside is never shared by the Record itself.
unsafe impl Send for Record {}

impl Record {
    /// A zeroed `ty` (all-zero is what NDIS hands out for fields it does not
    /// set: null pointers, zero counts).
    pub fn zeroed(ty: &str) -> Record {
        let size = size_of(ty);
        let align = layout_row(ty, "").member_size as usize;
        let layout = std::alloc::Layout::from_size_align(size.max(1), align)
            .unwrap_or_else(|e| panic!("{ty}: size {size:#x} align {align:#x}: {e}"));
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr =
            std::ptr::NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Record {
            ptr,
            layout,
            ty: ty.to_owned(),
        }
    }

    pub fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn ty(&self) -> &str {
        &self.ty
    }

    /// Writes `member` at the tables' offset.
    pub fn set<T: Scalar>(&mut self, member: &str, value: T) -> &mut Self {
        // SAFETY: the record is this Record's own allocation of `ty`.
        unsafe { write(self.ptr(), &self.ty, member, value) };
        self
    }

    /// Reads `member` at the tables' offset.
    pub fn get<T: Scalar>(&self, member: &str) -> T {
        // SAFETY: the record is this Record's own allocation of `ty`.
        unsafe { read(self.ptr(), &self.ty, member) }
    }

    /// Writes `bytes` into the array `member` (at most its size).
    pub fn set_bytes(&mut self, member: &str, bytes: &[u8]) -> &mut Self {
        let row = layout_row(&self.ty, member);
        assert!(
            bytes.len() <= row.member_size as usize,
            "{} bytes do not fit {}.{member}",
            bytes.len(),
            self.ty
        );
        // SAFETY: the member lies inside this Record's allocation.
        let at = unsafe { self.ptr().add(row.size_or_offset as usize) };
        // SAFETY: the member holds at least `bytes.len()` bytes (checked
        // above); a fresh allocation does not overlap `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, bytes.len()) };
        self
    }

    /// Writes the object header at the start of the record.
    pub fn set_header(&mut self, header: Header) -> &mut Self {
        // SAFETY: every record given a header begins with one, inside this
        // Record's allocation.
        unsafe { header.write(self.ptr()) };
        self
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record({} at {:p})", self.ty, self.ptr)
    }
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
        assert!(facts
            .function("NdisMIndicateReceiveNetBufferLists")
            .is_some());
        assert!(facts.rust_names.iter().any(|r| r.kind == "callback"));
    }

    #[test]
    fn lookups_by_prefix_revision_and_header() {
        assert_eq!(status_name(0x103).as_deref(), Some("NDIS_STATUS_PENDING"));
        assert_eq!(status_name(1), None, "a revision is not a status");
        assert_eq!(status_name(0xC001_000B_u32 as i32), None);
        assert_eq!(flags_with_prefix("NDIS_MINIPORT_ATTRIBUTES_"), 0x24);
        assert_eq!(revision_size("NDIS_LINK_STATE", 1), Some(0x28));
        assert_eq!(
            revision_size("NDIS_MINIPORT_DRIVER_CHARACTERISTICS", 3),
            None
        );
        let header = Header {
            kind: 0x8A,
            revision: 2,
            size: 0x98,
        };
        let chars = "NDIS_MINIPORT_DRIVER_CHARACTERISTICS";
        let kind = "NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS";
        assert_eq!(header.judge(kind, chars, 1), Ok(()));
        assert!(Header {
            size: 0x88,
            ..header
        }
        .judge(kind, chars, 1)
        .is_err());
        assert!(Header {
            kind: 0x80,
            ..header
        }
        .judge(kind, chars, 1)
        .is_err());
        assert!(Header {
            revision: 3,
            ..header
        }
        .judge(kind, chars, 1)
        .is_err());
        assert!(header.judge(kind, chars, 3).is_err());
    }

    #[test]
    fn records_are_written_and_read_at_the_tables_offsets() {
        let mut nbl = Record::zeroed("NET_BUFFER_LIST");
        assert_eq!(nbl.ptr() as usize % 16, 0, "NET_BUFFER_LIST is 16-aligned");
        nbl.set("Status", 0x1234_5678_i32);
        // SAFETY: the record is 0x150 bytes; Status lies at 0x8C.
        let at = unsafe { nbl.ptr().add(0x8C) };
        // SAFETY: as above: four bytes of the record.
        let raw = unsafe { std::ptr::read_unaligned(at.cast::<i32>()) };
        assert_eq!(raw, 0x1234_5678);
        assert_eq!(nbl.get::<i32>("Status"), 0x1234_5678);
    }

    #[test]
    #[should_panic(expected = "NET_BUFFER_LIST.Status is 0x4 bytes")]
    fn a_member_accessed_at_the_wrong_width_panics() {
        Record::zeroed("NET_BUFFER_LIST").set("Status", 0u64);
    }

    #[test]
    fn a_malformed_row_is_refused_with_its_text() {
        let err = Facts::parse("h\nNAME\tnot-hex\tndis.h\tv\n", "h\n", "h\n", "h\n").unwrap_err();
        assert!(err.contains("NAME"), "{err}");
    }
}
