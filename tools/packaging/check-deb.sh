#!/usr/bin/env bash
# Builds volnic's Debian package (or takes the .deb given) and checks it:
# the files it holds, its control fields, the systemd unit's ExecStart, and
# `volnic --version` from the unpacked tree; then, as root, installs it with
# dpkg -i, checks /usr/bin/volnic, the unit and /etc/volnic, and purges it
# again. CI runs it (.ci/run); by hand:
#
#   tools/packaging/check-deb.sh                  # cargo deb -p volnic-tools, then check
#   tools/packaging/check-deb.sh target/debian/volnic_0.1.0-1_amd64.deb
#
# Without root, or where a volnic package is already installed (it is left
# alone), the install step is skipped and says so.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "check-deb: $*" >&2; exit 1; }

deb=${1:-}
if [ -z "$deb" ]; then
    cargo deb --version >/dev/null 2>&1 ||
        fail "cargo-deb is missing: cargo install cargo-deb --locked"
    echo "check-deb: cargo deb -p volnic-tools"
    deb=$(cargo deb -p volnic-tools --quiet | tail -n 1)
fi
[ -f "$deb" ] || fail "$deb: no such package file"
echo "check-deb: $deb"

# Control fields.
[ "$(dpkg-deb -f "$deb" Package)" = volnic ] || fail "package name is not volnic"
dpkg-deb -f "$deb" Depends | grep -q iproute2 || fail "Depends lacks iproute2 (volnic up runs ip)"
version=$(dpkg-deb -f "$deb" Version)
upstream=${version%-*}

# Contents.
contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')
for want in \
    /usr/bin/volnic \
    /usr/lib/systemd/system/volnic@.service \
    /usr/share/doc/volnic/examples/heartbeat.toml \
    /usr/share/doc/volnic/copyright \
    /usr/share/doc/volnic/README.md \
    /usr/share/doc/volnic/LINUX.md \
    /usr/share/doc/volnic/CLUSTERS.md \
    /usr/share/doc/volnic/TROUBLESHOOTING.md \
    /usr/share/doc/volnic/SECURITY.md \
    /usr/share/doc/volnic/FORMAT.md \
    /usr/share/man/man1/volnic.1.gz \
    /usr/share/man/man1/volnic-up.1.gz \
    /usr/share/man/man1/volnic-format.1.gz \
    /usr/share/man/man1/volnic-demo.1.gz \
    /usr/share/bash-completion/completions/volnic \
    /usr/share/zsh/vendor-completions/_volnic \
    /usr/share/fish/vendor_completions.d/volnic.fish; do
    grep -qxF "$want" <<<"$contents" || fail "$want is not in the package"
done
pages=$(grep -c '^/usr/share/man/man1/volnic.*\.1\.gz$' <<<"$contents" || true)
echo "check-deb: contents ok ($(grep -vc '/$' <<<"$contents") files, $pages man pages)"

# The unpacked tree: the unit runs the packaged program, which runs.
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
dpkg-deb -x "$deb" "$tree"
unit="$tree/usr/lib/systemd/system/volnic@.service"
exec_start=$(grep '^ExecStart=' "$unit" | head -n 1)
case "$exec_start" in
    "ExecStart=/usr/bin/volnic "*) ;;
    *) fail "the unit's $exec_start does not run /usr/bin/volnic" ;;
esac
"$tree/usr/bin/volnic" --version | grep -qxF "volnic $upstream" ||
    fail "unpacked volnic --version is not 'volnic $upstream'"
for page in "$tree"/usr/share/man/man1/*.gz; do
    gzip -t "$page" || fail "$page is not a valid gzip file"
    zcat "$page" | grep -q '^\.TH' || fail "$page is not a man page"
done
grep -q 'complete -F' "$tree/usr/share/bash-completion/completions/volnic" ||
    fail "the bash completion defines no completion"
echo "check-deb: unpacked: $exec_start; $("$tree/usr/bin/volnic" --version)"

# Install, check, purge.
if [ "$(id -u)" != 0 ]; then
    echo "check-deb: not root: install step skipped (dpkg -i needs root)"
    exit 0
fi
if dpkg-query -W -f='${Status}' volnic 2>/dev/null | grep -q 'install ok installed'; then
    echo "check-deb: a volnic package is already installed here: install step skipped, it is left alone"
    exit 0
fi
etc_before=no
[ -e /etc/volnic ] && etc_before=yes
dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb failed"
installed=$(/usr/bin/volnic --version) || fail "/usr/bin/volnic does not run"
[ "$installed" = "volnic $upstream" ] || fail "/usr/bin/volnic --version says '$installed'"
grep -q '^ExecStart=/usr/bin/volnic ' /usr/lib/systemd/system/volnic@.service ||
    fail "the installed unit does not run /usr/bin/volnic"
[ -d /etc/volnic ] || fail "/etc/volnic was not created"
dpkg -L volnic | grep -qx /usr/share/doc/volnic/examples/heartbeat.toml ||
    fail "dpkg -L volnic lacks the example settings file"
echo "check-deb: installed: $installed at /usr/bin/volnic"
dpkg --purge volnic >/dev/null || fail "dpkg --purge volnic failed"
[ ! -e /usr/bin/volnic ] || fail "/usr/bin/volnic is left after purge"
[ ! -e /usr/lib/systemd/system/volnic@.service ] || fail "the unit is left after purge"
if [ "$etc_before" = no ] && [ -e /etc/volnic ]; then
    fail "/etc/volnic, made by the package, is left after purge"
fi
echo "check-deb: purged: nothing left"
