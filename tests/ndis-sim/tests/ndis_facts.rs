//! The driver's NDIS and NT declarations held to the facts compiled from the
//! real WDK headers (`tests/ndis-facts/`, NDIS 6.30 miniport rows).
//!
//! The check reads the driver's *source* (`driver/ndis.rs`, `driver/oid.rs`,
//! `driver/windows.rs`, `driver/os/windows.rs`) with `syn`, so that it covers
//! the Windows layer that never compiles here, and so that altered copies of
//! the sources can be fed to it to show that each kind of mistake is caught.
//! From the source it evaluates every constant, lays out every `#[repr(C)]`
//! structure and union by the C rules (x64), and reads the parameter and
//! return types of every `extern "system"` import and callback type. Those
//! are compared with `constants.tsv`, `layouts.tsv` and `functions.tsv`,
//! following `rust-names.tsv` where a Rust name differs from the C one. A
//! declaration the tables lack is a failure that says so.
//!
//! The layout engine is itself checked against rustc: for every structure
//! and union of `driver/ndis.rs` it must compute the size and alignment that
//! `size_of`/`align_of` give for the compiled driver.

use std::collections::{BTreeMap, BTreeSet};

use quote::ToTokens;
use syn::{Expr, ForeignItem, Item, Lit, ReturnType, Type};
use volnic_ndis_sim::facts::{Facts, CONTRACT_WDK};

/// The driver sources the check reads.
#[derive(Clone)]
struct Sources {
    ndis: String,
    oid: String,
    windows: String,
    os_windows: String,
}

impl Sources {
    fn driver() -> Sources {
        Sources {
            ndis: include_str!("../../../driver/ndis.rs").to_owned(),
            oid: include_str!("../../../driver/oid.rs").to_owned(),
            windows: include_str!("../../../driver/windows.rs").to_owned(),
            os_windows: include_str!("../../../driver/os/windows.rs").to_owned(),
        }
    }

    /// A copy with `from` replaced by `to` once in the file `which`; the
    /// text must be there, so an alteration can never silently be a no-op.
    fn altered(&self, which: &str, from: &str, to: &str) -> Sources {
        let mut copy = self.clone();
        let text = match which {
            "ndis" => &mut copy.ndis,
            "oid" => &mut copy.oid,
            "windows" => &mut copy.windows,
            "os_windows" => &mut copy.os_windows,
            other => panic!("no source {other}"),
        };
        assert!(text.contains(from), "{which} does not contain {from:?}");
        *text = text.replacen(from, to, 1);
        copy
    }
}

/// Constants of `driver/oid.rs` that are the driver's own choices, not
/// names from a header (so not in the tables). Any other constant there is
/// header-named and must be in the tables.
const OID_OWN_CONSTANTS: &[&str] = &[
    "MEDIUM",
    "PHYSICAL_MEDIUM",
    "IF_TYPE",
    "DRIVER_MAJOR",
    "DRIVER_MINOR",
    "VENDOR_ID",
    "VENDOR_DESCRIPTION",
    "SUPPORTED_FILTERS",
    "MAC_OPTIONS",
    "SUPPORTED_OIDS",
    "SETTABLE_OIDS",
    "SUPPORTED_STATISTICS",
];

/// Sizes of the wdk-sys types the Windows layer passes by value, and of C
/// return types. functions.tsv gives return types by name only; these are
/// the x64 sizes of the basic Windows typedefs (ntdef.h/basetsd.h).
fn known_size(name: &str) -> Option<u64> {
    Some(match name {
        "void" => 0,
        "BOOLEAN" | "KIRQL" | "UCHAR" | "CCHAR" | "KPROCESSOR_MODE" => 1,
        "USHORT" | "CSHORT" => 2,
        "NTSTATUS" | "NDIS_STATUS" | "ULONG" | "LONG" | "UINT" | "KPRIORITY" | "ACCESS_MASK"
        | "NDIS_PORT_NUMBER" | "NDIS_OID" | "POOL_TYPE" => 4,
        "ULONG64" | "SIZE_T" | "ULONG_PTR" | "POOL_FLAGS" | "HANDLE" | "PVOID" | "NDIS_HANDLE"
        | "PCUNICODE_STRING" | "PUNICODE_STRING" | "PCSTR" => 8,
        other if other.starts_with('P') || other.contains('*') => 8,
        _ => return None,
    })
}

#[derive(Clone)]
struct StructDecl {
    fields: Vec<(String, Type)>,
    union: bool,
    /// `#[repr(align(N))]`.
    min_align: u64,
    /// The generic parameter of a one-parameter wrapper (Aligned16<T>).
    generic: Option<String>,
}

/// An `extern "system"` import: name, parameter types, return type, the
/// `#[link(name)]` of its block.
type Import = (String, Vec<Type>, Option<Type>, Option<String>);
/// Size, alignment and (field, offset, size) of each field.
type StructLayout = (u64, u64, Vec<(String, u64, u64)>);

/// Everything parsed out of the sources.
#[derive(Default)]
struct Decls {
    /// name → (declared type, value expression, file).
    consts: BTreeMap<String, (Type, Expr, &'static str)>,
    aliases: BTreeMap<String, Type>,
    structs: BTreeMap<String, StructDecl>,
    /// Names of the structs declared in driver/ndis.rs, in order.
    ndis_structs: Vec<String>,
    /// (name, params, return type, link name) of every import.
    imports: Vec<Import>,
    /// Callback type aliases: name → (params, return).
    callbacks: BTreeMap<String, (Vec<Type>, Option<Type>)>,
    /// Function-pointer types: name → the first word of their doc, which
    /// names the C routine they stand for when it is resolved at run time
    /// (`/// KeQuerySystemTimePrecise (wdm.h): ...`).
    fn_pointer_docs: BTreeMap<String, String>,
    /// Free `extern` functions: name → (params, return).
    extern_fns: BTreeMap<String, (Vec<Type>, Option<Type>)>,
    /// Hex literals matched in `volume_error`.
    volume_error_literals: Vec<u64>,
}

fn type_text(ty: &Type) -> String {
    ty.to_token_stream().to_string()
}

/// The types of a signature's parameters, in order.
fn param_types(sig: &syn::Signature) -> Vec<Type> {
    sig.inputs
        .iter()
        .filter_map(|a| match a {
            syn::FnArg::Typed(t) => Some((*t.ty).clone()),
            syn::FnArg::Receiver(_) => None,
        })
        .collect()
}

/// Name and type of each field (tuple fields named by index).
fn field_list<'a>(fields: impl Iterator<Item = &'a syn::Field>) -> Vec<(String, Type)> {
    fields
        .enumerate()
        .map(|(i, f)| {
            let name = f
                .ident
                .as_ref()
                .map_or_else(|| i.to_string(), |n| n.to_string());
            (name, f.ty.clone())
        })
        .collect()
}

fn output(ret: &ReturnType) -> Option<Type> {
    match ret {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    }
}

fn repr_of(attrs: &[syn::Attribute]) -> (bool, u64) {
    let mut c = false;
    let mut align = 1;
    for attr in attrs.iter().filter(|a| a.path().is_ident("repr")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") {
                c = true;
            } else if meta.path.is_ident("align") {
                let content;
                syn::parenthesized!(content in meta.input);
                let lit: syn::LitInt = content.parse()?;
                align = lit.base10_parse()?;
            }
            Ok(())
        });
    }
    (c, align)
}

/// The first word of an item's doc comment.
fn doc_first_word(attrs: &[syn::Attribute]) -> Option<String> {
    let attr = attrs.iter().find(|a| a.path().is_ident("doc"))?;
    let syn::Meta::NameValue(nv) = &attr.meta else {
        return None;
    };
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Str(text),
        ..
    }) = &nv.value
    else {
        return None;
    };
    let text = text.value();
    let word: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

fn link_name(attrs: &[syn::Attribute]) -> Option<String> {
    let mut name = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("link")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                name = Some(lit.value());
            }
            Ok(())
        });
    }
    name
}

/// Hex integer literals anywhere in `tokens`.
fn hex_literals(tokens: proc_macro2::TokenStream, out: &mut Vec<u64>) {
    for tree in tokens {
        match tree {
            proc_macro2::TokenTree::Group(group) => hex_literals(group.stream(), out),
            proc_macro2::TokenTree::Literal(lit) => {
                let text = lit.to_string().replace('_', "");
                if let Some(hex) = text.strip_prefix("0x") {
                    let digits: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
                    if let Ok(value) = u64::from_str_radix(&digits, 16) {
                        out.push(value);
                    }
                }
            }
            _ => {}
        }
    }
}

fn collect(decls: &mut Decls, items: &[Item], file: &'static str) -> Result<(), String> {
    for item in items {
        match item {
            Item::Const(c) => {
                decls.consts.insert(
                    c.ident.to_string(),
                    ((*c.ty).clone(), (*c.expr).clone(), file),
                );
            }
            Item::Type(t) => {
                let name = t.ident.to_string();
                if let Type::BareFn(f) = &*t.ty {
                    let params = f.inputs.iter().map(|a| a.ty.clone()).collect();
                    if let Some(word) = doc_first_word(&t.attrs) {
                        decls.fn_pointer_docs.insert(name.clone(), word);
                    }
                    decls.callbacks.insert(name, (params, output(&f.output)));
                } else {
                    decls.aliases.insert(name, (*t.ty).clone());
                }
            }
            Item::Struct(s) => {
                let (c, min_align) = repr_of(&s.attrs);
                if !c {
                    continue;
                }
                let decl = StructDecl {
                    fields: field_list(s.fields.iter()),
                    union: false,
                    min_align,
                    generic: s.generics.type_params().next().map(|p| p.ident.to_string()),
                };
                decls.add_record(s.ident.to_string(), decl, file);
            }
            Item::Union(u) => {
                let (c, min_align) = repr_of(&u.attrs);
                if !c {
                    return Err(format!("union {} is not #[repr(C)]", u.ident));
                }
                let decl = StructDecl {
                    fields: field_list(u.fields.named.iter()),
                    union: true,
                    min_align,
                    generic: None,
                };
                decls.add_record(u.ident.to_string(), decl, file);
            }
            Item::ForeignMod(m) => {
                let abi = m.abi.name.as_ref().map(|n| n.value());
                if abi.as_deref() != Some("system") {
                    return Err(format!(
                        "{file}: an extern block with ABI {abi:?}, not \"system\""
                    ));
                }
                let link = link_name(&m.attrs);
                for foreign in &m.items {
                    if let ForeignItem::Fn(f) = foreign {
                        let params = param_types(&f.sig);
                        decls.imports.push((
                            f.sig.ident.to_string(),
                            params,
                            output(&f.sig.output),
                            link.clone(),
                        ));
                    }
                }
            }
            Item::Fn(f) => {
                let name = f.sig.ident.to_string();
                if name == "volume_error" {
                    hex_literals(f.block.to_token_stream(), &mut decls.volume_error_literals);
                }
                if f.sig.abi.is_some() && f.sig.generics.params.is_empty() {
                    let params = param_types(&f.sig);
                    decls
                        .extern_fns
                        .insert(name, (params, output(&f.sig.output)));
                }
            }
            Item::Mod(m) => {
                // Nested modules (the `layout`/`tests` modules) declare
                // nothing that crosses to Windows.
                let _ = m;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A value wrapped to the width of a Rust integer type, as `as` does.
fn wrap(value: i128, ty: &str) -> Result<i128, String> {
    Ok(match ty {
        "u8" => value as u8 as i128,
        "i8" => value as i8 as i128,
        "u16" => value as u16 as i128,
        "i16" => value as i16 as i128,
        "u32" => value as u32 as i128,
        "i32" => value as i32 as i128,
        "u64" | "usize" => value as u64 as i128,
        "i64" | "isize" => value as i64 as i128,
        other => return Err(format!("cannot evaluate a value of type {other}")),
    })
}

/// The bits a C-size comparison looks at: the width of the Rust type.
fn mask(value: i128, ty: &str) -> u64 {
    match ty {
        "u8" | "i8" => value as u8 as u64,
        "u16" | "i16" => value as u16 as u64,
        "u32" | "i32" => value as u32 as u64,
        _ => value as u64,
    }
}

impl Decls {
    /// Records a `repr(C)` struct or union of `file`.
    fn add_record(&mut self, name: String, decl: StructDecl, file: &str) {
        if file == "ndis" {
            self.ndis_structs.push(name.clone());
        }
        self.structs.insert(name, decl);
    }

    fn parse(sources: &Sources) -> Result<Decls, String> {
        let mut decls = Decls::default();
        for (file, text) in [
            ("ndis", &sources.ndis),
            ("oid", &sources.oid),
            ("windows", &sources.windows),
            ("os_windows", &sources.os_windows),
        ] {
            let parsed = syn::parse_file(text).map_err(|e| format!("{file}: {e}"))?;
            collect(&mut decls, &parsed.items, file)?;
        }
        Ok(decls)
    }

    /// The Rust type a path names, through `type` aliases and the
    /// driver's and wdk-sys's integer aliases, as an integer type name.
    fn integer_type(&self, ty: &Type) -> Result<String, String> {
        let name = type_text(ty);
        let last = name.rsplit("::").next().unwrap_or(&name).trim().to_owned();
        if let Some(alias) = self.aliases.get(&last) {
            return self.integer_type(alias);
        }
        match last.as_str() {
            "NTSTATUS" => Ok("i32".into()),
            "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "u64" | "i64" | "usize" | "isize" => {
                Ok(last)
            }
            other => Err(format!("not an integer type: {other}")),
        }
    }

    fn eval(&self, expr: &Expr, depth: usize) -> Result<i128, String> {
        if depth > 32 {
            return Err("constant expression nested too deeply".into());
        }
        match expr {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Int(int) => int
                    .base10_parse::<u128>()
                    .map(|v| v as i128)
                    .map_err(|e| e.to_string()),
                other => Err(format!(
                    "not an integer literal: {}",
                    other.to_token_stream()
                )),
            },
            Expr::Paren(p) => self.eval(&p.expr, depth + 1),
            Expr::Group(g) => self.eval(&g.expr, depth + 1),
            Expr::Cast(c) => {
                let value = self.eval(&c.expr, depth + 1)?;
                wrap(value, &self.integer_type(&c.ty)?)
            }
            Expr::Unary(u) => match u.op {
                syn::UnOp::Neg(_) => Ok(-self.eval(&u.expr, depth + 1)?),
                syn::UnOp::Not(_) => Ok(!self.eval(&u.expr, depth + 1)?),
                _ => Err("unsupported unary operator".into()),
            },
            Expr::Binary(b) => {
                let (l, r) = (
                    self.eval(&b.left, depth + 1)?,
                    self.eval(&b.right, depth + 1)?,
                );
                Ok(match b.op {
                    syn::BinOp::BitOr(_) => l | r,
                    syn::BinOp::BitAnd(_) => l & r,
                    syn::BinOp::BitXor(_) => l ^ r,
                    syn::BinOp::Add(_) => l + r,
                    syn::BinOp::Sub(_) => l - r,
                    syn::BinOp::Mul(_) => l * r,
                    syn::BinOp::Shl(_) => l << r,
                    syn::BinOp::Shr(_) => l >> r,
                    _ => return Err("unsupported binary operator".into()),
                })
            }
            Expr::Path(p) => {
                let name = p
                    .path
                    .segments
                    .last()
                    .map(|s| s.ident.to_string())
                    .unwrap_or_default();
                self.const_value(&name, depth + 1)
            }
            other => Err(format!("cannot evaluate {}", other.to_token_stream())),
        }
    }

    fn const_value(&self, name: &str, depth: usize) -> Result<i128, String> {
        let (ty, expr, _) = self
            .consts
            .get(name)
            .ok_or_else(|| format!("{name} is not a constant of the checked files"))?;
        let value = self.eval(expr, depth)?;
        wrap(value, &self.integer_type(ty)?)
    }

    /// (size, align) of `ty` on x64 under the C rules.
    fn layout(&self, ty: &Type, generic: Option<(&str, (u64, u64))>) -> Result<(u64, u64), String> {
        match ty {
            Type::Ptr(_) | Type::BareFn(_) | Type::Reference(_) => Ok((8, 8)),
            Type::Paren(p) => self.layout(&p.elem, generic),
            Type::Group(g) => self.layout(&g.elem, generic),
            Type::Array(a) => {
                let (size, align) = self.layout(&a.elem, generic)?;
                let count = self.eval(&a.len, 0)? as u64;
                Ok((size * count, align))
            }
            Type::Path(p) => {
                let segment = p.path.segments.last().ok_or("an empty type path")?;
                let name = segment.ident.to_string();
                if let Some((param, layout)) = generic {
                    if name == param {
                        return Ok(layout);
                    }
                }
                let args: Vec<&Type> = match &segment.arguments {
                    syn::PathArguments::AngleBracketed(a) => a
                        .args
                        .iter()
                        .filter_map(|g| match g {
                            syn::GenericArgument::Type(t) => Some(t),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                match name.as_str() {
                    "u8" | "i8" | "bool" => return Ok((1, 1)),
                    "u16" | "i16" => return Ok((2, 2)),
                    "u32" | "i32" => return Ok((4, 4)),
                    "u64" | "i64" | "usize" | "isize" => return Ok((8, 8)),
                    "Option" => {
                        // Option of a function pointer: the null niche.
                        let inner = args.first().ok_or("Option without an argument")?;
                        let inner_name = type_text(inner);
                        if matches!(inner, Type::BareFn(_))
                            || self.callbacks.contains_key(inner_name.trim())
                        {
                            return Ok((8, 8));
                        }
                        return Err(format!("Option<{inner_name}> has no C layout"));
                    }
                    _ => {}
                }
                if self.callbacks.contains_key(&name) {
                    return Ok((8, 8));
                }
                if let Some(alias) = self.aliases.get(&name) {
                    return self.layout(alias, generic);
                }
                if let Some(decl) = self.structs.get(&name) {
                    let arg = match (&decl.generic, args.first()) {
                        (Some(param), Some(arg)) => {
                            Some((param.as_str(), self.layout(arg, generic)?))
                        }
                        _ => None,
                    };
                    let (size, align, _) = self.struct_layout_with(decl, arg)?;
                    return Ok((size, align));
                }
                if let Some(size) = known_size(&name) {
                    return Ok((size, size.max(1)));
                }
                Err(format!("the check does not know the layout of {name}"))
            }
            other => Err(format!("no C layout for {}", type_text(other))),
        }
    }

    /// (size, align, [(field, offset, size)]) of a declared struct/union.
    fn struct_layout(&self, name: &str) -> Result<StructLayout, String> {
        let decl = self
            .structs
            .get(name)
            .ok_or_else(|| format!("no struct {name}"))?;
        self.struct_layout_with(decl, None)
    }

    fn struct_layout_with(
        &self,
        decl: &StructDecl,
        generic: Option<(&str, (u64, u64))>,
    ) -> Result<StructLayout, String> {
        let mut offset = 0u64;
        let mut align = decl.min_align;
        let mut size = 0u64;
        let mut fields = Vec::new();
        for (field, ty) in &decl.fields {
            let (field_size, field_align) = self.layout(ty, generic)?;
            align = align.max(field_align);
            let at = if decl.union {
                0
            } else {
                offset.div_ceil(field_align) * field_align
            };
            fields.push((field.clone(), at, field_size));
            offset = at + field_size;
            size = size.max(offset);
        }
        Ok((size.div_ceil(align) * align, align, fields))
    }
}

/// Value of a C name from the tables: a constant, or constants joined by
/// `|` as rust-names.tsv writes some.
fn c_value(facts: &Facts, c_name: &str) -> Option<u64> {
    c_name
        .split('|')
        .map(|part| facts.try_constant(part.trim()))
        .try_fold(0u64, |acc, v| v.map(|v| acc | v))
}

fn rust_name_rows<'a>(facts: &'a Facts, kind: &str, rust_name: &str) -> Vec<&'a str> {
    facts
        .rust_names
        .iter()
        .filter(|r| r.kind == kind && r.rust_name == rust_name)
        .map(|r| r.c_name.as_str())
        .collect()
}

fn check_constants(decls: &Decls, facts: &Facts, problems: &mut Vec<String>) {
    for (name, (ty, _, file)) in &decls.consts {
        let header_named = match *file {
            "ndis" | "windows" | "os_windows" => true,
            "oid" => !OID_OWN_CONSTANTS.contains(&name.as_str()),
            _ => false,
        };
        if !header_named || name == "_" {
            continue;
        }
        let mapped = rust_name_rows(facts, "const", name);
        let c_name = mapped.first().copied().unwrap_or(name.as_str());
        if matches!(*file, "windows" | "os_windows")
            && mapped.is_empty()
            && c_value(facts, c_name).is_none()
            && decls.const_value(name, 0).is_err()
        {
            // Not a number written by hand but one computed from the
            // bindings (`size_of::<wdk_sys::...>()`, a byte-string tag):
            // nothing to hold to the tables.
            continue;
        }
        let Some(expected) = c_value(facts, c_name) else {
            problems.push(format!(
                "{file}: constant {name} ({c_name}) is not in the NDIS facts tables; \
                 ask for it to be added, do not guess its value"
            ));
            continue;
        };
        let actual = decls
            .integer_type(ty)
            .and_then(|int| Ok((decls.const_value(name, 0)?, int)));
        match actual {
            Ok((value, int)) => {
                let value = mask(value, &int);
                if value != expected {
                    problems.push(format!(
                        "{file}: constant {name} is {value:#x}, the WDK headers say {c_name} = {expected:#x}"
                    ));
                }
            }
            Err(e) => problems.push(format!("{file}: constant {name}: {e}")),
        }
    }
    // volume_error's NTSTATUS literals, each named in rust-names.tsv.
    for literal in &decls.volume_error_literals {
        let key = format!("volume_error literal {literal:#X}").replace("0X", "0x");
        let rows = rust_name_rows(facts, "const", &key);
        match rows.first() {
            None => problems.push(format!(
                "os_windows: volume_error matches {literal:#x}, which rust-names.tsv does not name"
            )),
            Some(c_name) => match facts.try_constant(c_name) {
                Some(value) if value == *literal => {}
                Some(value) => problems.push(format!(
                    "os_windows: volume_error matches {literal:#x} for {c_name}, the WDK headers say {value:#x}"
                )),
                None => problems.push(format!(
                    "os_windows: {c_name} (volume_error) is not in the NDIS facts tables"
                )),
            },
        }
    }
}

fn check_layouts(decls: &Decls, facts: &Facts, problems: &mut Vec<String>) {
    for name in decls.structs.keys() {
        let c_types = rust_name_rows(facts, "type", name);
        let not_c = c_types.iter().any(|c| c.is_empty());
        if not_c {
            continue; // Aligned16: not a C type (its uses are checked in place).
        }
        let c_types: Vec<&str> = if c_types.is_empty() {
            vec![name.as_str()]
        } else {
            c_types
        };
        let (size, align, fields) = match decls.struct_layout(name) {
            Ok(layout) => layout,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        for (index, c_type) in c_types.iter().enumerate() {
            let Some(row) = facts.try_layout(c_type, "") else {
                problems.push(format!(
                    "{name} ({c_type}) is not in the NDIS facts layouts"
                ));
                continue;
            };
            if size != row.size_or_offset || align != row.member_size {
                problems.push(format!(
                    "{name}: size {size:#x} align {align}, the WDK headers say {c_type} is {:#x} align {}",
                    row.size_or_offset, row.member_size
                ));
            }
            for (field, offset, field_size) in &fields {
                let mapped = facts
                    .rust_names
                    .iter()
                    .find(|r| r.kind == "field" && r.rust_name == format!("{name}.{field}"));
                let members: Vec<String> = match mapped {
                    // Padding the driver names (no C member): no row.
                    Some(r) if r.c_name.is_empty() => continue,
                    Some(r) => r
                        .c_name
                        .split('|')
                        .map(|m| m.rsplit('.').next().unwrap_or(m).to_owned())
                        .collect(),
                    None => vec![field.clone()],
                };
                let rows: Vec<_> = members
                    .iter()
                    .filter_map(|m| facts.try_layout(c_type, m).map(|r| (m, r)))
                    .collect();
                if rows.is_empty() {
                    // A type read through another's declaration (SET through
                    // QUERY): the same bytes must hold a member of that size.
                    let same_place = facts
                        .members(c_type)
                        .into_iter()
                        .any(|(_, r)| r.size_or_offset == *offset && r.member_size == *field_size);
                    if index == 0 || !same_place {
                        problems.push(format!(
                            "{name}.{field}: {c_type} has no member {field} (at {offset:#x}, size {field_size:#x})"
                        ));
                    }
                    continue;
                }
                if !rows
                    .iter()
                    .any(|(_, r)| r.size_or_offset == *offset && r.member_size == *field_size)
                {
                    let (member, r) = rows[0];
                    problems.push(format!(
                        "{name}.{field}: offset {offset:#x} size {field_size:#x}, the WDK headers say {c_type}.{member} is at {:#x} size {:#x}",
                        r.size_or_offset, r.member_size
                    ));
                }
            }
        }
    }
}

/// (count, sizes, return size) of a signature, from the Rust declaration.
fn rust_signature(
    decls: &Decls,
    params: &[Type],
    ret: &Option<Type>,
) -> Result<(Vec<u64>, u64), String> {
    let sizes = params
        .iter()
        .map(|p| decls.layout(p, None).map(|(s, _)| s))
        .collect::<Result<Vec<_>, _>>()?;
    let ret = match ret {
        None => 0,
        Some(ty) => decls.layout(ty, None)?.0,
    };
    Ok((sizes, ret))
}

fn compare_signature(
    what: &str,
    c_name: &str,
    decls: &Decls,
    params: &[Type],
    ret: &Option<Type>,
    facts: &Facts,
    problems: &mut Vec<String>,
) {
    let Some(function) = facts.function(c_name) else {
        problems.push(format!(
            "{what}: {c_name} is not in the NDIS facts functions table"
        ));
        return;
    };
    let (sizes, ret_size) = match rust_signature(decls, params, ret) {
        Ok(sig) => sig,
        Err(e) => {
            problems.push(format!("{what}: {e}"));
            return;
        }
    };
    let expected: Vec<u64> = function.param_sizes.iter().map_while(|s| *s).collect();
    if function.param_sizes.iter().any(Option::is_none) {
        problems.push(format!(
            "{what}: {c_name} is variadic; declare it through wdk-sys"
        ));
    }
    if sizes.len() != expected.len() {
        problems.push(format!(
            "{what}: {} parameters, the WDK headers give {c_name} {}",
            sizes.len(),
            expected.len()
        ));
    } else {
        for (i, (got, want)) in sizes.iter().zip(&expected).enumerate() {
            if got != want {
                problems.push(format!(
                    "{what}: parameter {} is {got} bytes, the WDK headers say {} ({want} bytes)",
                    i + 1,
                    function.param_types[i]
                ));
            }
        }
    }
    match known_size(&function.return_type) {
        Some(want) if want == ret_size => {}
        Some(want) => problems.push(format!(
            "{what}: returns {ret_size} bytes, the WDK headers say {} ({want} bytes)",
            function.return_type
        )),
        None => problems.push(format!(
            "{what}: the check does not know the size of return type {}",
            function.return_type
        )),
    }
}

fn check_functions(decls: &Decls, facts: &Facts, problems: &mut Vec<String>) {
    for (name, params, ret, link) in &decls.imports {
        compare_signature(name, name, decls, params, ret, facts, problems);
        if let Some(function) = facts.function(name) {
            let expected_module = match link.as_deref() {
                Some("ndis") => "ndis.sys",
                Some(other) => {
                    problems.push(format!("{name}: linked from {other}, not a kernel module"));
                    continue;
                }
                None => "ntoskrnl.exe",
            };
            if !function.module.eq_ignore_ascii_case(expected_module) {
                problems.push(format!(
                    "{name}: declared as an import of {expected_module}, exported by {}",
                    function.module
                ));
            }
        }
    }
    let mut covered = BTreeSet::new();
    for (name, (params, ret)) in decls.callbacks.iter().chain(&decls.extern_fns) {
        let mut c_names = rust_name_rows(facts, "callback", name);
        if c_names.is_empty() {
            // A pointer to a routine resolved at run time, named by its doc.
            if let Some(routine) = decls.fn_pointer_docs.get(name) {
                if let Some(function) = facts.function(routine) {
                    c_names.push(function.name.as_str());
                }
            }
        }
        if c_names.is_empty() {
            if decls.callbacks.contains_key(name) {
                problems.push(format!(
                    "callback type {name} is not named in rust-names.tsv / functions.tsv"
                ));
            }
            continue;
        }
        covered.insert(name.clone());
        for c_name in c_names.iter().flat_map(|c| c.split(" / ")) {
            compare_signature(name, c_name.trim(), decls, params, ret, facts, problems);
        }
    }
    // Every callback the tables name must still be declared.
    for row in facts.rust_names.iter().filter(|r| r.kind == "callback") {
        if !covered.contains(&row.rust_name) {
            problems.push(format!(
                "{} ({}) is named in rust-names.tsv but not declared in the driver",
                row.rust_name, row.c_name
            ));
        }
    }
}

/// Every disagreement between the sources and the tables, one line each.
fn check(sources: &Sources) -> Vec<String> {
    let facts = Facts::get();
    let decls = match Decls::parse(sources) {
        Ok(decls) => decls,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    check_constants(&decls, facts, &mut problems);
    check_layouts(&decls, facts, &mut problems);
    check_functions(&decls, facts, &mut problems);
    problems
}

fn assert_caught(sources: Sources, expected: &str) {
    let problems = check(&sources);
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "the altered copy was not caught with {expected:?}; problems: {problems:#?}"
    );
}

#[test]
fn driver_declarations_agree_with_the_wdk_headers() {
    let problems = check(&Sources::driver());
    assert!(
        problems.is_empty(),
        "{} disagreements:\n{}",
        problems.len(),
        problems.join("\n")
    );
    let decls = Decls::parse(&Sources::driver()).unwrap();
    println!(
        "checked against {CONTRACT_WDK}: {} constants, {} structures and unions, {} imports, {} callbacks",
        decls.consts.len(),
        decls.structs.len(),
        decls.imports.len(),
        decls.callbacks.len() + decls.extern_fns.len()
    );
}

#[test]
fn the_contract_rows_of_both_wdk_versions_agree() {
    let differences = Facts::get().versions_agree();
    assert!(differences.is_empty(), "{differences:#?}");
}

#[test]
fn a_wrong_constant_is_caught() {
    let driver = Sources::driver();
    assert_caught(
        driver.altered(
            "ndis",
            "NDIS_OBJECT_TYPE_STATUS_INDICATION: u8 = 0x98",
            "NDIS_OBJECT_TYPE_STATUS_INDICATION: u8 = 0x8B",
        ),
        "NDIS_OBJECT_TYPE_STATUS_INDICATION is 0x8b",
    );
    assert_caught(
        driver.altered(
            "ndis",
            "NDIS_STATUS_MEDIA_DISCONNECTED: NDIS_STATUS = 0xC023_001F_u32 as i32",
            "NDIS_STATUS_MEDIA_DISCONNECTED: NDIS_STATUS = 0xC001_000B_u32 as i32",
        ),
        "NDIS_STATUS_MEDIA_DISCONNECTED is 0xc001000b",
    );
    assert_caught(
        driver.altered("oid", "NDIS_MINOR: u8 = 30", "NDIS_MINOR: u8 = 20"),
        "NDIS_MINOR is 0x14",
    );
    assert_caught(
        driver.altered("os_windows", "FILE_OPEN: u32 = 0x1", "FILE_OPEN: u32 = 0x3"),
        "FILE_OPEN is 0x3",
    );
}

#[test]
fn a_constant_the_tables_lack_is_caught() {
    let driver = Sources::driver();
    assert_caught(
        driver.altered(
            "ndis",
            "pub const NDIS_STATUS_SUCCESS",
            "pub const NDIS_STATUS_INVENTED: NDIS_STATUS = 7;\npub const NDIS_STATUS_SUCCESS",
        ),
        "NDIS_STATUS_INVENTED (NDIS_STATUS_INVENTED) is not in the NDIS facts tables",
    );
    assert_caught(
        driver.altered(
            "oid",
            "const NDIS_MEDIA_STATE_CONNECTED",
            "const NDIS_GUESSED: u32 = 1;\nconst NDIS_MEDIA_STATE_CONNECTED",
        ),
        "NDIS_GUESSED",
    );
}

#[test]
fn a_wrong_offset_or_size_is_caught() {
    let driver = Sources::driver();
    // A field one size too wide moves every field after it.
    assert_caught(
        driver.altered(
            "ndis",
            "    pub RequestType: u32,\n    pub PortNumber",
            "    pub RequestType: u64,\n    pub PortNumber",
        ),
        "NDIS_OID_REQUEST.PortNumber: offset 0x10",
    );
    // The NDIS 6.50 NBL (27 info entries) against the 6.30 contract.
    assert_caught(
        driver.altered(
            "ndis",
            "NET_BUFFER_LIST_INFO_COUNT: usize = 24",
            "NET_BUFFER_LIST_INFO_COUNT: usize = 27",
        ),
        "NET_BUFFER_LIST: size 0x170",
    );
    // A field the C structure does not have.
    assert_caught(
        driver.altered(
            "ndis",
            "    pub Reserved2: u16,\n}",
            "    pub Reserved2: u16,\n    pub SwitchId: u32,\n}",
        ),
        "NDIS_OID_REQUEST.SwitchId: NDIS_OID_REQUEST has no member SwitchId",
    );
    // The reserved arrays' 16-byte alignment forgotten.
    assert_caught(
        driver.altered(
            "ndis",
            "#[repr(C, align(16))]\n#[derive(Clone, Copy, Debug)]\npub struct Aligned16",
            "#[repr(C)]\n#[derive(Clone, Copy, Debug)]\npub struct Aligned16",
        ),
        "NET_BUFFER_LIST.NdisReserved: offset 0x28",
    );
}

#[test]
fn a_missing_or_wrong_parameter_is_caught() {
    let driver = Sources::driver();
    assert_caught(
        driver.altered(
            "windows",
            "        NetBufferList: *mut NET_BUFFER_LIST,\n        SendCompleteFlags: u32,\n",
            "        NetBufferList: *mut NET_BUFFER_LIST,\n",
        ),
        "NdisMSendNetBufferListsComplete: 2 parameters, the WDK headers give NdisMSendNetBufferListsComplete 3",
    );
    assert_caught(
        driver.altered(
            "windows",
            "        ContextSize: u16,",
            "        ContextSize: u32,",
        ),
        "NdisAllocateNetBufferAndNetBufferList: parameter 2 is 4 bytes",
    );
    assert_caught(
        driver.altered(
            "os_windows",
            "        Alertable: u8,",
            "        Alertable: u32,",
        ),
        "ZwWaitForSingleObject: parameter 2 is 4 bytes",
    );
    assert_caught(
        driver.altered(
            "ndis",
            "pub type HaltFn = unsafe extern \"system\" fn(NDIS_HANDLE, u32);",
            "pub type HaltFn = unsafe extern \"system\" fn(NDIS_HANDLE);",
        ),
        "HaltFn: 1 parameters, the WDK headers give MINIPORT_HALT 2",
    );
    assert_caught(
        driver.altered(
            "ndis",
            "pub type CheckForHangFn = unsafe extern \"system\" fn(NDIS_HANDLE) -> u8;",
            "pub type CheckForHangFn = unsafe extern \"system\" fn(NDIS_HANDLE) -> u32;",
        ),
        "CheckForHangFn: returns 4 bytes, the WDK headers say BOOLEAN",
    );
}

#[test]
fn a_pointer_to_a_routine_resolved_at_run_time_is_held_to_its_prototype() {
    let driver = Sources::driver();
    let with = |decl: &str| {
        driver.altered(
            "os_windows",
            "/// The Windows kernel.\npub struct WindowsOs;",
            &format!("{decl}\n/// The Windows kernel.\npub struct WindowsOs;"),
        )
    };
    let good = with(
        "/// KeQuerySystemTimePrecise (wdm.h).\ntype Probe = unsafe extern \"system\" fn(*mut LARGE_INTEGER);",
    );
    assert!(check(&good).is_empty(), "{:#?}", check(&good));
    assert_caught(
        with("/// KeQuerySystemTimePrecise (wdm.h).\ntype Probe = unsafe extern \"system\" fn(*mut LARGE_INTEGER, u32);"),
        "Probe: 2 parameters, the WDK headers give KeQuerySystemTimePrecise 1",
    );
    assert_caught(
        with("/// Something the tables lack.\ntype Probe = unsafe extern \"system\" fn(u32);"),
        "callback type Probe is not named",
    );
}

#[test]
fn an_import_the_tables_lack_or_from_the_wrong_module_is_caught() {
    let driver = Sources::driver();
    assert_caught(
        driver.altered(
            "windows",
            "    fn NdisMPauseComplete(MiniportAdapterHandle: NDIS_HANDLE);",
            "    fn NdisMPauseComplete(MiniportAdapterHandle: NDIS_HANDLE);\n    fn NdisMInvented(H: NDIS_HANDLE);",
        ),
        "NdisMInvented: NdisMInvented is not in the NDIS facts functions table",
    );
    assert_caught(
        driver.altered("windows", "#[link(name = \"ndis\")]\n", ""),
        "declared as an import of ntoskrnl.exe, exported by ndis.sys",
    );
}

/// The layout engine agrees with rustc on every structure and union of the
/// compiled driver, so the comparison above measures the declarations, not
/// the engine.
#[test]
fn the_layout_engine_computes_what_rustc_computes() {
    use std::mem::{align_of, size_of};
    use volnic::ndis::*;
    macro_rules! compiled {
        ($($t:ident),* $(,)?) => {
            vec![$((stringify!($t), size_of::<$t>() as u64, align_of::<$t>() as u64)),*]
        };
    }
    let compiled = compiled!(
        NDIS_OBJECT_HEADER,
        UNICODE_STRING,
        MDL,
        NET_BUFFER,
        NET_BUFFER_LIST,
        NDIS_OID_REQUEST_QUERY,
        NDIS_OID_REQUEST_METHOD,
        NDIS_OID_REQUEST_DATA,
        NDIS_OID_REQUEST,
        NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
        NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        NDIS_STATUS_INDICATION,
        NDIS_LINK_STATE,
        NDIS_CONFIGURATION_OBJECT,
        BINARY_DATA,
        NDIS_CONFIGURATION_PARAMETER_DATA,
        NDIS_CONFIGURATION_PARAMETER,
        NET_BUFFER_LIST_POOL_PARAMETERS,
        NDIS_STATISTICS_INFO,
    );
    let decls = Decls::parse(&Sources::driver()).unwrap();
    let listed: BTreeSet<&str> = compiled.iter().map(|(n, _, _)| *n).collect();
    for name in &decls.ndis_structs {
        assert!(
            name == "Aligned16" || listed.contains(name.as_str()),
            "add {name} to the compiled! list of this test"
        );
    }
    for (name, size, align) in compiled {
        let (s, a, _) = decls.struct_layout(name).unwrap();
        assert_eq!((s, a), (size, align), "{name}: engine vs rustc");
    }
    // And the constant evaluator: casts, negatives, ors of paths.
    assert_eq!(
        decls.const_value("NDIS_STATUS_FAILURE", 0).unwrap(),
        i128::from(NDIS_STATUS_FAILURE)
    );
    assert_eq!(
        decls.const_value("SUPPORTED_FILTERS", 0).unwrap(),
        i128::from(volnic::oid::SUPPORTED_FILTERS)
    );
    assert_eq!(
        decls.const_value("NET_BUFFER_LIST_INFO_COUNT", 0).unwrap(),
        NET_BUFFER_LIST_INFO_COUNT as i128
    );
}

/// The tables compiled in are the ones in ../shared where that is present
/// (CI has it beside the checkout), so the copy cannot drift.
#[test]
fn the_copied_tables_equal_the_shared_reference() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/ndis-facts");
    if !shared.is_dir() {
        println!(
            "skipped: {} is absent (CI has it); tests/ndis-facts is used as it is",
            shared.display()
        );
        return;
    }
    use volnic_ndis_sim::facts::{CONSTANTS_TSV, FUNCTIONS_TSV, LAYOUTS_TSV, RUST_NAMES_TSV};
    for (file, copy) in [
        ("constants.tsv", CONSTANTS_TSV),
        ("layouts.tsv", LAYOUTS_TSV),
        ("functions.tsv", FUNCTIONS_TSV),
        ("rust-names.tsv", RUST_NAMES_TSV),
    ] {
        let original = std::fs::read_to_string(shared.join(file)).unwrap();
        assert_eq!(
            original,
            copy,
            "tests/ndis-facts/{file} differs from {}",
            shared.display()
        );
    }
}
