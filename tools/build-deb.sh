#!/usr/bin/env bash
# Build the Debian 13 (trixie) package of this checkout's committed HEAD with Debian's own
# tooling (dpkg-buildpackage, debhelper, dh-python, lintian) in a throwaway trixie root run
# by systemd-nspawn; the .deb and lintian's report land in dist/.
#   tools/build-deb.sh            (as root; needs the trixie image, see tools/debian-image.sh)
# The source is the sdist `python -m build` makes from a clean clone (its version from the git
# tags, see pyproject.toml), unpacked as the .orig tarball, with this tree's debian/ on top.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
die() { echo "build-deb: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "run as root (systemd-nspawn)"
image=$(tools/debian-image.sh --path trixie) || die "no trixie image: run tools/debian-image.sh trixie"
[ -x .venv/bin/python ] && .venv/bin/python -c 'import build' 2>/dev/null \
    || die "no .venv with 'build': run tools/setup.sh --test"

work=$(mktemp -d /var/tmp/resource-tracker-deb.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
git clone -q --no-tags . "$work/clone"
# a tag made in the shared repository is seen through the clone's origin
git -C "$work/clone" fetch -q --tags origin 2>/dev/null || true
(cd "$work/clone" && "$top/.venv/bin/python" -m build -q --sdist --outdir "$work" >/dev/null)
sdist=$(ls "$work"/resource_tracker-*.tar.gz)
version=${sdist##*/resource_tracker-}; version=${version%.tar.gz}
# PEP 440 -> Debian: 0.1.1.dev3+g1a2b3c4 sorts before 0.1.1, so the .dev becomes ~dev
upstream=${version/.dev/\~dev}
mkdir "$work/build"
cp "$sdist" "$work/build/resource-tracker_$upstream.orig.tar.gz"
tar -C "$work/build" -xzf "$sdist"
src="$work/build/resource-tracker-$upstream"
mv "$work/build/resource_tracker-$version" "$src"
rm -rf "$src/debian"; cp -a debian "$src/debian"
if [ "$(dpkg-parsechangelog -l debian/changelog -S Version)" != "$upstream-1" ]; then
    # a snapshot: an entry of its own on top, so the package's version is the build's
    { printf 'resource-tracker (%s-1) UNRELEASED; urgency=medium\n\n  * Snapshot of %s.\n\n' \
          "$upstream" "$(git rev-parse --short HEAD)"
      printf ' -- resource-tracker maintainers <resource-tracker@example.org>  %s\n\n' "$(date -R)"
      cat debian/changelog; } > "$src/debian/changelog"
fi

# The build root: the pristine image with Debian's build tooling, made once and cached
# (remade when the image or this list changes).
build_deps="build-essential dpkg-dev fakeroot lintian debhelper dh-python pybuild-plugin-pyproject"
build_deps+=" python3-all python3-setuptools python3-setuptools-scm"
build_deps+=" python3-sphinx python3-myst-parser python3-oslo.config python3-libvirt python3-lxml"
build_deps+=" python3-sqlalchemy python3-keystoneauth1 python3-yaml"
cache=$HOME/.cache/resource-tracker
build_image=$cache/trixie-build-$(echo "$image $build_deps" | sha256sum | cut -c1-12).tar.gz
root="$work/root"
mkdir -p "$root" "$cache/apt-archives"
nspawn() {
    systemd-nspawn -q --register=no --keep-unit -D "$root" \
        --bind="$cache/apt-archives:/var/cache/apt/archives" "$@" </dev/null
}
if [ -s "$build_image" ] && [ "$build_image" -nt "$image" ]; then
    tar -C "$root" -xzf "$build_image"
else
    tar -C "$root" -xzf "$image"
    # shellcheck disable=SC2086
    nspawn sh -c "export DEBIAN_FRONTEND=noninteractive; apt-get -qq update &&
        apt-get -qq install -y --no-install-recommends $build_deps >/dev/null" \
        || die "installing the build tooling failed"
    tar -C "$root" -czf "$build_image.new" . && mv "$build_image.new" "$build_image"
fi
cat > "$work/build/inside.sh" <<'INSIDE'
set -eu
cd /build/resource-tracker-*/
dpkg-buildpackage -us -uc
cd /build
lintian --info --display-info --pedantic --fail-on error,warning ./*.changes | tee lintian.txt
INSIDE
status=0
nspawn --bind="$work/build:/build" sh /build/inside.sh || status=$?
mkdir -p dist
cp "$work"/build/*.deb "$work"/build/lintian.txt dist/ 2>/dev/null || true
[ "$status" -eq 0 ] || die "the build or lintian failed (status $status; see above)"
ls dist/*.deb
