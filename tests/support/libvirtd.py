"""A private libvirtd with QEMU for the tests: session mode, its own directories and socket.

libvirtd started by root is the system instance, one per machine; a session-mode libvirtd
keeps all its state under XDG directories we choose, so each test run gets its own daemon
and nothing outside its base directory changes. Run as root, the daemon drops to `nobody`;
otherwise it runs as the user running the tests. Domains are TCG (`type='qemu'`), so no
/dev/kvm access is needed. Needs the Debian packages libvirt-daemon,
libvirt-daemon-driver-qemu and qemu-system-x86 (tools/setup.sh --test installs them).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import libvirt

from tests.support.waiting import wait_for_server

DAEMON_USER = "nobody"
SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class Libvirtd:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="rt-libvirtd-"))
        self.images = self.base / "images"
        self._uid, self._gid = _daemon_ids()
        for directory in ("run", "config", "cache", "data", "home", "images"):
            (self.base / directory).mkdir()
        self.give(self.base, recursive=True)
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"qemu+unix:///session?socket={self.base}/run/libvirt/libvirt-sock"

    def give(self, path, recursive: bool = False) -> None:
        """Hand `path` to the daemon's user, so QEMU may open the images in it."""
        if os.geteuid() != 0:
            return
        paths = [Path(path)]
        if recursive:
            paths += Path(path).rglob("*")
        for each in paths:
            os.chown(each, self._uid, self._gid)

    def start(self, timeout_s: float = 60) -> None:
        binary = shutil.which("libvirtd", path=SEARCH_PATH)
        if binary is None:
            raise RuntimeError("libvirtd not found: run tools/setup.sh --test")
        command = [binary, "--timeout", "0"]
        if os.geteuid() == 0:
            command = [
                "setpriv",
                f"--reuid={self._uid}",
                f"--regid={self._gid}",
                "--clear-groups",
                *command,
            ]
        with open(self.base / "libvirtd.log", "ab") as log:
            self.process = subprocess.Popen(
                command,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_server(
            lambda: libvirt.open(self.uri).close(),
            libvirt.libvirtError,
            self.process,
            timeout_s,
            log=f"{self.base}/libvirtd.log",
        )

    def stop(self) -> None:
        """Stop libvirtd only: its domains keep running, as on a real host."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # seen once on a loaded machine (libvirt 11)
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None

    def shutdown(self) -> None:
        """Stop everything this daemon started (libvirtd, QEMU, virtlogd) and remove its files."""
        self.stop()
        for pidfile in glob.glob(f"{self.base}/run/libvirt/**/*.pid", recursive=True):
            _kill(pidfile)
        shutil.rmtree(self.base, ignore_errors=True)

    def connect(self) -> libvirt.virConnect:
        """A read-write connection, for tests to define and start domains."""
        return libvirt.open(self.uri)

    def _env(self) -> dict[str, str]:
        return {
            "HOME": f"{self.base}/home",
            "XDG_RUNTIME_DIR": f"{self.base}/run",
            "XDG_CONFIG_HOME": f"{self.base}/config",
            "XDG_CACHE_HOME": f"{self.base}/cache",
            "XDG_DATA_HOME": f"{self.base}/data",
            "PATH": SEARCH_PATH,
        }


def domain_xml(
    name: str,
    disks=(),
    memory_mib: int = 64,
    vcpus: int = 1,
    virt_type: str = "qemu",
    extra: str = "",
) -> str:
    """A TCG domain with the given disks: (path, format) for files, ('/dev/...', 'block').

    `virt_type` 'test' makes it a domain of libvirt's test driver; `extra` is appended to it.
    """
    devices = []
    for index, (path, image_format) in enumerate(disks):
        target = f"vd{chr(ord('a') + index)}"
        if image_format == "block":
            devices.append(
                f"<disk type='block' device='disk'><driver name='qemu' type='raw'/>"
                f"<source dev='{path}'/><target dev='{target}' bus='virtio'/></disk>"
            )
        else:
            devices.append(
                f"<disk type='file' device='disk'><driver name='qemu' type='{image_format}'/>"
                f"<source file='{path}'/><target dev='{target}' bus='virtio'/></disk>"
            )
    return (
        f"<domain type='{virt_type}' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        f"<name>{name}</name>"
        f"<memory unit='MiB'>{memory_mib}</memory><vcpu>{vcpus}</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
        f"<devices>{''.join(devices)}<memballoon model='none'/></devices>{extra}</domain>"
    )


def _daemon_ids() -> tuple[int, int]:
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    entry = pwd.getpwnam(DAEMON_USER)
    return entry.pw_uid, entry.pw_gid


def _kill(pidfile: str) -> None:
    try:
        with open(pidfile) as handle:
            os.kill(int(handle.read().strip()), signal.SIGKILL)
    except (OSError, ValueError):
        pass  # already gone
