#!/usr/bin/env bash
# Quick start, first command: set up, then audit the sample host once (libvirt's test driver
# with the host described in etc/resource-tracker/demo/, its disks real qcow2 and raw images
# made here with qemu-img) into SQLite, and show the row it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

demo="$PWD/.demo"
instances="$demo/instances"
rm -rf "$instances"
mkdir -p "$instances"/{_base,web-01,db-01,batch-01}
qemu-img create -q -f qcow2 "$instances/_base/ubuntu-24.04.qcow2" 10G
qemu-img create -q -f qcow2 -b "$instances/_base/ubuntu-24.04.qcow2" -F qcow2 \
    "$instances/web-01/disk" 20G
qemu-img create -q -f qcow2 "$instances/db-01/disk" 40G
qemu-io -c "write 0 64M" "$instances/db-01/disk" >/dev/null  # 64 MiB the guest has written
qemu-img create -q -f raw "$instances/db-01/disk.data" 10G  # sparse: nothing allocated yet
qemu-img create -q -f qcow2 -o compat=0.10 "$instances/batch-01/disk" 8G
for template in node.xml resource-tracker.conf; do
    sed "s|@DEMO_DIR@|$demo|g" "etc/resource-tracker/demo/$template.in" >"$demo/$template"
done

conf=(--config-file "$demo/resource-tracker.conf")
.venv/bin/resource-tracker-manage "${conf[@]}" db sync
.venv/bin/resource-tracker "${conf[@]}" --once
.venv/bin/resource-tracker-manage "${conf[@]}" nodes show demo-host
