"""The viewer's test parts: a running viewer or review server on a free port (fed by the real
broker, or a real session folder and a video made with ffmpeg), raters to feed it, and headless
chromium."""

from __future__ import annotations

import asyncio
import contextlib
import math
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from microdial.embedded_broker import MosquittoProcess
from microdial.model import DialEvent
from microdial.store.writer import SessionRecord
from microdial.web.live import ViewSettings, serve
from microdial.web.review import open_review, serve_review
from tests.players.support import CHROMIUM_ARGS
from tests.recorder.conftest import T0, make_event, make_samples, make_status, publisher


@contextlib.asynccontextmanager
async def running_viewer(settings: ViewSettings) -> AsyncIterator[str]:
    """The viewer serving settings; yields its base URL once it listens and has subscribed."""
    ready = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, ready=ready, bound=bound))
    try:
        port = await asyncio.wait_for(asyncio.shield(bound), 10)
        await asyncio.wait_for(ready.wait(), 10)
        yield f"http://127.0.0.1:{port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def wait_js(page: Page, expression: str, arg: object = None, timeout: float = 15.0) -> None:
    await page.wait_for_function(expression, arg=arg, timeout=timeout * 1000)


# -- live ------------------------------------------------------------------------------------------
def settings_for(broker: MosquittoProcess, session: str, **extra: object) -> ViewSettings:
    return ViewSettings.model_validate({"broker": broker.url, "session": session, "port": 0} | extra)


async def feed(broker: MosquittoProcess, session: str, seconds: float, *, rate: int = 100) -> None:
    """Two raters turning their dials, published in 50 ms batches at `rate` samples/s each."""
    async with publisher(broker) as pub:
        await pub.status(make_status(session, "dialC", "client"))
        await pub.status(make_status(session, "dialT", "therapist"))
        batch = rate // 20
        for step in range(int(seconds * 20)):
            start = step * batch
            now = time.time()
            for dial, role, phase in (("dialC", "client", 0.0), ("dialT", "therapist", 1.5)):
                samples = make_samples(session, dial, role, start, batch)
                samples = [
                    s.model_copy(
                        update={
                            "value": round(40 * math.sin(s.seq / 60 + phase)),
                            "host_time": now,
                            "media_time": s.seq / rate,
                        }
                    )
                    for s in samples
                ]
                await pub.samples(samples, batch=batch)
            if step == 20:
                await pub.event(
                    make_event(session, "dialC", "client", "button", "mark").model_copy(
                        update={"media_time": 1.0}
                    )
                )
            await asyncio.sleep(0.05)


# -- review ----------------------------------------------------------------------------------------
SECONDS = 10
RATE = 100
SESSION = "REVIEW1"


def client_value(t: float) -> int:
    return round(40 * math.sin(2 * math.pi * t / SECONDS))


def therapist_value(t: float) -> int:
    return round(9 * t - 45)


def write_session(root: Path, *, media: bool = True) -> Path:
    """Two raters over the whole video; each value is a known function of media time."""
    record = SessionRecord(root, SESSION, window=1000)
    for dial, role, value in (("dialC", "client", client_value), ("dialT", "therapist", therapist_value)):
        samples = make_samples(SESSION, dial, role, 0, SECONDS * RATE)
        record.on_samples(
            dial,
            [
                s.model_copy(
                    update={
                        "value": value(s.seq / RATE),
                        "media_time": s.seq / RATE if media else None,
                        "media_duration": float(SECONDS),
                    }
                )
                for s in samples
            ],
        )
    for dial, role, at in (("dialC", "client", 2.5), ("dialT", "therapist", 7.0)):
        record.on_event(
            DialEvent.model_validate(
                {
                    "dial": dial,
                    "role": role,
                    "session": SESSION,
                    "kind": "button",
                    "detail": f"mark {role}",
                    "host_time": T0 + at,
                    "host_monotonic": 1000.0 + at,
                    "media_time": at if media else None,
                }
            )
        )
    record.close()
    return root / SESSION


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10 s test pattern with a tone, in WebM, which every chromium build decodes."""
    path = tmp_path_factory.mktemp("video") / "session.webm"
    source = f"testsrc=duration={SECONDS}:size=320x240:rate=25"
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, "-f", "lavfi"]
    command += ["-i", f"sine=duration={SECONDS}", "-shortest", "-c:v", "libvpx", "-deadline", "realtime"]
    command += ["-b:v", "400k", "-c:a", "libopus", str(path)]
    subprocess.run(command, check=True)
    return path


@contextlib.asynccontextmanager
async def reviewing(session_dir: Path, video: Path, **extra: object) -> AsyncIterator[str]:
    settings = ViewSettings.model_validate({"port": 0} | extra)
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_review(settings, open_review(session_dir, video), video, bound=bound))
    try:
        port = await asyncio.wait_for(asyncio.shield(bound), 10)
        yield f"http://127.0.0.1:{port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
