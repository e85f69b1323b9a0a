"""What durable files need from the operating system, on Linux, macOS and Windows alike."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if sys.platform == "win32":
    import msvcrt

    def lock_exclusive(fd: int) -> None:
        """Hold an exclusive lock on fd's file, or raise BlockingIOError when another process does."""
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as err:
            raise BlockingIOError(str(err)) from None

    def sync_directory(path: Path) -> None:
        """Windows cannot open a folder to flush it; NTFS journals its own metadata."""

else:
    import fcntl

    def lock_exclusive(fd: int) -> None:
        """Hold an exclusive lock on fd's file, or raise BlockingIOError when another process does.

        The kernel drops the lock when its holder dies, so a crashed daemon never blocks the next."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def sync_directory(path: Path) -> None:
        """Flush a folder's entries (a file created, replaced or removed in it) to disk."""
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
