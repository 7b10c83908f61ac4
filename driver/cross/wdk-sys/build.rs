//! Generates the substitute's bindings from the mingw-w64 kernel headers.
//!
//! Three bindgen passes over the same header, as wdk-sys 0.5 makes its own:
//! `constants.rs` (macros and variables), `types.rs` (types, C enums as
//! modules of constants) and `ntddk.rs` (the functions). The header is
//! `ntifs.h` (it includes `ntddk.h` and `wdm.h`), the base headers of
//! wdk-sys's WDM configuration that mingw-w64 has.
//!
//! It also writes `signatures.tsv`: for every generated function, the x64
//! size of each parameter as the generated Rust declaration says, so that
//! the image test can hold the mingw-w64 prototypes to the real WDK's (the
//! ndis-facts tables). The file goes to `$OUT_DIR` and, when
//! `VOLNIC_CROSS_OUT` is set (build.sh sets it), beside the image.
//!
//! Environment: `MINGW_INCLUDE` (default `/usr/share/mingw-w64/include`).

use std::collections::HashMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use bindgen::{Builder, CodegenConfig, EnumVariation};

/// The lowest Windows the driver supports (Windows 10 1809 / Server 2019,
/// NTDDI_WIN10_RS5), so that the headers declare what that build has.
const NTDDI_VERSION: &str = "0x0A000006";

/// Clang's own headers (stddef.h, mm_malloc.h...), which libclang does not
/// always find by itself: `$CLANG -print-resource-dir` (CLANG defaults to
/// `clang`).
fn clang_resource_include() -> PathBuf {
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let output = std::process::Command::new(&clang)
        .arg("-print-resource-dir")
        .output()
        .unwrap_or_else(|e| panic!("{clang} -print-resource-dir: {e}: apt-get install clang"));
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    PathBuf::from(dir).join("include")
}

fn builder(include: &Path, as_wdk_sys: bool) -> Builder {
    let ddk = include.join("ddk");
    let builder = Builder::default()
        .header_contents("volnic-cross.h", "#include <ntifs.h>\n")
        .use_core()
        .derive_default(true)
        .generate_cstr(true)
        .layout_tests(false)
        .default_enum_style(EnumVariation::ModuleConsts)
        .must_use_type("NTSTATUS")
        // Clang's AMX intrinsics type (amxintrin.h, through intrin.h): not
        // a kernel item, and packed + aligned, which Rust cannot express.
        .blocklist_item("__tile1024i(_str)?")
        .detect_include_paths(false)
        .clang_arg("--target=x86_64-w64-mingw32")
        .clang_arg("-fno-builtin")
        .clang_arg(format!("-isystem{}", clang_resource_include().display()))
        .clang_arg(format!("-isystem{}", ddk.display()))
        .clang_arg(format!("-isystem{}", include.display()))
        .clang_arg("-D_AMD64_")
        .clang_arg("-D_KERNEL_MODE")
        .clang_arg("-D_WIN32_WINNT=0x0A00")
        .clang_arg(format!("-DNTDDI_VERSION={NTDDI_VERSION}"));
    if !as_wdk_sys {
        return builder;
    }
    // wdk-sys 0.5 leaves these out (deprecated allocation routines), so the
    // substitute does too: code built here must build there. (The
    // signature table has them: the driver declares ExAllocatePoolWithTag
    // itself.)
    builder
        .blocklist_item("ExAllocatePoolWithTag")
        .blocklist_item("ExAllocatePoolWithQuotaTag")
        .blocklist_item("ExAllocatePoolWithTagPriority")
        .blocklist_item("ExAllocatePool")
}

fn generate(
    include: &Path,
    out: &Path,
    file: &str,
    what: CodegenConfig,
    as_wdk_sys: bool,
) -> String {
    let bindings = builder(include, as_wdk_sys)
        .with_codegen_config(what)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed on the mingw-w64 headers ({file}): {e}"));
    let text = bindings.to_string();
    fs::write(out.join(file), &text).unwrap_or_else(|e| panic!("{file}: {e}"));
    text
}

fn main() {
    let include = PathBuf::from(
        env::var("MINGW_INCLUDE").unwrap_or_else(|_| "/usr/share/mingw-w64/include".into()),
    );
    println!("cargo:rerun-if-env-changed=MINGW_INCLUDE");
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-env-changed=VOLNIC_CROSS_OUT");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", include.join("ddk").display());
    assert!(
        include.join("ddk/ntifs.h").exists(),
        "{}/ddk/ntifs.h not found: install mingw-w64-x86-64-dev (or set MINGW_INCLUDE)",
        include.display()
    );
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    let functions_only = (CodegenConfig::TYPES | CodegenConfig::VARS).complement();
    generate(&include, &out, "constants.rs", CodegenConfig::VARS, true);
    let types = generate(&include, &out, "types.rs", CodegenConfig::TYPES, true);
    generate(&include, &out, "ntddk.rs", functions_only, true);
    // Every prototype of the headers, the blocklisted ones too, for the
    // signature table only (not compiled).
    let functions = generate(&include, &out, "all-functions.rs", functions_only, false);

    let table = signature_table(&types, &functions);
    fs::write(out.join("signatures.tsv"), &table).expect("signatures.tsv");
    if let Ok(dir) = env::var("VOLNIC_CROSS_OUT") {
        fs::create_dir_all(&dir).expect("VOLNIC_CROSS_OUT");
        fs::write(Path::new(&dir).join("signatures.tsv"), &table).expect("signatures.tsv");
    }
}

/// What a generated type name stands for.
enum Def {
    Alias(Box<syn::Type>),
    /// A struct or union: passed by value only in a few prototypes; its
    /// size is not derived here.
    Record,
}

/// `name<TAB>return size<TAB>parameter sizes` for every generated function
/// (sizes of x86_64 Windows, LLP64: `c_long` is 4 bytes; `?` where the size
/// is not derived, `-` for a variadic tail).
fn signature_table(types: &str, functions: &str) -> String {
    let types = syn::parse_file(types).expect("generated types.rs parses");
    let mut defs: HashMap<String, Def> = HashMap::new();
    collect_defs(&types.items, "", &mut defs);
    let functions = syn::parse_file(functions).expect("generated ntddk.rs parses");
    let mut rows: Vec<String> = Vec::new();
    for item in &functions.items {
        let syn::Item::ForeignMod(block) = item else {
            continue;
        };
        for item in &block.items {
            let syn::ForeignItem::Fn(f) = item else {
                continue;
            };
            let mut sizes: Vec<String> = f
                .sig
                .inputs
                .iter()
                .filter_map(|arg| match arg {
                    syn::FnArg::Typed(t) => Some(size_text(size_of_type(&t.ty, &defs, 0))),
                    syn::FnArg::Receiver(_) => None,
                })
                .collect();
            if f.sig.variadic.is_some() {
                sizes.push("-".into());
            }
            let ret = match &f.sig.output {
                syn::ReturnType::Default => "0".to_string(),
                syn::ReturnType::Type(_, t) => size_text(size_of_type(t, &defs, 0)),
            };
            rows.push(format!("{}\t{ret}\t{}", f.sig.ident, sizes.join(",")));
        }
    }
    rows.sort();
    let mut table = String::from("name\treturn_size\tparam_sizes\n");
    for row in rows {
        let _ = writeln!(table, "{row}");
    }
    table
}

fn collect_defs(items: &[syn::Item], prefix: &str, defs: &mut HashMap<String, Def>) {
    for item in items {
        match item {
            syn::Item::Type(t) => {
                defs.insert(format!("{prefix}{}", t.ident), Def::Alias(t.ty.clone()));
            }
            syn::Item::Struct(s) => {
                defs.insert(format!("{prefix}{}", s.ident), Def::Record);
            }
            syn::Item::Union(u) => {
                defs.insert(format!("{prefix}{}", u.ident), Def::Record);
            }
            syn::Item::Mod(m) => {
                if let Some((_, inner)) = &m.content {
                    collect_defs(inner, &format!("{}::", m.ident), defs);
                }
            }
            // `pub use self::_MODE::Type as MODE;`
            syn::Item::Use(u) => {
                if let syn::UseTree::Path(p) = &u.tree {
                    if let syn::UseTree::Path(q) = &*p.tree {
                        if let syn::UseTree::Rename(r) = &*q.tree {
                            let target: syn::Type =
                                syn::parse_str(&format!("{}::{}", q.ident, r.ident))
                                    .expect("a path");
                            defs.insert(r.rename.to_string(), Def::Alias(Box::new(target)));
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn size_text(size: Option<usize>) -> String {
    size.map_or_else(|| "?".to_string(), |s| s.to_string())
}

fn size_of_type(ty: &syn::Type, defs: &HashMap<String, Def>, depth: u32) -> Option<usize> {
    if depth > 32 {
        return None;
    }
    match ty {
        syn::Type::Ptr(_) | syn::Type::Reference(_) | syn::Type::BareFn(_) => Some(8),
        syn::Type::Paren(p) => size_of_type(&p.elem, defs, depth + 1),
        syn::Type::Group(g) => size_of_type(&g.elem, defs, depth + 1),
        syn::Type::Array(_) => None,
        syn::Type::Path(p) => {
            let segments: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            let last = segments.last()?.as_str();
            if last == "Option" {
                // Option<unsafe extern "C" fn(..)>: a nullable function pointer.
                return Some(8);
            }
            if let Some(size) = primitive_size(last) {
                if segments.len() == 1 || segments.iter().any(|s| s == "ffi") {
                    return Some(size);
                }
            }
            let key = match segments.as_slice() {
                [.., m, t] if t == "Type" => format!("{m}::Type"),
                _ => last.to_string(),
            };
            match defs.get(&key)? {
                Def::Alias(inner) => size_of_type(inner, defs, depth + 1),
                Def::Record => None,
            }
        }
        _ => None,
    }
}

/// Sizes of the scalar types bindgen emits, on x86_64 Windows (LLP64).
fn primitive_size(name: &str) -> Option<usize> {
    Some(match name {
        "u8" | "i8" | "bool" | "c_char" | "c_schar" | "c_uchar" => 1,
        "u16" | "i16" | "c_short" | "c_ushort" => 2,
        "u32" | "i32" | "f32" | "c_int" | "c_uint" | "c_long" | "c_ulong" | "c_float" => 4,
        "u64" | "i64" | "f64" | "c_longlong" | "c_ulonglong" | "c_double" | "usize" | "isize" => 8,
        "u128" | "i128" => 16,
        _ => return None,
    })
}
