"""50 trainees uploading 2-minute responses at once to one practice server; a plain aiohttp upload
server in the same run as the baseline.

Run: python benchmarks/bench_practice.py [--trainees 50] [--seconds 120] [--keep DIR]
A 640x480 VP8/Opus WebM (what Chromium's MediaRecorder makes) is generated once with ffmpeg. Each
trainee signs in and sends it through the practice upload protocol in 1 MB pieces, as the page does,
with a trailer of their own so a mix-up between uploads would show; every finished attempt's SHA-256
(computed by the server from the file on disk) must match. The baseline is a stock aiohttp handler
streaming each POST body to a file. Both servers run as their own processes: peak RSS is their
VmHWM. Clients and servers share this machine's cores, so MB/s is a floor, not a network figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from microdial.practice import auth, db
from microdial.practice.media import add_clip
from tests.practice.conftest import PASSWORD, make_webm

CHUNK = 1024 * 1024

BASELINE = """
import hashlib, sys
from aiohttp import web
folder = sys.argv[1]
async def upload(request):
    digest = hashlib.sha256()
    with open(f"{folder}/{request.match_info['name']}", "wb") as out:
        async for chunk in request.content.iter_chunked(64 * 1024):
            out.write(chunk)
            digest.update(chunk)
    return web.json_response({"sha256": digest.hexdigest()})
app = web.Application()
app.router.add_post("/upload/{name}", upload)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=lambda *_: print("ready", flush=True))
"""


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def reset_peak(pid: int) -> None:
    """Peak RSS from here on (Linux: 5 into clear_refs resets VmHWM), so sign-ins don't count."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start(command: list[str], ready: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert process.stdout is not None
    while ready not in (await asyncio.wait_for(process.stdout.readline(), 30)).decode():
        pass
    return process


async def practice_trainee(base: str, code: str, clip: str, body: bytes) -> str:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(
            base + "/api/login", json={"code": code, "password": PASSWORD},
            headers={"X-Requested-With": "microdial-practice"},
        ) as response:  # fmt: skip
            response.raise_for_status()
        async with http.get(base + "/api/me") as response:
            headers = {"X-CSRF-Token": (await response.json())["csrf"]}
        await barrier.wait()
        meta = {"purpose": "attempt", "clip": clip, "size": len(body), "type": "video/webm"}
        async with http.post(base + "/api/uploads", json=meta, headers=headers) as response:
            upload = (await response.json())["id"]
        for offset in range(0, len(body), CHUNK):
            url = f"{base}/api/uploads/{upload}?offset={offset}"
            async with http.put(url, data=body[offset : offset + CHUNK], headers=headers) as response:
                assert response.status == 200, await response.text()
        async with http.post(f"{base}/api/uploads/{upload}/finish", headers=headers) as response:
            return str((await response.json())["sha256"])


async def baseline_trainee(base: str, name: str, body: bytes) -> str:
    async with aiohttp.ClientSession() as http:
        await barrier.wait()
        async with http.post(f"{base}/upload/{name}", data=body) as response:
            return str((await response.json())["sha256"])


barrier: asyncio.Barrier


async def timed(count: int, make: object, pid: int) -> tuple[float, list[str], float]:
    """(seconds, digests, server RSS before) of count uploads started together once all signed in."""
    global barrier
    barrier = asyncio.Barrier(count + 1)
    tasks = [asyncio.create_task(make(i)) for i in range(count)]  # type: ignore[operator]
    await barrier.wait()
    before = rss_mb(pid)
    reset_peak(pid)
    started = time.perf_counter()
    digests = await asyncio.gather(*tasks)
    return time.perf_counter() - started, digests, before


def prepare(data: Path, trainees: int, clip_video: Path) -> str:
    database = db.connect(data)
    hashed = auth.hash_password(PASSWORD)
    auth.redeem_invite(database, auth.add_user(database, "sup", "supervisor", None, 1), hashed)
    for i in range(trainees):
        auth.redeem_invite(database, auth.add_user(database, f"t{i:02d}", "trainee", "sup", 1), hashed)
    clip = add_clip(database, data, clip_video, "bench", "other", "")
    database.close()
    return clip


async def run(trainees: int, video: Path, root: Path) -> None:
    recording = video.read_bytes()
    bodies = [recording + f"trainee {i:02d}".encode() for i in range(trainees)]
    expected = [hashlib.sha256(body).hexdigest() for body in bodies]
    total_mb = sum(map(len, bodies)) / 1e6
    print(f"{trainees} uploads of {len(recording) / 1e6:.1f} MB = {total_mb:.0f} MB")

    clip = prepare(root / "practice", trainees, video)
    port = free_port()
    command = [sys.executable, "-m", "microdial", "practice", "serve", "--data", str(root / "practice")]
    server = await start([*command, "--port", str(port), "--max-upload-mb", "100"], "practice:")
    try:
        base = f"http://127.0.0.1:{port}"
        seconds, digests, idle = await timed(
            trainees, lambda i: practice_trainee(base, f"t{i:02d}", clip, bodies[i]), server.pid
        )
        intact = sum(a == b for a, b in zip(digests, expected, strict=True))
        with contextlib.closing(sqlite3.connect(root / "practice" / db.DB_FILE)) as database:
            (rows,) = database.execute("SELECT COUNT(*) FROM attempts").fetchone()
        print(
            f"practice server: {seconds:.1f} s, {total_mb / seconds:.1f} MB/s, {intact}/{trainees} intact, "
            f"{rows} attempts; RSS before {idle:.0f} MB, peak during uploads {peak_rss_mb(server.pid):.0f} MB"
        )
    finally:
        server.terminate()
        await server.wait()

    (root / "baseline").mkdir()
    port = free_port()
    server = await start([sys.executable, "-c", BASELINE, str(root / "baseline"), str(port)], "ready")
    try:
        base = f"http://127.0.0.1:{port}"
        seconds, digests, idle = await timed(
            trainees, lambda i: baseline_trainee(base, f"u{i:02d}.webm", bodies[i]), server.pid
        )
        intact = sum(a == b for a, b in zip(digests, expected, strict=True))
        print(
            f"plain aiohttp:   {seconds:.1f} s, {total_mb / seconds:.1f} MB/s, {intact}/{trainees} intact; "
            f"RSS before {idle:.0f} MB, peak during uploads {peak_rss_mb(server.pid):.0f} MB"
        )
    finally:
        server.terminate()
        await server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trainees", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each response")
    parser.add_argument("--keep", type=Path, help="keep the generated recording here (reused if present)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.keep or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        video = cache / f"response-{args.seconds:.0f}s.webm"
        if not video.exists():
            started = time.perf_counter()
            make_webm(video, args.seconds, size="640x480", rate=30, bitrate="1M")
            print(f"made {video.name} in {time.perf_counter() - started:.0f} s (setup, not timed)")
        clip = cache / "clip.webm"
        if not clip.exists():
            make_webm(clip, 2)
        asyncio.run(run(args.trainees, video, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
