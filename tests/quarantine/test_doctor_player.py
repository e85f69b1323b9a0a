"""`doctor --player mpv:SOCKET` says what a real mpv is doing (issue 13: it said "no-player" or
"paused" while mpv played)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from microdial.apps.doctor import check_player


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is not installed"
    path = tmp_path_factory.mktemp("video") / "talk.mp4"
    subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=120:size=64x48:rate=5",
            str(path),
        ],
        check=True,
    )
    return path


def mpv(socket_path: Path, *args: str) -> Iterator[Path]:
    binary = shutil.which("mpv")
    assert binary, "mpv is not installed"
    process = subprocess.Popen(
        [
            binary,
            "--vo=null",
            "--ao=null",
            "--no-terminal",
            "--no-config",
            f"--input-ipc-server={socket_path}",
            *args,
        ],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield socket_path
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def playing(tmp_path: Path, video: Path) -> Iterator[Path]:
    yield from mpv(tmp_path / "mpv.sock", "--start=30", str(video))


@pytest.fixture
def paused(tmp_path: Path, video: Path) -> Iterator[Path]:
    yield from mpv(tmp_path / "mpv.sock", "--pause", "--start=45", str(video))


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[Path]:
    yield from mpv(tmp_path / "mpv.sock", "--idle=yes")


async def test_a_playing_mpv_is_reported_playing_with_its_position(playing: Path) -> None:
    (check,) = await check_player(f"mpv:{playing}", timeout=10.0)
    assert check.status == "OK", check.message
    found = re.fullmatch(r"connected: playing at 0:(\d\d\.\d) of 2:00\.0, .*talk\.mp4", check.message)
    assert found is not None, check.message
    assert 30.0 <= float(found.group(1)) < 40.0


async def test_a_paused_mpv_is_reported_paused_where_it_stands(paused: Path) -> None:
    (check,) = await check_player(f"mpv:{paused}", timeout=10.0)
    assert re.fullmatch(r"connected: paused at 0:45\.0 of 2:00\.0, .*talk\.mp4", check.message), check.message


async def test_an_idle_mpv_is_reported_without_a_file(idle: Path) -> None:
    (check,) = await check_player(f"mpv:{idle}", timeout=10.0)
    assert (check.status, check.message) == ("OK", "connected: no file loaded")
