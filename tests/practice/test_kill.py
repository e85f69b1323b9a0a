"""`microdial practice serve` killed with SIGKILL mid-upload: no half attempt, and the upload resumes
on the restarted server from what reached the disk."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from microdial.practice import db
from microdial.practice.uploads import Uploads
from tests.practice.conftest import Folder, client


@contextlib.asynccontextmanager
async def server_process(data: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "microdial", "practice", "serve", "--data", str(data), "--port", "0",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), 20)).decode()
            assert line, "the server exited before listening"
            found = re.search(r"practice: (http://\S+?)/ ", line)
            if found:
                break
        yield process, found.group(1)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_kill_9_mid_upload_leaves_no_half_attempt(folder: Folder, response_bytes: bytes) -> None:
    async with server_process(folder.data) as (process, base), client(base, "tr1") as tr1:
        status, body = await tr1.request(
            "POST", "/api/uploads",
            json={"purpose": "attempt", "clip": folder.clip, "size": len(response_bytes), "type": "video/webm"},
        )  # fmt: skip
        upload = json.loads(body)["id"]
        url = urlsplit(base)
        _, writer = await asyncio.open_connection(url.hostname, url.port)
        cookie = "; ".join(f"{c.key}={c.value}" for c in tr1.http.cookie_jar)
        writer.write(
            f"PUT /api/uploads/{upload}?offset=0 HTTP/1.1\r\nHost: {url.netloc}\r\nCookie: {cookie}\r\n"
            f"X-CSRF-Token: {tr1.csrf}\r\nContent-Length: {len(response_bytes)}\r\n\r\n".encode()
            + response_bytes[: len(response_bytes) // 2]
        )
        await writer.drain()
        part = folder.data / "uploads" / f"{upload}.part"
        deadline = time.monotonic() + 10
        while part.stat().st_size == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        await process.wait()
        writer.transport.abort()
    database = sqlite3.connect(folder.data / db.DB_FILE)
    assert database.execute("SELECT COUNT(*) FROM attempts").fetchone() == (0,)
    assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    database.close()
    async with server_process(folder.data) as (_, base), client(base, "tr1") as tr1:
        clip = await tr1.get_json(f"/api/clips/{folder.clip}")
        assert isinstance(clip, dict) and clip["attempts"] == []
        status, body = await tr1.request("GET", f"/api/uploads/{upload}")
        offset = json.loads(body)["offset"]
        assert status == 200 and 0 < offset <= len(response_bytes) // 2
        status, body = await tr1.request(
            "PUT", f"/api/uploads/{upload}?offset={offset}", data=response_bytes[offset:]
        )
        assert status == 200, body
        status, body = await tr1.request("POST", f"/api/uploads/{upload}/finish")
        assert status == 200 and json.loads(body)["sha256"] == hashlib.sha256(response_bytes).hexdigest()
        status, media = await tr1.request("GET", f"/media/attempt/{json.loads(body)['id']}")
        assert media == response_bytes


def test_sweep_removes_media_no_row_names(folder: Folder) -> None:
    """A kill between moving a finished file into media and committing its row leaves a file that
    nothing shows; start-up removes it once it is an hour old."""
    database = db.connect(folder.data)
    orphan = db.media_dir(folder.data) / "orphan.webm"
    orphan.write_bytes(b"\x1a\x45\xdf\xa3")
    uploads = Uploads(database, folder.data, 10**6)
    assert uploads.sweep() == 0 and orphan.exists()
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))
    assert uploads.sweep() == 1 and not orphan.exists()
    assert len(list(db.media_dir(folder.data).iterdir())) == 1  # the clip stays
