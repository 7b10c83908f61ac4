#!/usr/bin/env bash
# Builds volnic.sys on Linux: the driver crate (portable code and the
# Windows layer, unchanged) for x86_64-pc-windows-msvc, linked by rust-lld
# into a PE32+ kernel-mode image against mingw-w64's import libraries, with
# wdk-sys replaced by the substitute in driver/cross/wdk-sys (bindings
# generated from the mingw-w64 kernel headers). It also runs clippy with
# -D warnings on the driver for that target.
#
# Needs: rustup's x86_64-pc-windows-msvc target, Debian's
# mingw-w64-x86-64-dev and binutils-mingw-w64-x86-64, libclang-dev (bindgen).
# The last line printed is the image's path. What this proves and what it
# does not: docs/DRIVER.md, "The Linux cross build".
#
# Environment: VOLNIC_CROSS_SKIP_CLIPPY=1 leaves out the clippy pass;
# MINGW_LIB / MINGW_INCLUDE point at another mingw-w64 tree.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target=x86_64-pc-windows-msvc
target_dir="$root/target/cross"
out="$target_dir/out"
mingw_lib="${MINGW_LIB:-/usr/x86_64-w64-mingw32/lib}"
export MINGW_INCLUDE="${MINGW_INCLUDE:-/usr/share/mingw-w64/include}"

fail() {
    echo "driver/cross/build.sh: $*" >&2
    exit 1
}

[ -f "$MINGW_INCLUDE/ddk/ntifs.h" ] ||
    fail "no mingw-w64 kernel headers at $MINGW_INCLUDE/ddk: apt-get install mingw-w64-x86-64-dev"
for lib in ntoskrnl hal ndis; do
    [ -f "$mingw_lib/lib$lib.a" ] ||
        fail "no $mingw_lib/lib$lib.a: apt-get install mingw-w64-x86-64-dev"
done
if ! rustc --print sysroot >/dev/null 2>&1 ||
    [ ! -d "$(rustc --print sysroot)/lib/rustlib/$target/lib" ]; then
    fail "the $target standard library is missing: rustup target add $target"
fi

# The import libraries under the names the sources and link flags use
# (ndis.lib from #[link(name = "ndis")], ntoskrnl.lib, hal.lib).
mkdir -p "$target_dir/lib" "$out"
for lib in ntoskrnl hal ndis; do
    ln -sf "$mingw_lib/lib$lib.a" "$target_dir/lib/$lib.lib"
done

# __chkstk (see chkstk.s): the one routine the image gets that mingw-w64
# does not supply.
x86_64-w64-mingw32-as -o "$target_dir/lib/chkstk.obj" "$here/chkstk.s" ||
    fail "cannot assemble chkstk.s: apt-get install binutils-mingw-w64-x86-64"

export VOLNIC_CROSS_OUT="$out"
cargo_args=(
    --manifest-path "$here/Cargo.toml"
    --config "$here/config.toml"
    --config "target.$target.rustflags=['-L','native=$target_dir/lib','-C','link-arg=$target_dir/lib/chkstk.obj','-C','link-arg=/MAP:$target_dir/volnic.map']"
    --target "$target"
    --target-dir "$target_dir"
    --release
    -p volnic
)

cd "$root"
echo "== cross build: volnic for $target (release), wdk-sys from mingw-w64 headers" >&2
cargo build "${cargo_args[@]}" >&2

if [ "${VOLNIC_CROSS_SKIP_CLIPPY:-0}" != 1 ]; then
    echo "== cross build: clippy -D warnings on the driver for $target" >&2
    cargo clippy "${cargo_args[@]}" -- -D warnings >&2
fi

dll="$target_dir/$target/release/volnic.dll"
[ -f "$dll" ] || fail "the link produced no $dll"
image="$target_dir/volnic.sys"
cp "$dll" "$image"
[ -f "$out/signatures.tsv" ] || fail "the substitute wrote no $out/signatures.tsv"
cp "$out/signatures.tsv" "$target_dir/volnic-signatures.tsv"
echo "== cross build: $(stat -c %s "$image") bytes" >&2
# Stack frames larger than a page call __chkstk: say how many there are, as
# a kernel stack is 24 KiB in all.
chkstk=$(awk '$2 == "__chkstk" { print $3 }' "$target_dir/volnic.map" | sed 's/^0*//')
if [ -n "$chkstk" ]; then
    calls=$(x86_64-w64-mingw32-objdump -d "$image" | grep -c "call *0x$chkstk\b" || true)
    echo "== cross build: $calls stack frame(s) over 4 KiB (calls of __chkstk)" >&2
fi
echo "$image"
