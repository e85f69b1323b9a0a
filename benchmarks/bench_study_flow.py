"""The study's two figures, with the real rater page in headless chromium and the real server:

* From the end of the whole video to the first rupture clip playing, for a 60-minute session
  (target <= 2 s). The rating is not watched for an hour: the session folder is written with 60
  minutes of a rater's samples (20 Hz, with dips), the rater's state is put at 10 s before the end
  of the rating, and the page plays those last 10 s of the 60-minute video. Measured in the page:
  performance.now() at the video's `ended` to `playing` of the first rupture clip (the page tells
  the server, the server finds the ruptures in the recording, the page loads and seeks the clip).
* The rating page's stamps: while it plays, every 10 ms the rater's clock is asked for the media
  time at now - 1.5 ms, and each stamp is compared afterwards with the mediaTime of the frame the
  page actually had on screen then (benchmarks/bench_players.py's "shown" method, target p99 <= 5 ms).

Run: python benchmarks/bench_study_flow.py [--runs 3]. The 60-minute video is made once with ffmpeg
(about a minute) and kept in the system's temp folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from aiohttp import web  # noqa: E402
from bench_players import STAMP_DELAY, shown_errors  # noqa: E402

from microdial.model import Sample  # noqa: E402
from microdial.mqtt.address import BrokerAddress  # noqa: E402
from microdial.mqtt.control import Controller  # noqa: E402
from microdial.players.browser import BrowserClock  # noqa: E402
from microdial.store.writer import SessionRecord  # noqa: E402
from microdial.study.conduct import Study  # noqa: E402
from microdial.study.protocol import DEFAULT  # noqa: E402
from microdial.study.server import StudyServer, study_access  # noqa: E402
from tests.players.support import CHROMIUM_ARGS  # noqa: E402

SECONDS = 3600
RATE = 20
TAIL = 10.0
SESSION = "BENCH60"
TOKENS = {"console": "bench-console", "client": "bench-client"}


def video() -> Path:
    path = Path(tempfile.gettempdir()) / "microdial-bench-study-60min.webm"
    if not path.exists():
        command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi"]
        command += ["-i", f"testsrc=duration={SECONDS}:size=96x64:rate=25", "-c:v", "libvpx"]
        command += ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "30k", str(path) + ".part.webm"]
        subprocess.run(command, check=True)
        Path(str(path) + ".part.webm").rename(path)
    return path


def value(t: float) -> int:
    """A rater near 30 with three dips of 40 points, each back up after 40 s, and a little wobble."""
    dip = any(start <= t < start + 40 for start in (600, 1800, 3000))
    return max(-50, min(50, round((-10 if dip else 30) + 5 * math.sin(t / 7))))


def write_session(root: Path) -> None:
    record = SessionRecord(root, SESSION, window=1000)
    t0 = time.time() - SECONDS
    batch = []
    for seq in range(SECONDS * RATE):
        t = seq / RATE
        batch.append(
            Sample(
                dial="D1",
                role="client",
                session=SESSION,
                value=value(t),
                seq=seq,
                device_time=t,
                host_time=t0 + t,
                host_monotonic=t,
                media_time=t,
                sync_uncertainty=0.001,
                playback="playing",
                player="browser",
                media="session.webm",
                media_duration=SECONDS,
            )
        )
        if len(batch) == 5000:
            record.on_samples("D1", batch)
            batch = []
    record.on_samples("D1", batch)
    record.close()


async def stamp_every_10_ms(clock: BrowserClock, stamps: list[tuple[float, float, float]]) -> None:
    """(instant, stamp, seconds since playing began) while the page plays."""
    began = None
    while True:
        instant = time.monotonic() - STAMP_DELAY
        stamp = clock.stamp(instant)
        if stamp.playback == "playing" and stamp.media_time is not None:
            began = instant if began is None else began
            stamps.append((instant, stamp.media_time, instant - began))
        await asyncio.sleep(0.01)


async def one_run(
    folder: Path, movie: Path, expect_clip: bool = True
) -> tuple[float, list[float], list[float]]:
    from playwright.async_api import async_playwright

    protocol = DEFAULT.model_copy(update={"practice": False, "dial_check": False})
    study = Study(SESSION, folder / SESSION, movie, protocol, ["client"])
    # Frames from before the page seeked to where the rating resumes are not the rating's.
    start = SECONDS - TAIL - 0.5
    state = study.state("client")
    state.step, state.positions, state.sequences, state.interruptions = (
        "rating",
        {"rating": SECONDS - TAIL},
        None,
        [],
    )
    await study.store.save(state)
    frames: list[tuple[float, float]] = []
    study.clocks["client"].on_frame = lambda host, media, _: (
        frames.append((host, media)) if media >= start else None
    )
    console, raters = study_access(["client"], TOKENS)
    controller = Controller(BrokerAddress(host="127.0.0.1", port=1), SESSION, [])
    runner = web.AppRunner(StudyServer(study, controller, console, raters).app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    stamps: list[tuple[float, float, float]] = []
    try:
        async with async_playwright() as playwright:
            chromium = await playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = await chromium.new_page()
            await page.goto(f"http://127.0.0.1:{port}/rater?token={TOKENS['client']}")
            await page.wait_for_function("view !== null && view.kind === 'rating'")
            await page.evaluate(
                """() => {
                    video.addEventListener("ended", () => { window.endedAt = performance.now(); });
                    video.addEventListener("playing", () => {
                        if (view.kind === "clip" && window.clipAt === undefined) { window.clipAt = performance.now(); }
                    });
                }"""
            )
            await page.click("#action")
            stamping = asyncio.create_task(stamp_every_10_ms(study.clocks["client"], stamps))
            await page.wait_for_function("window.endedAt !== undefined", polling=100, timeout=60_000)
            stamping.cancel()
            latency = math.nan
            if expect_clip:
                await page.wait_for_function("window.clipAt !== undefined", timeout=30_000)
                latency = float(await page.evaluate("window.clipAt - window.endedAt")) / 1000
                clip = await page.evaluate("view.clip")
                print(
                    f"  first clip: {clip['kind']} {clip['number']} at {clip['start']:.0f}-{clip['end']:.0f} s"
                )
            await chromium.close()
    finally:
        await study.close()
        await runner.cleanup()
    # As bench_players does: judged from 1 s after playback began (the first second fits the
    # page's clock and frame line afresh), the first second shown apart.
    steady = shown_errors(frames, [(i, m) for i, m, since in stamps if since >= 1.0])
    import os

    if os.environ.get("DEBUG_MISSES"):
        for i, m, since in stamps:
            e = shown_errors(frames, [(i, m)])
            if e and abs(e[0]) > 0.001:
                print("miss", round(since, 3), m, e)
    first = shown_errors(frames, [(i, m) for i, m, since in stamps if since < 1.0])
    return latency, [abs(e) for e in steady], [abs(e) for e in first]


async def main(runs: int) -> None:
    movie = video()
    latencies: list[float] = []
    errors: list[float] = []
    early: list[float] = []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        started = time.monotonic()
        write_session(folder)
        print(f"60-minute session written in {time.monotonic() - started:.1f} s")
        for run in range(runs):
            latency, run_errors, run_early = await one_run(folder, movie)
            early += run_early
            print(
                f"run {run + 1}: end of video -> first rupture clip playing {latency:.3f} s, {len(run_errors)} stamps"
            )
            latencies.append(latency)
            errors += run_errors
    p50, p99 = percentiles(errors)
    early_p50, early_p99 = percentiles(early)
    worst = max(latencies)
    print(
        f"end of video -> first rupture clip playing: worst {worst:.3f} s of {runs} (target <= 2 s): "
        f"{'ok' if worst <= 2.0 else 'MISSED'}"
    )
    print(
        f"rating page stamps: n={len(errors)} p50={p50:.2f} ms p99={p99:.2f} ms (target p99 <= 5 ms): "
        f"{'ok' if p99 <= 5.0 else 'MISSED'}; frame missed in {sum(e > 0.001 for e in errors) / len(errors):.1%}"
    )
    print(
        f"  (diagnostic) first second of playback: n={len(early)} p50={early_p50:.2f} ms p99={early_p99:.2f} ms"
    )


def percentiles(errors: list[float]) -> tuple[float, float]:
    errors = sorted(errors) or [math.nan]
    p50, p99 = (errors[min(len(errors) - 1, int(q * len(errors)))] * 1000 for q in (0.5, 0.99))
    return p50, p99


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args().runs))
