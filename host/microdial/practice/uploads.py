"""Resumable uploads of recordings, streamed to disk and never shown half done.

The protocol (tus-like, over plain HTTP):
  POST /api/uploads {purpose, clip, size, type}  → {id, offset: 0}; refused over the size limit
  GET  /api/uploads/{id}                         → {offset}: the bytes safely on disk, after any drop
  PUT  /api/uploads/{id}?offset=N  (raw bytes)   → {offset}; N must equal the server's offset
  POST /api/uploads/{id}/finish                  → the attempt (or the reply, for a review)
Bytes go to DATA/uploads/ID.part in chunks as they arrive, so a dropped connection keeps what came
and the client resumes from GET's offset. The first bytes are sniffed: a file that is not audio or
video is refused at once. Finishing checks the size, hashes and syncs the file, moves it into
DATA/media under a random name and only then commits its row: a server killed at any point leaves
either no attempt or a whole one (an unreferenced media file at worst, swept at start-up).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from microdial.practice.auth import User
from microdial.practice.db import media_dir, parts_dir

CHUNK = 64 * 1024
SNIFF_BYTES = 16
_ORPHAN_AGE = 3600.0


class UploadError(Exception):
    """Refused: status is the HTTP status to answer with, the message says why, for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def sniff(head: bytes) -> str | None:
    """The container of a media file from its first bytes; None when it is none we accept."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "mp3"
    return None


def media_type(container: str, declared: str) -> str:
    """What to serve the file as: the sniffed container, audio or video as the browser said."""
    kind = "audio" if declared.startswith("audio/") or container in ("wav", "mp3") else "video"
    return f"{kind}/{'mpeg' if container == 'mp3' else container}"


@dataclass(frozen=True)
class Upload:
    id: str
    user_id: int
    purpose: str
    clip_id: str | None
    size: int
    mime: str
    file: str | None

    def part(self, data: Path) -> Path:
        return parts_dir(data) / f"{self.id}.part"


class Uploads:
    def __init__(self, db: sqlite3.Connection, data: Path, max_bytes: int) -> None:
        self.db = db
        self.data = data
        self.max_bytes = max_bytes
        # One writer per upload: a client retrying while its dropped request still drains waits.
        self._locks: dict[str, asyncio.Lock] = {}

    def create(self, user: User, purpose: str, clip_id: str | None, size: int, mime: str) -> Upload:
        if purpose == "attempt":
            if user.role != "trainee":
                raise UploadError(403, "only trainees record attempts")
            if (
                clip_id is None
                or self.db.execute("SELECT 1 FROM clips WHERE id = ?", (clip_id,)).fetchone() is None
            ):
                raise UploadError(404, "no such clip")
        elif purpose == "reply":
            if user.role == "trainee":
                raise UploadError(403, "only supervisors record spoken replies")
            clip_id = None
        else:
            raise UploadError(400, "purpose is attempt or reply")
        if size <= 0:
            raise UploadError(400, "the recording is empty")
        if size > self.max_bytes:
            raise UploadError(
                413, f"the recording is {size / 1e6:.0f} MB; the limit is {self.max_bytes / 1e6:.0f} MB"
            )
        if not mime.startswith(("audio/", "video/")):
            raise UploadError(415, f"{mime or 'this file'} is not audio or video")
        upload = Upload(secrets.token_urlsafe(16), user.id, purpose, clip_id, size, mime, None)
        upload.part(self.data).touch()
        with self.db:
            self.db.execute(
                "INSERT INTO uploads (id, user_id, purpose, clip_id, size, mime, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (upload.id, user.id, purpose, clip_id, size, mime, time.time()),
            )
        return upload

    def get(self, user: User, upload_id: str) -> Upload:
        """The user's own upload; anyone else's is 403, like an id that does not exist."""
        row = self.db.execute(
            "SELECT * FROM uploads WHERE id = ? AND user_id = ?", (upload_id, user.id)
        ).fetchone()
        if row is None:
            raise UploadError(403, "not your upload")
        return Upload(
            row["id"], row["user_id"], row["purpose"], row["clip_id"], row["size"], row["mime"], row["file"]
        )

    def offset(self, upload: Upload) -> int:
        if upload.file is not None:
            return upload.size
        try:
            return upload.part(self.data).stat().st_size
        except FileNotFoundError:
            raise UploadError(404, "no such upload") from None

    async def append(self, upload: Upload, offset: int, chunks: AsyncIterator[bytes]) -> int:
        """Write chunks at offset; returns the new offset. What arrived stays even if the
        connection drops mid-way."""
        lock = self._locks.setdefault(upload.id, asyncio.Lock())
        async with lock:
            current = self.offset(upload)
            if upload.file is not None:
                raise UploadError(409, "this upload is finished")
            if offset != current:
                raise UploadError(409, f"resume at offset {current}")
            sniffed = current >= min(SNIFF_BYTES, upload.size)
            with upload.part(self.data).open("r+b") as out:
                out.seek(current)
                async for chunk in chunks:
                    if current + len(chunk) > upload.size:
                        raise UploadError(413, "more bytes than the upload declared")
                    out.write(chunk)
                    current += len(chunk)
                    if not sniffed and current >= min(SNIFF_BYTES, upload.size):
                        out.flush()
                        self._refuse_non_media(upload, os.pread(out.fileno(), SNIFF_BYTES, 0))
                        sniffed = True
            return current

    def _refuse_non_media(self, upload: Upload, head: bytes) -> None:
        if sniff(head) is None:
            self.discard(upload)
            raise UploadError(415, "this file is not audio or video: only recordings can be uploaded")

    def discard(self, upload: Upload) -> None:
        self._locks.pop(upload.id, None)
        upload.part(self.data).unlink(missing_ok=True)
        with self.db:
            self.db.execute("DELETE FROM uploads WHERE id = ?", (upload.id,))

    async def finish(self, upload: Upload) -> tuple[str, str, str]:
        """Check, hash, sync and move the whole file into media; returns (file, mime, sha256).
        The caller commits the row that shows it."""
        async with self._locks.setdefault(upload.id, asyncio.Lock()):
            if not upload.part(self.data).exists():
                raise UploadError(409, "this upload is finished")
            done = await self._finish(upload)
        self._locks.pop(upload.id, None)
        return done

    async def _finish(self, upload: Upload) -> tuple[str, str, str]:
        size = self.offset(upload)
        if size != upload.size:
            raise UploadError(409, f"incomplete: {size} of {upload.size} bytes arrived; resume first")
        part = upload.part(self.data)
        head, digest = await asyncio.to_thread(_hash_and_sync, part)
        container = sniff(head)
        if container is None:
            self.discard(upload)
            raise UploadError(415, "this file is not audio or video: only recordings can be uploaded")
        name = f"{secrets.token_urlsafe(16)}.{container}"
        os.replace(part, media_dir(self.data) / name)
        _sync_dir(media_dir(self.data))
        return name, media_type(container, upload.mime), digest

    def sweep(self) -> int:
        """Media files no row names (a kill between move and commit), once an hour old."""
        named: set[str] = set()
        for sql in (
            "SELECT file FROM clips", "SELECT file FROM attempts",
            "SELECT reply_file FROM reviews", "SELECT file FROM uploads",
        ):  # fmt: skip
            named.update(row[0] for row in self.db.execute(sql) if row[0])
        removed = 0
        for path in media_dir(self.data).iterdir():
            if path.name not in named and path.stat().st_mtime < time.time() - _ORPHAN_AGE:
                path.unlink()
                removed += 1
        return removed


def _hash_and_sync(path: Path) -> tuple[bytes, str]:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        head = source.read(SNIFF_BYTES)
        digest.update(head)
        while block := source.read(1024 * 1024):
            digest.update(block)
        os.fsync(source.fileno())
    return head, digest.hexdigest()


def _sync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
