"""Which files were opened, as the kernel saw it (inotify IN_OPEN), to show what was read."""

from __future__ import annotations

import ctypes
import os
import struct

IN_OPEN = 0x20
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name
_libc = ctypes.CDLL(None, use_errno=True)


class OpenWatch:
    """Watches files; opened() tells which of them were opened since it was last asked."""

    def __init__(self, *paths):
        self._fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._paths: dict[int, str] = {}
        for path in paths:
            self.add(path)

    def add(self, path) -> None:
        wd = _libc.inotify_add_watch(self._fd, os.fsencode(path), IN_OPEN)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch", os.fspath(path))
        self._paths[wd] = os.fspath(path)

    def opened(self) -> set[str]:
        found = set()
        try:
            data = os.read(self._fd, 1 << 16)
        except BlockingIOError:
            return found
        offset = 0
        while offset < len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + length
            if mask & IN_OPEN and wd in self._paths:
                found.add(self._paths[wd])
        return found

    def close(self) -> None:
        os.close(self._fd)
