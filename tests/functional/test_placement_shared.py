"""Two hosts on one shared instance storage report it as ONE sharing provider
(MISC_SHARES_VIA_AGGREGATE) in an aggregate with each host's root provider, so that
GET /allocation_candidates offers the shared disk once, not once per host.

Each host runs `resource-tracker --once` in a UTS namespace of its own with its own host
name (`unshare --uts`), since libvirt's test driver reports the machine's host name as the
hypervisor_hostname and Placement allows one provider per name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.functional.test_cli import BIN
from tests.functional.test_shared_instances import configure, manage, overcommit
from tests.support import images
from tests.support import placement as placement_support
from tests.support.placement_api import PlacementApi

GiB = 2**30
DISKS = {"compute-a": ("a-1",), "compute-b": ("b-1",)}
SHARES = "MISC_SHARES_VIA_AGGREGATE"


def audit_as(hostname: str, conf: str) -> subprocess.CompletedProcess:
    command = f"hostname {hostname} && exec {os.path.join(BIN, 'resource-tracker')} "
    return subprocess.run(
        ["unshare", "--uts", "sh", "-c", command + f"--config-file {conf} --once"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs root and unshare (util-linux) for a host name of its own (a UTS namespace)",
)
def test_shared_storage_is_one_sharing_provider_and_offered_once(
    tmp_path, placement_server, sqlite_url
):
    api = PlacementApi(placement_server.url)
    api.wipe()
    share = tmp_path / "share"
    for name in ("a-1", "b-1"):
        images.create(share / f"{name}.qcow2", "qcow2", "3G")
        images.write(share / f"{name}.qcow2", "0", "1M")
    confs = {host: configure(tmp_path, host, share, sqlite_url, d) for host, d in DISKS.items()}
    for conf in confs.values():
        with open(conf, "a") as conf_file:
            conf_file.write(placement_support.config(placement_server.url))
    assert manage(confs["compute-a"], "db", "sync").returncode == 0
    assert manage(confs["compute-a"], "storage", "init").returncode == 0

    for host in ("compute-a", "compute-b", "compute-a"):  # a again: b's over-commit counted
        result = audit_as(host, confs[host])
        assert result.returncode == 0, result.stderr

    providers = {p["name"]: p for p in api.get("/resource_providers")["resource_providers"]}
    (shared_name,) = set(providers) - set(DISKS)
    sharing = providers[shared_name]["uuid"]
    assert SHARES in api.get(f"/resource_providers/{sharing}/traits")["traits"]
    disk = api.get(f"/resource_providers/{sharing}/inventories")["inventories"]["DISK_GB"]
    statvfs = os.statvfs(share)
    assert disk["total"] == statvfs.f_blocks * statvfs.f_frsize // GiB
    every = sum(overcommit(path) for path in share.glob("*.qcow2"))
    assert disk["reserved"] == -(-every // GiB)  # every host's thin disks, once
    assert api.get(f"/resource_providers/{sharing}/aggregates")["aggregates"] == [sharing]
    for host in DISKS:
        root = providers[host]["uuid"]
        assert "DISK_GB" not in api.get(f"/resource_providers/{root}/inventories")["inventories"]
        assert api.get(f"/resource_providers/{root}/aggregates")["aggregates"] == [sharing]

    candidates = api.get("/allocation_candidates", resources="VCPU:1,MEMORY_MB:64,DISK_GB:5")
    requests = candidates["allocation_requests"]
    assert len(requests) == 2  # one per host, each with the shared disk
    for request in requests:
        assert request["allocations"][sharing]["resources"] == {"DISK_GB": 5}
    summaries = candidates["provider_summaries"]
    disk_offers = [uuid for uuid, s in summaries.items() if "DISK_GB" in s["resources"]]
    assert disk_offers == [sharing]  # the disk once, not once per host
    shown = manage(confs["compute-b"], "placement", "show", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert [each["uuid"] for each in json.loads(shown.stdout)["sharing"]] == [sharing]
