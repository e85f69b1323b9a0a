"""A bounded on-disk FIFO of byte records that survives crashes, for samples the broker cannot take yet.

Layout of the directory:
  NNNNNNNNNNNNNNNNNNNN.seg  segment files named by the index of their first record; records are
                            appended as [length u32][crc32 u32][payload], little endian
  commit                    "<index>\n": every record below this index was acknowledged; replaced
                            atomically (temp file + os.replace), so it is always old or new, never torn
  id                        the directory's random name (journal.directory_id)

A crash can tear only the tail of the newest segment; recovery stops at the first record whose
length or CRC does not hold and truncates there, so a partial record is dropped, never misread.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import time
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from microdial.durable import lock_exclusive, sync_directory
from microdial.errors import MicrodialError
from microdial.mqtt.journal import directory_id

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
_SUFFIX = ".seg"
_COMMIT = "commit"
_LOCK = "lock"
# One corrupt length must not make recovery try to read gigabytes.
MAX_RECORD = 16 * 1024 * 1024


class SpoolError(MicrodialError):
    """The spool directory cannot be used (permissions, not a directory)."""


@dataclass(slots=True)
class _Segment:
    first: int  # index of its first record
    path: Path
    count: int
    size: int


class Spool:
    """Bounded append-only FIFO of byte records on disk, in order, surviving restarts."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int | None = 512 * 1024 * 1024,
        segment_bytes: int = 4 * 1024 * 1024,
        sync_interval: float = 0.5,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._sync_interval = sync_interval
        self.dropped = 0
        self._segments: deque[_Segment] = deque()
        self._head = 0  # index of the oldest uncommitted record
        self._read_file: tuple[Path, int] | None = None  # (segment path, fd) kept open for peek
        self._read_pos = (0, 0)  # (record index, byte offset) the read fd's cursor is at
        self._write_fd = -1
        self._last_sync = time.monotonic()
        self._dirty = False
        self._size = 0
        self._full = False  # so a full disk is logged once, not on every append
        self._lock_fd = -1
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            # Two writers would interleave segments.
            lock_exclusive(self._lock_fd)
            self._recover()
            self.ident = directory_id(self.directory)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolError(
                f"spool {self.directory} is in use by another daemon for the same session and dial"
            ) from None
        except OSError as err:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
            raise SpoolError(f"cannot use spool directory {self.directory}: {err.strerror}") from None

    # -- recovery ---------------------------------------------------------------------
    def _recover(self) -> None:
        for leftover in self.directory.glob(f"{_COMMIT}.*.tmp"):
            leftover.unlink()
        committed = self._read_commit()
        paths = sorted(p for p in self.directory.iterdir() if p.suffix == _SUFFIX and p.stem.isdigit())
        for path in paths:
            first = int(path.stem)
            count, valid = _scan(path)
            if valid < path.stat().st_size:
                log.warning("spool %s: discarding a torn tail after %d records", path, count)
                with path.open("r+b") as handle:
                    handle.truncate(valid)
                    os.fsync(handle.fileno())
            if self._segments and self._segments[-1].first + self._segments[-1].count != first:
                # Only a disk that lost synced data leaves a hole between segments; the rest
                # keeps its order and the hole is skipped (_advance), not misnumbered.
                previous = self._segments[-1]
                log.warning(
                    "spool %s: records %d..%d missing",
                    self.directory,
                    previous.first + previous.count,
                    first - 1,
                )
            self._segments.append(_Segment(first, path, count, valid))
            self._size += valid
        if self._segments:
            oldest = self._segments[0].first
            end = self._segments[-1].first + self._segments[-1].count
            self._head = min(max(committed, oldest), end)
        else:
            self._head = committed
        self._drop_committed_segments()

    def _read_commit(self) -> int:
        try:
            text = (self.directory / _COMMIT).read_text()
        except FileNotFoundError:
            return 0
        try:
            return int(text.strip())
        except ValueError:
            # Cannot happen with os.replace; if an editor mangled it, replay rather than lose.
            log.warning("spool %s: unreadable commit file; replaying from the oldest record", self.directory)
            return 0

    # -- public -----------------------------------------------------------------------
    def append(self, records: list[bytes]) -> int:
        stored = 0
        for record in records:
            frame_size = _HEADER.size + len(record)
            if len(record) > MAX_RECORD or (
                self.max_bytes is not None and self.size_bytes + frame_size > self.max_bytes
            ):
                break
            try:
                self._write(record)
            except OSError as err:
                if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                if not self._full:
                    log.warning("spool %s: disk full; dropping records until there is room", self.directory)
                self._full = True
                break
            stored += 1
            self._full = False
        self.dropped += len(records) - stored
        if stored and time.monotonic() - self._last_sync >= self._sync_interval:
            self.sync()
        return stored

    def peek(self, max_records: int) -> list[bytes]:
        return self.read(self._head, max_records)

    def read(self, start: int, max_records: int) -> list[bytes]:
        """Up to max_records stored records from index start (or the head, if later) on."""
        out: list[bytes] = []
        index = max(start, self._head)
        for segment in self._segments:
            end = segment.first + segment.count
            if index >= end:
                continue
            index = max(index, segment.first)
            out.extend(self._read(segment, index, min(end, index + max_records - len(out))))
            index = end
            if len(out) >= max_records:
                break
        return out

    def commit(self, count: int) -> None:
        if count <= 0:
            return
        self._head = self._advance(self._head, count)
        # The records must be on disk before a commit that could skip past them matters.
        self.sync()
        try:
            self._write_commit()
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # Deleting whole committed segments first is safe (recovery starts at the oldest
            # segment left) and frees the room the commit file needs.
            self._drop_committed_segments()
            try:
                self._write_commit()
            except OSError as again:
                if again.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                log.warning("spool %s: disk full; commit kept in memory until there is room", self.directory)
                return
        self._drop_committed_segments()

    def commit_to(self, index: int) -> None:
        """Every record below index is done with (a no-op for an index at or below the head)."""
        self.commit(min(index, self.end) - self._head)

    @property
    def head(self) -> int:
        """The index of the oldest record not yet committed."""
        return self._head

    @property
    def end(self) -> int:
        """The index the next appended record gets."""
        if not self._segments:
            return self._head
        last = self._segments[-1]
        return last.first + last.count

    def __len__(self) -> int:
        # Asked on every publish round: the common cases (nothing spooled, one segment) stay cheap.
        if not self._segments:
            return 0
        if len(self._segments) == 1:
            only = self._segments[0]
            return max(0, only.first + only.count - max(self._head, only.first))
        return sum(max(0, s.first + s.count - max(self._head, s.first)) for s in self._segments)

    @property
    def size_bytes(self) -> int:
        return self._size

    def sync(self) -> None:
        """Force what was appended onto the disk; append does this every sync_interval by itself."""
        if self._write_fd >= 0 and self._dirty:
            try:
                os.fsync(self._write_fd)
            except OSError as err:
                # Filesystems that allocate late (NFS, some ext4 setups) report a full disk only here.
                if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                log.warning(
                    "spool %s: disk full while syncing; recent records may not survive a power cut",
                    self.directory,
                )
        self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._lock_fd < 0:
            return
        self.sync()
        self._close_write()
        self._close_read()
        os.close(self._lock_fd)
        self._lock_fd = -1

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------
    def _write(self, record: bytes) -> None:
        segment = self._segments[-1] if self._segments else None
        if segment is None or segment.size >= self._segment_bytes or self._write_fd < 0:
            if segment is None or segment.size >= self._segment_bytes:
                segment = self._new_segment()
            else:
                self._write_fd = os.open(segment.path, os.O_WRONLY | os.O_APPEND)
        frame = _HEADER.pack(len(record), zlib.crc32(record)) + record
        try:
            written = os.write(self._write_fd, frame)
        except OSError:
            self._undo_partial(segment)
            raise
        if written != len(frame):
            # A short write is how a nearly full disk shows itself before ENOSPC.
            self._undo_partial(segment)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        segment.count += 1
        segment.size += len(frame)
        self._size += len(frame)
        self._dirty = True

    def _undo_partial(self, segment: _Segment) -> None:
        """Cut a half-written frame off now, so later appends do not land behind garbage."""
        with contextlib.suppress(OSError):
            os.ftruncate(self._write_fd, segment.size)

    def _new_segment(self) -> _Segment:
        self.sync()
        self._close_write()
        first = self._segments[-1].first + self._segments[-1].count if self._segments else self._head
        path = self.directory / f"{first:020d}{_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o644)
        segment = _Segment(first, path, 0, 0)
        self._segments.append(segment)
        self._write_fd = fd
        self._sync_directory()
        return segment

    def _close_write(self) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1

    def _close_read(self) -> None:
        if self._read_file is not None:
            os.close(self._read_file[1])
            self._read_file = None

    def _read(self, segment: _Segment, start: int, stop: int) -> list[bytes]:
        if self._read_file is None or self._read_file[0] != segment.path:
            self._close_read()
            self._read_file = (segment.path, os.open(segment.path, os.O_RDONLY))
            self._read_pos = (segment.first, 0)
        fd = self._read_file[1]
        # The cursor rests at the head until commit moves the head past it, so peeks and
        # commits walk each segment once instead of rescanning it from its start.
        index, offset = self._read_pos
        if index > start:
            index, offset = segment.first, 0
        out: list[bytes] = []
        while index < stop:
            if index == start:
                self._read_pos = (index, offset)
            length, crc = _HEADER.unpack(os.pread(fd, _HEADER.size, offset))
            if index >= start:
                payload = os.pread(fd, length, offset + _HEADER.size)
                if len(payload) != length or zlib.crc32(payload) != crc:
                    raise SpoolError(f"spool segment {segment.path} changed on disk under the daemon")
                out.append(payload)
            offset += _HEADER.size + length
            index += 1
        return out

    def _advance(self, index: int, count: int) -> int:
        """The index `count` stored records after `index`, stepping over any gap between segments."""
        for segment in self._segments:
            end = segment.first + segment.count
            if count <= 0:
                break
            if end <= index:
                continue
            index = max(index, segment.first)
            step = min(count, end - index)
            index += step
            count -= step
        return index

    def _write_commit(self) -> None:
        temporary = self.directory / f"{_COMMIT}.{os.getpid()}.tmp"
        with temporary.open("w") as handle:
            handle.write(f"{self._head}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.directory / _COMMIT)
        self._sync_directory()

    def _drop_committed_segments(self) -> None:
        while self._segments and self._segments[0].first + self._segments[0].count <= self._head:
            segment = self._segments[0]
            if len(self._segments) == 1 and segment.size < self._segment_bytes:
                break  # still being appended to
            self._segments.popleft()
            self._size -= segment.size
            if not self._segments:
                self._close_write()
            if self._read_file is not None and self._read_file[0] == segment.path:
                self._close_read()
            segment.path.unlink(missing_ok=True)

    def _sync_directory(self) -> None:
        sync_directory(self.directory)


def _scan(path: Path) -> tuple[int, int]:
    """(intact records, byte length they fill) of one segment, stopping at the first bad record."""
    count = 0
    offset = 0
    with path.open("rb") as handle:
        data = handle.read()
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if length > MAX_RECORD or end > len(data) or zlib.crc32(data[offset + _HEADER.size : end]) != crc:
            break
        count += 1
        offset = end
    return count, offset
