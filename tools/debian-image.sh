#!/usr/bin/env bash
# A pristine Debian root (trixie = 13: the package is built and tested in it; bookworm = 12:
# the wheel is tested in it), as a tarball: fresh-debian's cached image when the host has
# one, else ours, made once with debootstrap (default variant: priority required and
# important, so systemd as init; plus sudo, ca-certificates, python3, locales, as
# fresh-debian's) and kept in ~/.cache/resource-tracker/SUITE-rootfs.tar.gz (delete it to
# make it again).
#   tools/debian-image.sh SUITE           make it if missing, print its path
#   tools/debian-image.sh --path SUITE    print its path if it exists, else exit 1
set -euo pipefail
only_path=false
[ "${1:-}" = "--path" ] && { only_path=true; shift; }
suite=${1:?usage: debian-image.sh [--path] trixie|bookworm}
shared=/var/cache/fresh-debian/$suite-rootfs.tar.gz
ours=$HOME/.cache/resource-tracker/$suite-rootfs.tar.gz
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
for image in "$shared" "$ours"; do
    [ -s "$image" ] && { echo "$image"; exit 0; }
done
$only_path && exit 1
[ "$(id -u)" -eq 0 ] || { echo "debian-image: run as root (debootstrap)" >&2; exit 2; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
work=$(mktemp -d /var/tmp/debian-image.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
echo "debian-image: debootstrap $suite from $mirror (a few minutes)" >&2
unshare -m debootstrap --include=sudo,ca-certificates,python3,locales "$suite" "$work/r" "$mirror" \
    > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 2; }
printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s-security %s-security main\n' \
    "$mirror" "$suite" "$mirror" "$suite" "$mirror" "$suite" > "$work/r/etc/apt/sources.list"
rm -f "$work"/r/var/cache/apt/archives/*.deb
mkdir -p "$(dirname "$ours")"
tar -C "$work/r" -czf "$ours.new" . && mv "$ours.new" "$ours"
echo "$ours"
