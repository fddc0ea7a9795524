"""The modes of the files and directories the daemon makes in its state path, whatever the umask.

Readable by the owner (the daemon's user) and the daemon's group, which operators join to run
`resource-tracker-manage nodes show`; never by others. A shell's or a cron job's umask 022
would make them 0644 and 0755, the unit's 0027 or a stricter 077 would close them to the
group: the mode asked for at creation can only lose bits to the umask, never gain any, so a
file is created with its mode and then given exactly that mode (fchmod adds back the group's
bits a umask 077 took), before anything is written into it. SQLite creates its -journal with
the database file's mode, so the journal follows the database.
"""

from __future__ import annotations

import contextlib
import os

FILE_MODE = 0o640
DIRECTORY_MODE = 0o750


def create_file(path: str) -> int:
    """Create `path`, which must not exist, mode FILE_MODE: its descriptor, open for writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return fd


def create_file_if_missing(path: str) -> None:
    """Create an empty `path` mode FILE_MODE unless something is there already."""
    try:
        fd = create_file(path)
    except FileExistsError:
        return
    os.close(fd)


def make_directories(path: str) -> None:
    """Create `path` and the directories above it that are missing, each mode DIRECTORY_MODE;
    directories that exist are left as they are."""
    path = os.path.abspath(path)
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIRECTORY_MODE)
        except FileExistsError:
            continue  # made by someone else meanwhile: theirs to set
        os.chmod(directory, DIRECTORY_MODE)
