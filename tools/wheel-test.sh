#!/usr/bin/env bash
# The wheel on a pristine Debian 12 (bookworm), whose SQLAlchemy (1.4) is too old for the
# Debian package: a virtualenv that sees Debian's python3-libvirt and python3-lxml (so no
# compiler: libvirt-python has no wheel on PyPI), the rest as wheels from PyPI. Checks
# --version, db sync on SQLite and one audit (--once) of libvirt's test driver.
#   tools/wheel-test.sh [WHEEL]   (as root; WHEEL defaults to the newest dist/*.whl)
# Ends with "wheel-test: ok" (exit 0) or "wheel-test: FAILED ..." (1); 2 when it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "wheel-test: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "run as root (systemd-nspawn)"
image=$(tools/debian-image.sh --path bookworm) || die "no bookworm image: run tools/debian-image.sh bookworm"
wheel=${1:-$(ls -t dist/resource_tracker-*.whl 2>/dev/null | head -1)}
[ -n "$wheel" ] && [ -f "$wheel" ] || die "no wheel: run python -m build"
work=$(mktemp -d /var/tmp/resource-tracker-wheel-test.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
mkdir "$work/root"
tar -C "$work/root" -xzf "$image"
cp "$wheel" "$work/root/root/"
# the host's own certificate authorities (a TLS-inspecting proxy's, say), as pip needs them
cp -a /usr/local/share/ca-certificates/. "$work/root/usr/local/share/ca-certificates/"
mkdir -p ~/.cache/resource-tracker/apt-archives-bookworm
cat > "$work/root/root/wheel-test.sh" <<'INSIDE'
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get -qq update
apt-get -qq install -y --no-install-recommends python3-venv python3-libvirt python3-lxml >/dev/null
update-ca-certificates >/dev/null
if command -v gcc cc >/dev/null; then echo "a compiler is installed"; exit 1; fi
python3 -m venv --system-site-packages /opt/resource-tracker
/opt/resource-tracker/bin/pip install -q --only-binary :all: /root/resource_tracker-*.whl
/opt/resource-tracker/bin/resource-tracker --version
mkdir -p /tmp/rt/instances
cat > /tmp/rt/rt.conf <<CONF
[DEFAULT]
state_path = /tmp/rt
instances_path = /tmp/rt/instances
[libvirt]
connection_uri = test:///default
CONF
/opt/resource-tracker/bin/resource-tracker-manage --config-file /tmp/rt/rt.conf db sync
/opt/resource-tracker/bin/resource-tracker --config-file /tmp/rt/rt.conf --once
/opt/resource-tracker/bin/resource-tracker-manage --config-file /tmp/rt/rt.conf nodes list
INSIDE
if systemd-nspawn -q --register=no --keep-unit -D "$work/root" \
    --bind="$HOME/.cache/resource-tracker/apt-archives-bookworm:/var/cache/apt/archives" \
    sh /root/wheel-test.sh </dev/null; then
    echo "wheel-test: ok"
else
    echo "wheel-test: FAILED (see above)"
    exit 1
fi
