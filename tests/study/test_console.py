"""The console's controls (which dial is which rater, the segments' start times) and the rater
page's paths the whole-flow test does not take: answers sent by sendBeacon when the tab closes,
and the dial's value shown while rating when the protocol says so."""

from __future__ import annotations

import asyncio
import csv
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from microdial.sim.runner import SimulatedDial
from microdial.study.conduct import Study
from microdial.study.protocol import DEFAULT, Protocol
from microdial.study.state import Sequence, Span
from tests.study.conftest import PROTOCOL, SESSION, StudyProcess
from tests.study.test_access import TOKENS, serving, status


@pytest.fixture
async def assignable(tmp_path: Path) -> AsyncIterator[tuple[str, Study]]:
    """A study whose two dials were found earlier (study/dials.json), served without dials."""
    video = tmp_path / "session.webm"
    video.write_bytes(b"video bytes")
    folder = tmp_path / "S1" / "study"
    folder.mkdir(parents=True)
    (folder / "dials.json").write_text(json.dumps({"D1": "client", "D2": "therapist"}))
    study = Study("S1", tmp_path / "S1", video, DEFAULT, ["client", "therapist"])
    async with serving(study) as base:
        yield base, study


def saved_dials(study: Study) -> dict[str, str]:
    given: dict[str, str] = json.loads((study.store.folder / "dials.json").read_text())
    return given


async def test_the_console_swaps_dials_until_a_rater_begins_rating(assignable: tuple[str, Study]) -> None:
    base, study = assignable
    url = base + "/api/console/assign?token=" + TOKENS["console"]
    code, body = await status(url, "POST", {"dial": "d1", "rater": "therapist"})
    assert code == 200 and json.loads(body)["assignments"] == {"D1": "therapist", "D2": "client"}
    assert saved_dials(study) == {"D1": "therapist", "D2": "client"}  # kept across restarts
    assert (await status(url, "POST", {"dial": "D9", "rater": "client"}))[0] == 409
    assert (await status(url, "POST", {"dial": "D1", "rater": "nobody"}))[0] == 404
    assert (
        await status(
            base + "/api/console/assign?token=" + TOKENS["client"], "POST", {"dial": "D1", "rater": "client"}
        )
    )[0] == 403
    # Once the client rates, neither the client's dial nor the one that would take the client moves.
    study.state("client").step = "rating"
    study.state("client").positions["rating"] = 3.0
    code, body = await status(url, "POST", {"dial": "D1", "rater": "client"})
    assert code == 409 and "client has begun rating" in body
    assert saved_dials(study) == {"D1": "therapist", "D2": "client"}


async def test_the_report_is_the_console_s_only(assignable: tuple[str, Study]) -> None:
    base, _ = assignable
    for path in ("/report", "/report/analysis.json", "/report/analysis.png", "/api/console/analyse"):
        method = "POST" if path.startswith("/api") else "GET"
        assert (await status(base + path + "?token=" + TOKENS["client"], method, {}))[0] == 403
    code, body = await status(base + "/report?token=" + TOKENS["console"])
    assert code == 404 and "no analysis yet" in body


async def test_the_console_reassigns_with_the_keyboard(
    assignable: tuple[str, Study], browser: Browser
) -> None:
    base, study = assignable
    page = await browser.new_page()
    await page.goto(f"{base}/?token={TOKENS['console']}")
    choice = page.locator('#assign div[data-dial="D2"] select')
    await choice.wait_for()
    await choice.focus()
    await page.keyboard.press("ArrowUp")  # therapist → client
    assert await choice.input_value() == "client"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Assign"
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "document.getElementById('assigned').textContent.includes('D2 now rates as client')"
    )
    assert saved_dials(study) == {"D1": "therapist", "D2": "client"}
    # Refused: the reason is shown and the choice goes back.
    study.state("therapist").step = "clip-1-rupture"
    choice = page.locator('#assign div[data-dial="D1"] select')
    await page.wait_for_function(
        "document.querySelector('#assign div[data-dial=\"D1\"] select').value === 'therapist'"
    )
    await choice.select_option("client")
    await page.locator('#assign div[data-dial="D1"] button', has_text="Assign").press("Enter")
    await page.wait_for_function("document.getElementById('assigned').textContent.startsWith('Not changed')")
    assert await choice.input_value() == "therapist" and saved_dials(study)["D1"] == "therapist"


def one_rater(tmp_path: Path, protocol: Protocol, step: str, sequence: Sequence) -> Study:
    """A study of one rater (the client) standing at `step` of their one sequence."""
    video = tmp_path / "session.webm"
    video.write_bytes(b"video bytes")
    study = Study("S1", tmp_path / "S1", video, protocol, ["client"])
    state = study.state("client")
    state.step, state.sequences = step, [sequence]
    return study


async def until(done: Callable[[], bool]) -> None:
    for _ in range(100):
        if done():
            return
        await asyncio.sleep(0.05)


async def test_the_console_adjusts_segment_starts_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    protocol = DEFAULT.model_copy(update={"confirm_segments": True})
    sequence = Sequence(number=1, rupture=Span(start=10, end=130), repair=Span(start=200, end=320))
    study = one_rater(tmp_path, protocol, "confirm", sequence)
    async with serving(study) as base:
        page = await browser.new_page()
        await page.goto(f"{base}/?token={TOKENS['console']}")
        start = page.get_by_label("client sequence 1 rupture start, seconds")
        await start.wait_for()
        await start.fill("14")
        await page.keyboard.press("Tab")  # leaving the box sends it
        state = study.state("client")
        await until(lambda: state.sequences is not None and state.sequences[0].rupture.start == 14)
        assert state.sequences is not None
        shown = state.sequences[0]
        assert (shown.rupture.start, shown.rupture.end) == (14, 134)  # the clip keeps its length
        confirm = page.get_by_role("button", name="Confirm segments of client")
        await confirm.focus()
        await page.keyboard.press("Enter")
        await until(lambda: study.state("client").step != "confirm")
    assert study.state("client").step == "clip-1-rupture"
    saved = json.loads((tmp_path / "S1" / "segments.json").read_text())
    assert saved["client"][0]["rupture"] == {"start": 14, "end": 134}


async def test_an_unsent_answer_goes_by_beacon_when_the_tab_closes(tmp_path: Path, browser: Browser) -> None:
    study = one_rater(
        tmp_path, DEFAULT, "questions-1-rupture", Sequence(number=1, rupture=Span(start=10, end=130))
    )
    path = tmp_path / "S1" / "interview.csv"
    async with serving(study) as base:
        page = await browser.new_page()
        await page.goto(f"{base}/rater?token={TOKENS['client']}")
        box = page.locator('textarea[id="q-1:rupture:rupture_what"]')
        await box.wait_for()
        # Closed at once: within the 0.4 s before the page would send it itself.
        await box.fill("said just before closing")
        await page.close()
        await until(lambda: path.exists() and len(path.read_text().splitlines()) > 1)
    rows = list(csv.DictReader(path.open()))
    assert [(r["question_id"], r["answer"]) for r in rows] == [("rupture_what", "said just before closing")]


@pytest.fixture
async def showing(
    study_args: list[str], dials: dict[str, SimulatedDial], tmp_path: Path
) -> AsyncIterator[StudyProcess]:
    """The study served with a protocol that shows the rater their dial's value while rating."""
    protocol = tmp_path / "protocol.toml"
    protocol.write_text(
        "show_value = true\ndial_check = false\n" + PROTOCOL.replace("practice = true", "practice = false")
    )
    process = StudyProcess(study_args, dict(os.environ))
    process.start()
    yield process
    print(process.stop()[-6000:])


async def shown_value(page: Page, value: int) -> None:
    await page.wait_for_function(
        "value => document.getElementById('dialstate').textContent === 'Your dial is at ' + value + '.'",
        arg=value,
        timeout=15_000,
    )


async def test_rating_shows_the_dial_value_and_a_swap_moves_the_dials(
    showing: StudyProcess, dials: dict[str, SimulatedDial], browser: Browser, tmp_path: Path
) -> None:
    page = await (await browser.new_context()).new_page()
    await page.goto(showing.links["client"])
    await page.wait_for_function("view !== null && view.kind === 'instructions'")
    await page.click("#action")
    await page.wait_for_function("view.kind === 'rating' && view.dial.connected", timeout=20_000)
    first = await page.evaluate("view.dial.dial")
    mine = next(d for d in dials.values() if d.device_id == first)
    other = next(d for d in dials.values() if d.device_id != first)
    mine.set_value(25)
    other.set_value(-40)
    await shown_value(page, 25)
    # Before the rating starts, the researcher swaps the dials: the page now shows the other one.
    console = showing.links["console"].replace("/?", "/api/console/assign?")
    body = {"dial": other.device_id, "rater": "client"}
    async with aiohttp.ClientSession() as session, session.post(console, json=body) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["assignments"][first] == "therapist"
    await page.wait_for_function("dial => view.dial.dial === dial", arg=other.device_id, timeout=10_000)
    await shown_value(page, -40)
    # While the video plays the value follows the dial.
    await page.click("#action")
    await page.wait_for_function("!video.paused && video.currentTime > 0.5", timeout=15_000)
    other.set_value(12)
    await shown_value(page, 12)
    events = (tmp_path / "recordings" / SESSION / "events.csv").read_text()
    assert f"dial {other.device_id} reassigned from therapist to client" in events
