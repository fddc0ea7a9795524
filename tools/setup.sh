#!/usr/bin/env bash
# Set up this checkout on Debian/Ubuntu: the OS packages that are missing, a virtualenv in
# .venv, and the package installed into it (editable).
#   tools/setup.sh          what the daemon and the demo need
#   tools/setup.sh --test   also what the tests need: git, the MariaDB server and client
#                           binaries (not the mariadb-server service), libvirtd/QEMU binaries
#                           (the tests start private instances of both), LVM tools (a volume
#                           group on a loop device), Ceph's daemons and Python binding (a
#                           private cluster), Prometheus and promtool (the alert rules'
#                           unit tests, the dashboard's queries), ruff, pytest
# README.md, "What the Quick start leaves behind", lists what this installs and how to undo it.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=false
[ "${1:-}" = "--test" ] && want_tests=true

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt() { as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"; }
die() { echo "setup: $*" >&2; exit 1; }

packages=(pkg-config libvirt-dev qemu-utils gcc)
# Debian's python3 runs `-m venv --help` without python3-venv; creating a venv then fails
# for want of ensurepip, which is what that package adds.
python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || packages+=(python3-dev)
if $want_tests; then
    packages+=(git mariadb-server-core mariadb-client-core libvirt-daemon
               libvirt-daemon-driver-qemu qemu-system-x86 lvm2 strace
               ceph-mon ceph-mgr ceph-osd ceph-common python3-rados python3-rbd)
    # promtool (etc/prometheus's rules tests) and the server the dashboard's queries run on
    command -v promtool >/dev/null || packages+=(prometheus)
fi

missing=()
for package in "${packages[@]}"; do
    installed "$package" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt update -qq
    apt install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# libvirt's node device driver (the host's PCI devices, tests/functional/test_libvirtd_devices.py)
# is in libvirt-daemon on Debian 12; from Debian 13 on it is a package of its own, which
# libvirt-daemon only recommends
if $want_tests && ! compgen -G "/usr/lib/*/libvirt/connection-driver/libvirt_driver_nodedev.so" >/dev/null; then
    echo "setup: installing libvirt-daemon-driver-nodedev"
    [ ${#missing[@]} -gt 0 ] || apt update -qq
    apt install -y -qq --no-install-recommends libvirt-daemon-driver-nodedev >/dev/null
fi
pkg-config --exists libvirt || die "pkg-config cannot find libvirt: install libvirt-dev"

# A venv that a failed or interrupted run left half made, or whose Python is gone (an OS
# upgrade), is made again.
if ! { [ -x .venv/bin/pip ] && .venv/bin/python -c '' 2>/dev/null; }; then
    rm -rf .venv
    python3 -m venv .venv || { rm -rf .venv; die "python3 -m venv failed (see above)"; }
fi
extras=""
$want_tests && extras="[test]"
stamp=".venv/.installed$extras-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    echo "setup: installing the package into .venv"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e ".$extras"
    touch "$stamp"
fi

if $want_tests; then
    # Ceph's Python binding is packaged for Debian's python3 only: show it to .venv's Python
    # when it is the same version (docs/storage.md: Ceph RBD).
    site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
    suffix=$(.venv/bin/python -c 'import importlib.machinery as m; print(m.EXTENSION_SUFFIXES[0])')
    for module in rados rbd; do
        built="/usr/lib/python3/dist-packages/$module$suffix"
        if [ -e "$built" ]; then ln -sf "$built" "$site/"; fi
    done
fi
