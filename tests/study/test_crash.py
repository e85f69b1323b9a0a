"""Nothing lost: `kill -9` of the study server while a rater rates and while they type an answer;
the restarted server (same folder, same links) and the still-open page go on where they stopped."""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
from pathlib import Path

from playwright.async_api import Browser

from microdial.sim.runner import SimulatedDial
from microdial.store.format import SessionMeta
from microdial.store.reader import read_samples
from tests.study.conftest import SESSION, VIDEO_SECONDS, StudyProcess
from tests.study.flow_support import (
    client_value,
    dial_check,
    following,
    press_action,
    state,
    wait_step,
)


async def test_kill_9_mid_rating_and_mid_answer_loses_nothing(
    study: StudyProcess, dials: dict[str, SimulatedDial], browser: Browser, tmp_path: Path
) -> None:
    folder = tmp_path / "recordings" / SESSION
    page = await (await browser.new_context()).new_page()
    await page.goto(study.links["client"])
    await press_action(page)
    dial = await dial_check(page, dials)
    await wait_step(page, "practice")
    await press_action(page, "Continue")
    await wait_step(page, "rating")
    async with following(page, dial, client_value):
        await press_action(page)
        await page.wait_for_function("video.currentTime > 3", timeout=20_000)
        study.kill()
        await page.wait_for_function("video.paused", timeout=5_000)
        stopped = await page.evaluate("video.currentTime")
        await asyncio.sleep(1.0)
        study.start()
        # The open page finds the study again by itself and the video goes on from where it stopped.
        await page.wait_for_function("!video.paused", timeout=15_000)
        assert abs(await page.evaluate("video.currentTime") - stopped) < 0.5
        await page.wait_for_function("video.currentTime > 6", timeout=20_000)
        # A reload mid-rating comes back to the rating step, at the position last saved.
        before = await page.evaluate("video.currentTime")
        await page.reload()
        await wait_step(page, "rating")
        assert abs((await state(page))["position"] - before) < 1.5
        await press_action(page)  # "Continue the video"
        await wait_step(page, "finding", "clip", "questions", timeout=VIDEO_SECONDS + 10)

    saved = json.loads((folder / "study" / "client.json").read_text())
    assert [i["reason"] for i in saved["interruptions"]] == ["server restarted", "reload"]
    assert abs(saved["interruptions"][0]["position"] - stopped) < 0.5
    # The recording shows the interruption: a session event, and no sample stamped while away.
    events = (folder / "events.csv").read_text()
    assert events.count("rating interrupted") == 2
    meta = SessionMeta.load(folder)
    (entry,) = [e for e in meta.dials.values() if e.role == "client"]
    playing = [s for s in read_samples(folder / entry.samples_file) if s.playback == "playing"]
    gaps = [b.host_monotonic - a.host_monotonic for a, b in itertools.pairwise(playing)]
    assert max(gaps) > 1.0  # the server was down for over a second

    # Mid-answer: typed text the debounce had not sent yet when the server died arrives after.
    await wait_step(page, "questions", timeout=20)
    (key, *_) = await page.evaluate("view.questions.map(q => q.key)")
    box = f'textarea[id="q-{key}"]'
    await page.focus(box)
    await page.keyboard.type("first words")
    await page.wait_for_function("document.getElementById('saved').textContent === 'Saved.'")
    study.kill()
    await page.keyboard.type(", then more")
    await asyncio.sleep(1.0)
    study.start()
    rows_path = folder / "interview.csv"
    for _ in range(100):
        rows = list(csv.DictReader(rows_path.open()))
        if rows and rows[0]["answer"] == "first words, then more":
            break
        await asyncio.sleep(0.1)
    assert rows[0]["answer"] == "first words, then more"
    await page.reload()
    await wait_step(page, "questions")
    assert await page.input_value(box) == "first words, then more"
