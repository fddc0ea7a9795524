#!/usr/bin/env bash
# The Debian package on a pristine Debian 13, booted with its own systemd (systemd-nspawn -b):
# apt installs the .deb and its dependencies from Debian's mirror, with MariaDB and libvirt's
# QEMU daemon beside it in the same container; only [database] connection is set; then
#   - db sync, `systemctl enable --now`: the unit is active (Type=notify: READY=1 came) and
#     a compute_nodes row is written;
#   - a bad option: `systemctl reload` fails and the daemon is not signalled (same PID, no
#     reload in its log);
#   - a fatal configuration error (exit 2) is not restarted: NRestarts stays 0 past RestartSec.
#   tools/package-test.sh [DEB]   (as root; DEB defaults to the newest dist/*.deb)
# Prints one line per check and ends with "package-test: ok" (exit 0) or "package-test:
# FAILED: ..." (exit 1); 2 when it cannot run. Logs: the directory it names.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "package-test: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "run as root (systemd-nspawn)"
command -v systemd-nspawn >/dev/null || die "no systemd-nspawn: apt-get install systemd-container"
image=$(tools/debian-image.sh --path trixie) || die "no trixie image: run tools/debian-image.sh trixie"
deb=${1:-$(ls -t dist/resource-tracker_*_all.deb 2>/dev/null | head -1)}
[ -n "$deb" ] && [ -f "$deb" ] || die "no .deb: run tools/build-deb.sh"

work=$(mktemp -d /var/tmp/resource-tracker-package-test.XXXXXX)
logs=$(mktemp -d /tmp/resource-tracker-package-test.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
root="$work/root"
mkdir "$root"
tar -C "$root" -xzf "$image"
cp "$deb" "$root/root/"
mkdir -p ~/.cache/resource-tracker/apt-archives

cat > "$root/root/package-test.sh" <<'INSIDE'
#!/bin/sh
# Runs in the booted container; one line per check, in /results/checks.
exec >/results/inside.log 2>&1
set -x
export DEBIAN_FRONTEND=noninteractive
ok() { echo "ok: $*" >> /results/checks; }
failed() {
    echo "FAILED: $*" >> /results/checks
    journalctl --no-pager -n 200 > /results/journal-last.log
    exit 1
}
conf=/etc/resource-tracker/resource-tracker.conf
# The container shares the host's network (apt needs the mirror), where 3306 may be taken:
# this MariaDB listens on its Unix socket only.
mkdir -p /etc/mysql/mariadb.conf.d
printf '[mysqld]\nskip-networking\n' > /etc/mysql/mariadb.conf.d/99-package-test.cnf
apt-get -q update || failed "apt-get update"
apt-get -q install -y --no-install-recommends /root/resource-tracker_*.deb mariadb-server \
    libvirt-daemon-system libvirt-daemon-driver-qemu || failed "apt-get install of the .deb"
ok "installed $(dpkg-query -W -f='${Package} ${Version}' resource-tracker) and its dependencies"
[ "$(systemctl is-enabled resource-tracker)" = disabled ] || failed "the unit is enabled before a database is set"
systemctl is-active --quiet resource-tracker && failed "the unit started at install"
getent passwd resource-tracker >/dev/null || failed "no resource-tracker user"
[ "$(stat -c '%U:%G %a' $conf)" = "root:resource-tracker 640" ] || failed "$conf: $(stat -c '%U:%G %a' $conf)"
ok "installed disabled and stopped; user resource-tracker; $conf root:resource-tracker 0640"
for file in /usr/share/bash-completion/completions/resource-tracker-manage \
        /usr/share/doc/resource-tracker/examples/resource-tracker.rules.yml \
        /usr/share/doc/resource-tracker/examples/resource-tracker.json \
        /usr/share/man/man8/resource-tracker.8.gz /usr/share/man/man8/resource-tracker-manage.8.gz; do
    [ -s "$file" ] || failed "$file is missing"
done
ok "bash completion, alert rules, dashboard and man pages installed"
systemctl start mariadb || failed "MariaDB did not start"
# libvirt's daemon as Debian 13 enables it: libvirtd's sockets (or the modular virtqemud's)
systemctl start libvirtd.socket || systemctl start virtqemud.socket || failed "no libvirt daemon"
mariadb -e "CREATE DATABASE resource_tracker CHARACTER SET utf8mb4;
  CREATE USER 'tracker'@'localhost' IDENTIFIED BY 'secret';
  GRANT ALL ON resource_tracker.* TO 'tracker'@'localhost';" || failed "CREATE DATABASE"
# the one option set
printf '\n[database]\nconnection = mysql+pymysql://tracker:secret@localhost/resource_tracker?unix_socket=/run/mysqld/mysqld.sock&charset=utf8mb4\n' >> $conf
resource-tracker-manage --config-file $conf db sync || failed "db sync"
systemctl enable --now resource-tracker || failed "systemctl enable --now"
pid=$(systemctl show -P MainPID resource-tracker)
rows=0
for _ in $(seq 60); do
    rows=$(mariadb -N -e "SELECT COUNT(*) FROM resource_tracker.compute_nodes WHERE deleted = 0")
    [ "$rows" -ge 1 ] && break
    sleep 1
done
journalctl -u resource-tracker --no-pager > /results/journal-start.log
state=$(systemctl show -P ActiveState,SubState resource-tracker | tr '\n' ' ')
[ "$state" = "active running " ] || failed "after start: $state"
[ "$rows" -ge 1 ] || failed "no compute_nodes row within 60 s"
ok "active (running), READY=1 (Type=notify), $rows compute_nodes row; $(journalctl -u resource-tracker -o cat | grep -m1 starting)"
printf '\n[DEFAULT]\nno_such_option = 1\n' >> $conf
systemctl reload resource-tracker && failed "systemctl reload succeeded with a bad option"
sleep 2
[ "$(systemctl show -P MainPID resource-tracker)" = "$pid" ] || failed "the daemon was restarted by the failed reload"
journalctl -u resource-tracker -o cat | grep -q "configuration reloaded\|SIGHUP" && failed "the daemon was signalled"
systemctl is-active --quiet resource-tracker || failed "not active after the failed reload"
ok "systemctl reload with a bad option failed; daemon $pid not signalled, still active"
sed -i '/^no_such_option/d' $conf
printf 'instances_path = /nonexistent/instances\n' >> $conf
systemctl restart resource-tracker
sleep 15   # RestartSec=10: a restart would have come by now
journalctl -u resource-tracker --no-pager > /results/journal-fatal.log
restarts=$(systemctl show -P NRestarts resource-tracker)
status=$(systemctl show -P ExecMainStatus resource-tracker)
active=$(systemctl show -P ActiveState resource-tracker)
[ "$status" = 2 ] || failed "a fatal configuration error: exit status $status, not 2"
[ "$restarts" = 0 ] && [ "$active" = failed ] || failed "exit 2 restarted: NRestarts=$restarts, $active"
ok "a fatal configuration error: exit 2, $active, NRestarts=$restarts after 15 s"
echo done >> /results/checks
INSIDE
chmod +x "$root/root/package-test.sh"
cat > "$root/etc/systemd/system/package-test.service" <<'UNIT'
[Unit]
Description=resource-tracker package test
After=multi-user.target network-online.target
Wants=network-online.target
[Service]
Type=oneshot
ExecStart=/root/package-test.sh
ExecStopPost=/usr/bin/systemctl poweroff --no-block
TimeoutStartSec=15min
[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/package-test.service "$root/etc/systemd/system/multi-user.target.wants/"

echo "package-test: booting a pristine Debian 13 with $(basename "$deb") (logs: $logs)"
timeout 20m systemd-nspawn -q -b --register=no --keep-unit -D "$root" --bind="$logs:/results" \
    --bind="$HOME/.cache/resource-tracker/apt-archives:/var/cache/apt/archives" \
    </dev/null >"$logs/boot.log" 2>&1 || true
grep -v '^done$' "$logs/checks" 2>/dev/null | sed 's/^/package-test: /' || true
if [ "$(tail -1 "$logs/checks" 2>/dev/null)" = done ]; then
    echo "package-test: ok"
    exit 0
fi
echo "package-test: FAILED (logs: $logs)"
tail -20 "$logs/inside.log" 2>/dev/null || true
exit 1
