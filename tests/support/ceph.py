"""A private single-node Ceph cluster for the tests: one monitor, one manager, one OSD.

Everything lives in a temporary directory: the config, the keyrings, the monitor's store, and
the OSD, which keeps its objects in memory (memstore, 1 GiB), so no disk is formatted and
start-up takes a few seconds. Authentication is cephx, as in production: the tests connect
as `client.tracker`, a user with the read-only capabilities docs/storage.md asks operators to
grant. Needs the Debian packages ceph-mon, ceph-mgr, ceph-osd and ceph-common (tools/setup.sh
--test installs them).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.support.mariadb import free_port
from tests.support.waiting import wait_for

SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
OSD_BYTES = 2**30
POOL = "vms"
TRACKER_USER = "tracker"
OSD_CAPS = ("mon", "allow profile osd", "mgr", "allow profile osd", "osd", "allow *")
# What the tracker needs: read the cluster's usage and the pool's images (docs/storage.md).
TRACKER_CAPS = ("mon", "profile rbd", "osd", f"profile rbd-read-only pool={POOL}")

CONF = """\
[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{port}
public network = 127.0.0.1/32
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = {base}/$name.keyring
run dir = {base}/run
admin socket = {base}/run/$name.asok
log file = {base}/log/$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
auth allow insecure global id reclaim = false
osd objectstore = memstore
memstore device bytes = {osd_bytes}
osd data = {base}/osd
osd class dir = {class_dir}
mon data = {base}/mon
mgr data = {base}/mgr
# the manager's modules are not needed by `ceph df`; loading them costs seconds of CPU
mgr disabled modules = balancer crash devicehealth orchestrator pg_autoscaler progress \
    rbd_support status telemetry volumes iostat nfs restful
mon mgr digest period = 1
# one monitor: no quorum to batch proposals for (the default waits 1 s per map change)
paxos propose interval = 0.01
# the monitor creates a new pool's placement groups on its tick, and a client resends an
# operation that found them not yet there on its own tick (both every 5 s by default)
mon tick interval = 1
objecter tick interval = 0.5
mgr tick period = 1
[client]
# the tests' own client.admin (CephCluster.admin) holds $name.asok: each `rbd` run as the same
# user could not bind it (File exists) and said so; clients need no admin socket here
admin socket =
[mon.a]
public addr = v2:127.0.0.1:{port}
"""


def _binary(name: str) -> str:
    path = shutil.which(name, path=SEARCH_PATH)
    if path is None:
        raise RuntimeError(
            f"{name} not found: run tools/setup.sh --test to install the ceph packages"
        )
    return path


def missing() -> str | None:
    """What this machine lacks to run the cluster and the tracker's binding, if anything."""
    names = ("ceph-mon", "ceph-mgr", "ceph-osd", "ceph-authtool", "ceph-conf", "monmaptool", "rbd")
    for name in names:
        if shutil.which(name, path=SEARCH_PATH) is None:
            return f"{name} not found: run tools/setup.sh --test"
    try:
        import rados  # noqa: F401
        import rbd  # noqa: F401
    except ImportError as error:
        return f"Ceph's Python binding: {error}: run tools/setup.sh --test"
    return None


class CephCluster:
    def __init__(self, base: str | None = None):
        self.base = Path(base or tempfile.mkdtemp(prefix="rt-ceph-"))
        self.fsid = str(uuid.uuid4())
        self.port = free_port()
        self.conf = self.base / "ceph.conf"
        self.processes: dict[str, subprocess.Popen] = {}
        self.startup_s: float | None = None
        self.admin = None  # a rados.Rados connected as client.admin

    def start(self, timeout_s: float = 60) -> None:
        started = time.monotonic()
        for directory in ("run", "log", "mon", "mgr", "osd"):
            (self.base / directory).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            CONF.format(
                fsid=self.fsid,
                port=self.port,
                base=self.base,
                osd_bytes=OSD_BYTES,
                class_dir=self._class_dir(),
            )
        )
        self._make_keyrings()
        self._tool(
            "monmaptool", "--create", "--addv", "a", f"[v2:127.0.0.1:{self.port}]",
            "--fsid", self.fsid, str(self.base / "monmap"),
        )  # fmt: skip
        self._tool(
            "ceph-mon", "-c", str(self.conf), "--mkfs", "-i", "a",
            "--monmap", str(self.base / "monmap"), "--keyring", str(self.base / "mon.keyring"),
        )  # fmt: skip
        self._daemon("mon.a", "ceph-mon", "-i", "a")
        import rados

        self.admin = rados.Rados(
            conffile=str(self.conf),
            name="client.admin",
            conf={"rados_osd_op_timeout": str(timeout_s), "rados_mon_op_timeout": "30"},
        )
        self.admin.connect(timeout=timeout_s)
        self._keyring("mgr.x", "mon", "allow profile mgr", "osd", "allow *")
        self._daemon("mgr.x", "ceph-mgr", "-i", "x")
        osd_uuid = str(uuid.uuid4())
        osd_id = str(json.loads(self.command("osd new", uuid=osd_uuid))["osdid"])
        self._keyring(f"osd.{osd_id}", *OSD_CAPS)
        self._keyring(f"client.{TRACKER_USER}", *TRACKER_CAPS)
        self._tool(
            "ceph-osd", "-c", str(self.conf), "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid
        )
        self._daemon(f"osd.{osd_id}", "ceph-osd", "-i", osd_id)
        self.command("osd pool create", pool=POOL, pg_num=8)
        self.command("osd pool application enable", pool=POOL, app="rbd")
        with self.admin.open_ioctx(POOL) as ioctx:
            ioctx.write_full("rt-probe", b"up")  # returns once the pool's PGs are active
            ioctx.remove_object("rt-probe")
        self._wait_for_usage(timeout_s)
        self.startup_s = time.monotonic() - started

    def command(self, prefix: str, **arguments) -> str:
        """A monitor command as the admin, e.g. command("osd pool ls")."""
        request = json.dumps({"prefix": prefix, "format": "json", **arguments})
        status, out, error = self.admin.mon_command(request, b"")
        if status != 0:
            raise RuntimeError(f"ceph {prefix}: {error} ({status})")
        return out.decode()

    def df(self) -> dict:
        """What `ceph df` says: the cluster's total and each pool's max_avail, stored, ..."""
        return json.loads(self.command("df"))

    def _wait_for_usage(self, timeout_s: float) -> None:
        """Wait until the manager has told the monitors the OSD's size (`ceph df`)."""

        def known() -> bool:
            df = self.df()
            pools = [pool["stats"] for pool in df["pools"] if pool["name"] == POOL]
            return df["stats"]["total_bytes"] > 0 and any(p["max_avail"] > 0 for p in pools)

        if not wait_for(known, timeout_s, interval_s=0.1):
            raise RuntimeError(f"ceph df reported no capacity within {timeout_s} s")

    def _keyring(self, name: str, *caps: str) -> None:
        keyring = self.command("auth get-or-create", entity=name, caps=list(caps))
        entries = json.loads(keyring)
        (self.base / f"{name}.keyring").write_text(f"[{name}]\n\tkey = {entries[0]['key']}\n")

    def stop(self) -> None:
        if self.admin is not None:
            self.admin.shutdown()
            self.admin = None
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        shutil.rmtree(self.base, ignore_errors=True)

    def pause(self, name: str) -> None:
        """SIGSTOP one daemon (e.g. 'osd.0', 'mon.a'): calls to it hang until resume().
        Returns once every thread of it is stopped: on a loaded machine a thread may still
        answer a call for a moment after the signal was sent."""
        process = self.processes[name]
        process.send_signal(signal.SIGSTOP)
        if not wait_for(lambda: _all_stopped(process.pid), timeout_s=10, interval_s=0.01):
            raise RuntimeError(f"ceph {name} (pid {process.pid}) not stopped after SIGSTOP")

    def resume(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGCONT)

    def rbd(self, *args: str) -> str:
        return self._tool("rbd", "-c", str(self.conf), *args)

    def create_image(self, name: str, size: str, pool: str = POOL) -> str:
        """An RBD image of `size` (rbd's units: 10G, 512M), thin: nothing written yet."""
        self.rbd("create", "--size", size, f"{pool}/{name}")
        return f"{pool}/{name}"

    def write(self, image: str, total: str, io_size: str = "4M") -> None:
        """Write `total` bytes at the start of `image` (rbd bench, sequential)."""
        self.rbd(
            "bench", "--io-type", "write", "--io-size", io_size, "--io-total", total,
            "--io-pattern", "seq", image,
        )  # fmt: skip

    def du(self, pool: str = POOL) -> dict:
        """`rbd du` of every image of `pool`: what Ceph's own CLI says each one uses."""
        return json.loads(self.rbd("du", "-p", pool, "--format", "json"))

    def _class_dir(self) -> str:
        """Where the OSD loads object classes from (cls_rbd: every RBD image operation).

        Debian 13's Ceph 18.2.7 defaults osd_class_dir to a path relative to the OSD's working
        directory (lib/x86_64-linux-gnu/rados-classes, ceph PR 71055): started here, the OSD
        loads no class and `rbd create` fails with "(95) Operation not supported". The default
        is relative to the install prefix, /usr; an absolute one (Debian 12) stays as it is.
        """
        default = self._tool(
            "ceph-conf", "-c", "/dev/null", "--show-config-value", "osd_class_dir"
        )
        return str(Path("/usr", default.strip()))

    def _make_keyrings(self) -> None:
        mon, admin = self.base / "mon.keyring", self.base / "client.admin.keyring"
        self._tool(
            "ceph-authtool", "--create-keyring", str(mon), "--gen-key", "-n", "mon.",
            "--cap", "mon", "allow *",
        )  # fmt: skip
        self._tool(
            "ceph-authtool", "--create-keyring", str(admin), "--gen-key", "-n", "client.admin",
            "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *",
        )  # fmt: skip
        self._tool("ceph-authtool", str(mon), "--import-keyring", str(admin))

    def _daemon(self, name: str, binary: str, *args: str) -> None:
        log = open(self.base / "log" / f"{name}.out", "ab")  # noqa: SIM115 - the daemon's own
        with log:
            # setpriv --pdeathsig: a test process that crashes (a segfault skips every
            # finally) takes the cluster along; a preexec_fn would make eventlet warn on fork
            self.processes[name] = subprocess.Popen(
                [
                    _binary("setpriv"), "--pdeathsig", "KILL", "--",
                    _binary(binary), "-f", "-c", str(self.conf), *args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def _tool(self, binary: str, *args: str, timeout_s: float = 60) -> str:
        result = subprocess.run(
            [_binary(binary), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{binary} {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout


def _all_stopped(pid: int) -> bool:
    """Whether every thread of the process is stopped by a signal (state T in its stat)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        if stat.rpartition(")")[2].split()[0] != "T":
            return False
    return True
