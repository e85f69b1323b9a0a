"""Driving one rater through the study page with the keyboard, their dial following a script."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from microdial.sim.runner import SimulatedDial
from microdial.store.format import SessionMeta
from microdial.store.reader import read_samples

VALUE = Callable[[float], int]


def client_value(t: float) -> int:
    return -30 if 5.0 <= t < 7.0 else 40


def therapist_value(t: float) -> int:
    return -40 if 7.5 <= t < 9.5 else 30


async def state(page: Page) -> dict[str, Any]:
    """The page's own view of its step (what the server last told it)."""
    value: dict[str, Any] = await page.evaluate("view")
    return value


async def wait_step(page: Page, *kinds: str, timeout: float = 30.0) -> None:
    """Until the page shows a step of one of these kinds (one it may already have left behind
    for a later one listed)."""
    await page.wait_for_function(
        "kinds => view !== null && kinds.includes(view.kind)", arg=list(kinds), timeout=timeout * 1000
    )


async def press_action(page: Page, label: str | None = None) -> None:
    """Keyboard only: Tab to the step's button (the one labelled so) once it is enabled, then Enter."""
    await page.wait_for_function(
        """label => {
            const action = document.getElementById("action");
            return !action.classList.contains("hidden") && !action.disabled
                && (label === null || action.textContent === label);
        }""",
        arg=label,
        timeout=30_000,
    )
    await page.focus("#title")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "action"
    await page.keyboard.press("Enter")


async def dial_check(page: Page, dials: dict[str, SimulatedDial]) -> SimulatedDial:
    """The check step with the rater's own dial (which one is the server's choice)."""
    await wait_step(page, "check")
    await page.wait_for_function("view.dial.connected && view.dial.value !== null", timeout=20_000)
    device = await page.evaluate("view.dial.dial")
    dial = next(d for d in dials.values() if d.device_id == device)
    for value in (-50, 50):
        dial.set_value(value)
        await asyncio.sleep(0.4)
    dial.press()
    await press_action(page)
    return dial


@contextlib.asynccontextmanager
async def following(
    page: Page, dial: SimulatedDial, value: VALUE
) -> AsyncIterator[list[tuple[float, float, bool]]]:
    """While the block runs, the dial is turned to value(the page's own video time); yields the
    page's trajectory as the test saw it: (host monotonic, video.currentTime, paused)."""
    seen: list[tuple[float, float, bool]] = []

    async def follow() -> None:
        while True:
            with contextlib.suppress(Exception):
                before = time.monotonic()
                media, paused = await page.evaluate("[video.currentTime, video.paused]")
                after = time.monotonic()
                dial.set_value(value(float(media)))
                if after - before < 0.02:  # a slow round trip says little about when
                    seen.append(((before + after) / 2, float(media), bool(paused)))
            await asyncio.sleep(0.05)

    task = asyncio.create_task(follow())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def answer_questions(page: Page, words: str) -> list[str]:
    """Types an answer into each question box (keyboard), then Continue; returns the keys."""
    await wait_step(page, "questions")
    keys: list[str] = await page.evaluate("view.questions.map(q => q.key)")
    for index, key in enumerate(keys):
        await page.focus(f'textarea[id="q-{key}"]')
        await page.keyboard.type(f"{words} {index}")
    await page.wait_for_function("document.getElementById('saved').textContent === 'Saved.'")
    await page.click("#action")
    return keys


async def api(page: Page, path: str, token_of: str | None = None) -> tuple[int, Any]:
    """GET path from inside the page with the page's own token (or another's): (status, body)."""
    result: dict[str, Any] = await page.evaluate(
        """async ([path, query]) => {
            const response = await fetch(path + (query === null ? location.search : query));
            return {status: response.status, body: await response.text()};
        }""",
        [path, None if token_of is None else token_of],
    )
    body = result["body"]
    with contextlib.suppress(ValueError):
        body = json.loads(body)
    return int(result["status"]), body


def stamp_errors(
    folder: Path, role: str, trajectory: list[tuple[float, float, bool]]
) -> tuple[int, int, list[float]]:
    """The role's dial as recorded: (samples stamped playing, samples stamped paused, and for each
    playing one |media_time - a page's video time at the sample's host instant|), the page's
    time interpolated between the test's looks at it where two playing looks bracket the sample
    within 0.3 s. The stamps are presented frames, so they trail currentTime by up to a frame or so."""
    meta = SessionMeta.load(folder)
    (entry,) = [entry for entry in meta.dials.values() if entry.role == role]
    hosts = [host for host, _, _ in trajectory]
    playing = paused = 0
    errors = []
    for sample in read_samples(folder / entry.samples_file):
        if sample.playback == "paused":
            paused += 1
        if sample.playback != "playing" or sample.media_time is None:
            continue
        playing += 1
        index = bisect.bisect(hosts, sample.host_monotonic)
        if not 0 < index < len(hosts):
            continue
        (h0, m0, p0), (h1, m1, p1) = trajectory[index - 1], trajectory[index]
        if h1 - h0 > 0.3 or p0 or p1 or m1 < m0:
            continue
        page_time = m0 + (m1 - m0) * (sample.host_monotonic - h0) / (h1 - h0)
        errors.append(abs(sample.media_time - page_time))
    return playing, paused, sorted(errors)
