"""Real players for the tests and the benchmark: processes started here, on a video made with ffmpeg."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from microdial.players.base import AnchoredClock

VIDEO_SECONDS = 20.0
# VLC's first position refreshes after opening a file are irregular and its duration is only known
# to the whole second then; VLC-based clocks are judged once a few refreshes have come in.
VLC_SETTLE = 0.8
VLC_TOLERANCE = 0.1


def make_video(folder: Path, seconds: float = VIDEO_SECONDS, audio: bool = True, fps: int = 25) -> Path:
    """An H.264 test pattern (+ a sine tone) that every player here can decode."""
    path = folder / f"test-{fps}fps{'' if audio else '-silent'}.mp4"
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi"]
    command += ["-i", f"testsrc=duration={seconds}:size=320x240:rate={fps}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=duration={seconds}", "-shortest", "-c:a", "aac"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True)
    return path


def shared_folder() -> Path:
    """A folder other users can read: VLC refuses to run as root, so the tests run it as nobody."""
    folder = Path(tempfile.mkdtemp(prefix="microdial-players-"))
    folder.chmod(0o755)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def as_unprivileged(command: list[str]) -> list[str]:
    """VLC will not run as root: drop to nobody when the tests run as root (containers)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]


async def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Polls a real process's state; there is no clock to inject into another program."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class MpvProcess:
    """mpv without video or audio output, and a second IPC connection to ask it its own position."""

    def __init__(self, video: Path, socket_path: Path) -> None:
        self.video = video
        self.socket_path = socket_path
        self.process: subprocess.Popen[bytes] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._next_id = 0

    async def start(self, *extra: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        mpv = shutil.which("mpv")
        assert mpv, "mpv is not installed"
        command = [mpv, "--vo=null", "--ao=null", "--idle=yes", "--keep-open=yes", "--no-terminal"]
        command += ["--no-config", f"--input-ipc-server={self.socket_path}", *extra, str(self.video)]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        await wait_until(self.socket_path.exists, what="mpv's IPC socket")
        # The socket file appears a moment before mpv listens on it.
        deadline = time.monotonic() + 10
        while self._writer is None:
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(str(self.socket_path))
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    await self.stop()
                    raise
                await asyncio.sleep(0.01)

    async def command(self, *command: Any) -> Any:
        assert self._reader is not None and self._writer is not None
        self._next_id += 1
        request_id = self._next_id
        self._writer.write(json.dumps({"command": list(command), "request_id": request_id}).encode() + b"\n")
        await self._writer.drain()
        while True:
            reply = json.loads(await self._reader.readline())
            if reply.get("request_id") == request_id:
                if reply.get("error") != "success":
                    raise RuntimeError(f"mpv {command}: {reply.get('error')}")
                return reply.get("data")

    async def position(self, prop: str = "audio-pts") -> tuple[float, float]:
        """(host instant, mpv's own position then): the midpoint of the request's round trip.

        audio-pts while playing (the clock video is synced to), time-pos (the frame shown) while paused.
        """
        before = time.monotonic()
        value = await self.command("get_property", prop)
        after = time.monotonic()
        return (before + after) / 2, float(value)

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.process is not None:
            self.process.terminate()
            await asyncio.to_thread(self.process.wait, 10)
            self.process = None


class Stamps:
    """Every stamp a test takes, since stamp() hands out each discontinuity flag only once."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.taken: list[Any] = []
        self.instants: list[float] = []
        self.mark_index = 0

    def now(self) -> Any:
        return self.at(time.monotonic())

    def at(self, instant: float) -> Any:
        stamp = self.clock.stamp(instant)
        self.taken.append(stamp)
        self.instants.append(instant)
        return stamp

    def mark(self) -> None:
        self.mark_index = len(self.taken)

    def flagged_since_mark(self) -> bool:
        return any(stamp.discontinuity for stamp in self.taken[self.mark_index :])

    def causes_since_mark(self) -> list[str]:
        return [stamp.cause for stamp in self.taken[self.mark_index :] if stamp.discontinuity]

    def step_back_since_mark(self, across_flags: bool = False) -> float:
        """The largest step back of media time between two stamps in host order, both playing,
        with no discontinuity flagged between them (unless across_flags)."""
        since = sorted(zip(self.instants[self.mark_index :], self.taken[self.mark_index :], strict=True))
        worst = 0.0
        for (_, before), (_, after) in itertools.pairwise(since):
            if before.playback == after.playback == "playing" and (across_flags or not after.discontinuity):
                worst = max(worst, before.media_time - after.media_time)
        return worst

    async def until(self, check: Callable[[Any], bool], what: str, timeout: float = 15.0) -> Any:
        try:
            await wait_until(lambda: check(self.now()), timeout, what)
        except AssertionError as err:
            raise AssertionError(f"{err} (last stamp {self.taken[-1:]})") from None
        return self.taken[-1]


class VlcProcess:
    """cvlc with the HTTP interface on a free port, no video or audio output."""

    def __init__(self, video: Path, password: str = "secret", *extra: str) -> None:
        self.video = video
        self.password = password
        self.extra = list(extra)
        self.port = free_port()
        # The video's duration: VLC's position is a 0..1 fraction of it.
        self.length = VIDEO_SECONDS
        self.process: subprocess.Popen[bytes] | None = None
        # Next to the video, so whoever removes the video's folder removes this too.
        self.home = video.parent / f"vlc-home-{self.port}"
        self.home.mkdir(exist_ok=True)
        self.home.chmod(0o777)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, env: dict[str, str] | None = None, *, http: bool = True) -> None:
        cvlc = shutil.which("cvlc")
        assert cvlc, "vlc is not installed"
        command = [cvlc, "--vout", "dummy", "--aout", "dummy", "--no-loop", "--play-and-pause"]
        if http:
            command += ["--extraintf", "http", "--http-host", "127.0.0.1", "--http-port", str(self.port)]
            command += ["--http-password", self.password]
        command += [*self.extra, str(self.video)]
        environment = {"PATH": os.environ["PATH"], "HOME": str(self.home), **(env or {})}
        self.process = subprocess.Popen(
            as_unprivileged(command), stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment
        )
        if http:
            await wait_until(self._answers, what="VLC's HTTP interface")
            await self._ensure_playing()

    async def _ensure_playing(self, timeout: float = 30.0) -> None:
        """cvlc now and then leaves its argument unstarted (time -1): the tests are about following a
        playing VLC, so the fixture asks it to play until it does."""
        deadline = time.monotonic() + timeout
        while True:
            status = await asyncio.to_thread(self.status_sync)
            if status.get("state") == "playing" and float(status.get("time", -1)) >= 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"VLC did not start playing: {status.get('state')}, time {status.get('time')}"
                )
            await self.command("pl_play")
            await asyncio.sleep(1.0)

    def _answers(self) -> bool:
        with contextlib.suppress(OSError):
            return bool(self.status_sync())
        return False

    def status_sync(self) -> dict[str, Any]:
        import base64
        import urllib.request

        request = urllib.request.Request(f"{self.url}/requests/status.json")
        token = base64.b64encode(f":{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=2) as response:
            status: dict[str, Any] = json.loads(response.read())
            return status

    async def command(self, command: str, value: str | None = None) -> None:
        import urllib.parse
        import urllib.request

        query = {"command": command, **({"val": value} if value is not None else {})}
        path = f"/requests/status.json?{urllib.parse.urlencode(query)}"
        token = __import__("base64").b64encode(f":{self.password}".encode()).decode()
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Basic {token}"})
        await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=2).read())

    async def position(self, length: float | None = None) -> tuple[float, float]:
        """(host instant, VLC's own position × the known duration); VLC refreshes it every ~250 ms."""
        before = time.monotonic()
        status = await asyncio.to_thread(self.status_sync)
        after = time.monotonic()
        return (before + after) / 2, float(status["position"]) * (length or self.length)

    async def fresh_position(self, length: float | None = None) -> tuple[float, float]:
        """(host instant, VLC's own position) at the moment VLC refreshes it, while playing.

        VLC updates `position` only every 250-500 ms, so a plain read can be half a second stale;
        right after it changes, it is the playhead (to within one poll).
        """
        previous_at, previous = await self.position(length)
        while True:
            await asyncio.sleep(0.005)
            at, value = await self.position(length)
            if value != previous:
                return (previous_at + at) / 2, value
            previous_at = at

    async def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            await asyncio.to_thread(self.process.wait, 10)
            self.process = None


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


async def page_position(page: Any) -> tuple[float, float]:
    """(host instant, the page's own video.currentTime then): midpoint of the fastest of a few
    evaluate round trips (a slow one can be lopsided by tens of milliseconds)."""
    tries = []
    for _ in range(4):
        before = time.monotonic()
        value = await page.evaluate("document.getElementById('video').currentTime")
        after = time.monotonic()
        tries.append((after - before, (before + after) / 2, float(value)))
    _, instant, own = min(tries)
    return instant, own


class PlayerPosition(Protocol):
    """A player's own account of its position: (host instant, media seconds)."""

    async def position(self) -> tuple[float, float]: ...

    async def fresh_position(self) -> tuple[float, float]: ...


async def paused_where(
    player: PlayerPosition, resume: Callable[[], Awaitable[None]], rate: float = 1.0
) -> float:
    """Where a paused VLC really stands: its own position read while paused is left where its last
    refresh put it, so resume, read fresh positions once it is running, and take the line through
    them back to the instant of the resume (resume latency makes this a little early)."""
    before = time.monotonic()
    await resume()
    resumed = (before + time.monotonic()) / 2
    await asyncio.sleep(VLC_SETTLE)
    readings = [await player.fresh_position() for _ in range(3)]
    return sum(own - (instant - resumed) * rate for instant, own in readings) / len(readings)


async def pause_and_resume(
    stamps: Stamps,
    player: PlayerPosition,
    pause: Callable[[], Awaitable[None]],
    resume: Callable[[], Awaitable[None]],
) -> tuple[float, float]:
    """Pauses VLC when its own position is at its stalest (just before its next refresh, every
    ~250 ms), then resumes; (the clock's paused stamp, where playback really stood). Stamps are taken
    throughout from stamps.mark() on, so the discontinuities flagged can be looked at afterwards."""
    stamps.mark()
    await player.fresh_position()
    await asyncio.sleep(0.2)
    await pause()
    await stamps.until(lambda s: s.playback == "paused", "paused")
    await asyncio.sleep(0.3)
    held = stamps.now().media_time
    assert held is not None
    where = await paused_where(player, resume)
    await stamps.until(lambda s: s.playback == "playing", "playing again")
    await asyncio.sleep(0.3)
    stamps.now()
    return held, where


async def assert_pauses_stand(
    stamps: Stamps,
    player: PlayerPosition,
    pause: Callable[[], Awaitable[None]],
    resume: Callable[[], Awaitable[None]],
) -> None:
    """Twice: the paused stamp is where playback stood, and neither pausing nor resuming flags a
    discontinuity or steps media time back."""
    for _ in range(2):
        held, where = await pause_and_resume(stamps, player, pause, resume)
        assert abs(held - where) < VLC_TOLERANCE, (held, where)
        assert not stamps.flagged_since_mark(), stamps.causes_since_mark()
        assert stamps.step_back_since_mark() < 0.01


async def assert_vlc_in_step(clock: AnchoredClock, player: PlayerPosition, playing: bool = True) -> float:
    """The clock's stamp at the player's own reading agrees with it; returns the reading."""
    instant, own = await (player.fresh_position() if playing else player.position())
    stamped = clock.stamp(instant).media_time
    assert stamped is not None
    # The reference itself is only known to within a poll, which covers twice the media at 2x.
    assert abs(stamped - own) < VLC_TOLERANCE * max(1.0, clock.rate), (stamped, own)
    return own
