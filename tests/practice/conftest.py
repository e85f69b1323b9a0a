"""The practice server's test parts: media made with ffmpeg, a data folder with users and a clip,
the server on a free port (in this process, or as a `microdial practice serve` process to kill), and
signed-in HTTP clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from microdial.practice import auth, db
from microdial.practice.media import add_clip
from microdial.practice.server import serve
from microdial.practice.settings import PracticeSettings

PASSWORD = "correct horse battery"
# code → (role, supervisor)
USERS = {
    "sup1": ("supervisor", None),
    "sup2": ("supervisor", None),
    "boss": ("admin", None),
    "tr1": ("trainee", "sup1"),
    "tr2": ("trainee", "sup2"),
}


def make_webm(
    path: Path, seconds: float, *, size: str = "320x240", rate: int = 25, bitrate: str = "400k"
) -> Path:
    """A test pattern with a tone, VP8 + Opus in WebM, the kind of file a browser records."""
    source = f"testsrc=duration={seconds}:size={size}:rate={rate}"
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, "-f", "lavfi"]
    command += ["-i", f"sine=duration={seconds}", "-shortest", "-c:v", "libvpx", "-deadline", "realtime"]
    command += ["-b:v", bitrate, "-c:a", "libopus", str(path)]
    subprocess.run(command, check=True)
    return path


@pytest.fixture(scope="session")
def clip_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_webm(tmp_path_factory.mktemp("clip") / "clip.webm", 4)


@pytest.fixture(scope="session")
def response_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 3 s recording: about 150 kB, several upload chunks."""
    return make_webm(tmp_path_factory.mktemp("response") / "response.webm", 3).read_bytes()


@dataclass
class Folder:
    data: Path
    clip: str


def populate(data: Path, video: Path) -> Folder:
    database = db.connect(data)
    hashed = auth.hash_password(PASSWORD)
    try:
        for code, (role, supervisor) in USERS.items():
            token = auth.add_user(database, code, role, supervisor, invite_hours=1)  # type: ignore[arg-type]
            auth.redeem_invite(database, token, hashed)
        clip = add_clip(database, data, video, "This isn't helping", "confrontation", "a client pushes back")
    finally:
        database.close()
    return Folder(data, clip)


@pytest.fixture
def folder(tmp_path: Path, clip_video: Path) -> Folder:
    return populate(tmp_path / "data", clip_video)


@contextlib.asynccontextmanager
async def serving(data: Path, **extra: object) -> AsyncIterator[str]:
    settings = PracticeSettings.model_validate({"data": data, "port": 0} | extra)
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, bound=bound))
    try:
        port = await asyncio.wait_for(asyncio.shield(bound), 10)
        yield f"http://127.0.0.1:{port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def base(folder: Folder) -> AsyncIterator[str]:
    async with serving(folder.data, max_upload_mb=2) as url:
        yield url


class Client:
    """A signed-in user's HTTP session: cookies kept, the CSRF header sent on every change."""

    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base = base
        self.http = http
        self.csrf = ""

    async def sign_in(self, code: str, password: str = PASSWORD) -> None:
        async with self.http.post(
            self.base + "/api/login",
            json={"code": code, "password": password},
            headers={"X-Requested-With": "microdial-practice"},
        ) as response:
            assert response.status == 200, await response.text()
        me = await self.get_json("/api/me")
        self.csrf = me["csrf"]

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    async def get_json(self, path: str) -> dict[str, object] | list[dict[str, object]] | object:
        async with self.http.get(self.base + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def request(self, method: str, path: str, **kwargs: object) -> tuple[int, bytes]:
        headers = self.headers() | dict(kwargs.pop("headers", {}))  # type: ignore[call-overload]
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as response:  # type: ignore[arg-type]
            return response.status, await response.read()

    async def upload(
        self, body: bytes, purpose: str = "attempt", clip: str | None = None, chunk: int = 50_000
    ) -> dict[str, object]:
        status, answer = await self.request(
            "POST",
            "/api/uploads",
            json={"purpose": purpose, "clip": clip, "size": len(body), "type": "video/webm"},
        )
        assert status == 201, answer
        upload = json.loads(answer)
        for start in range(0, len(body), chunk):
            status, answer = await self.request(
                "PUT", f"/api/uploads/{upload['id']}?offset={start}", data=body[start : start + chunk]
            )
            assert status == 200, answer
        status, answer = await self.request("POST", f"/api/uploads/{upload['id']}/finish")
        assert status == 200, answer
        result: dict[str, object] = json.loads(answer)
        return result


@contextlib.asynccontextmanager
async def client(base: str, code: str | None) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        signed = Client(base, http)
        if code is not None:
            await signed.sign_in(code)
        yield signed


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path
