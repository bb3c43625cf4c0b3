"""The files a plan names (its workbook, ``config.yaml``, the actions catalogue), opened only when
they are regular files of a bounded size.

Each is opened without blocking and checked on the open file: a FIFO does not wait for a writer, a
device (``/dev/zero``) is not read, and a file swapped between a check and the read is still the
file checked. The callers say what went wrong in their own words (:class:`NotARegularFile`,
:class:`TooBig`, or the ``OSError`` of opening it).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from transition.i18n import _


class NotARegularFile(OSError):
    """A folder, a pipe, a device or a socket where a file was expected."""

    def __init__(self, mode: int) -> None:
        super().__init__(kind_of(mode))
        self.mode = mode

    @property
    def kind(self) -> str:
        return kind_of(self.mode)


class TooBig(OSError):
    """More bytes than the caller reads."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


def open_regular_file(path: Path, most_bytes: int) -> BinaryIO:
    """``path`` opened for reading (blocking again once checked); :class:`NotARegularFile`,
    :class:`TooBig` (by its size when opened) or the ``OSError`` of opening it."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(info.st_mode)
        if info.st_size > most_bytes:
            raise TooBig(info.st_size)
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_regular_file(path: Path, most_bytes: int) -> bytes:
    """The bytes of :func:`open_regular_file`; :class:`TooBig` also when it grew past
    ``most_bytes`` after it was opened."""
    with open_regular_file(path, most_bytes) as handle:
        data = handle.read(most_bytes + 1)
    if len(data) > most_bytes:
        raise TooBig(len(data))
    return data


def mode_of(path: Path) -> int:
    """``path``'s mode, 0 when it cannot be read."""
    try:
        return os.stat(path).st_mode
    except OSError:
        return 0


def kind_of(mode: int) -> str:
    """What a file of this mode is, in words: a folder, a pipe (FIFO), a device, a socket."""
    if stat.S_ISDIR(mode):
        return _("a folder")
    if stat.S_ISFIFO(mode):
        return _("a pipe (FIFO)")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return _("a device")
    if stat.S_ISSOCK(mode):
        return _("a socket")
    return _("not a regular file")
