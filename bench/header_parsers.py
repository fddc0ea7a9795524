"""Our qcow2 decoder against oslo.utils' format_inspector: facts, hostile headers, speed.

Not a dependency of the project: run it where oslo.utils (and the cryptography package its
LUKS inspector imports) is installed, from the repository root:

    python3 -m venv /tmp/oslo && /tmp/oslo/bin/pip install oslo.utils cryptography
    PYTHONPATH=. /tmp/oslo/bin/python -m bench.header_parsers
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from resource_tracker.exception import ImageError
from resource_tracker.virt import disk, qcow2
from tests.support import hostile, images

REPEAT = 2000


def main() -> None:
    started = time.perf_counter()
    from oslo_utils.imageutils import format_inspector as fi

    print(
        f"import of oslo_utils.imageutils.format_inspector: {time.perf_counter() - started:.3f} s"
    )
    with tempfile.TemporaryDirectory(prefix="rt-parsers-") as directory:
        root = Path(directory)
        kinds = images.every_kind(root / "kinds")
        print("\nreal images (qemu-img's virtual size; facts each gives)")
        for name, image in kinds.items():
            if image.format == "qcow2":
                _compare_real(fi, name, image.path)
        print("\nhostile headers (qemu-img's verdict; what each decoder says)")
        bases = hostile.make_bases(root)
        for name, case in hostile.CASES.items():
            path = root / f"{name}.qcow2"
            path.write_bytes(hostile.make(case, bases))
            _compare_hostile(fi, name, path)
        print(f"\nspeed per disk: open + read + decode one header, median of {REPEAT}")
        path, overlay = kinds["qcow2-v3"].path, kinds["backing-file"].path
        rows = [
            ("ours (disk.read_qcow2)", lambda: disk.read_qcow2(path)),
            ("ours, image with a backing file", lambda: disk.read_qcow2(overlay)),
            ("format_inspector (from_file)", lambda: _inspect(fi, path).virtual_size),
            ("format_inspector (+ safety_check)", lambda: _checked(fi, path)),
        ]
        for label, call in rows:
            print(f"  {label:36} {_per_call(call) * 1e6:8.1f} us")


def _inspect(fi, path):
    return fi.QcowInspector.from_file(str(path))


def _checked(fi, path) -> str:
    try:
        _inspect(fi, path).safety_check()
    except fi.SafetyCheckFailed as error:
        return "refused: " + ", ".join(sorted(error.failures))
    except fi.ImageFormatError as error:
        return f"refused: {error}"
    return "passed"


def _compare_real(fi, name: str, path: str) -> None:
    expected = images.info(path, "qcow2")["virtual-size"]
    info = disk.read_qcow2(path)
    theirs = _inspect(fi, path).virtual_size
    facts = [f"backing={info.backing_file is not None}", f"data_file={info.data_file}"]
    print(
        f"  {name:20} qemu-img {expected:>12}  ours {info.virtual_size:>12} "
        f"({', '.join(facts)}, encryption={info.encryption})  "
        f"format_inspector {theirs:>12} (safety_check: {_checked(fi, path)})"
    )


def _compare_hostile(fi, name: str, path: Path) -> None:
    qemu = "refused" if _qemu_refuses(path) else "accepted"
    try:
        ours = f"refused: {qcow2.parse(path.read_bytes())}"
    except ImageError as error:
        ours = f"refused: {error}"
    else:
        ours = "accepted"
    try:
        size = _inspect(fi, path).virtual_size
        theirs = f"virtual_size {size}, safety_check {_checked(fi, path)}"
    except fi.ImageFormatError as error:
        theirs = f"refused: {error}"
    print(f"  {name:32} qemu-img {qemu:8}  ours {ours[:60]:60}  format_inspector {theirs}")


def _qemu_refuses(path: Path) -> bool:
    try:
        images.info(path, "qcow2")
    except Exception:
        return True
    return False


def _per_call(call) -> float:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    sys.exit(main())
