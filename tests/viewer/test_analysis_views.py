"""The views that show the analysis, in real headless chromium: one colour per role across the live
page, the review page and the figure; the live page's whole session from the recording and from
what the viewer heard before the page came; the review page's ruptures and clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from playwright.async_api import Browser, Page

from microdial.analysis.colours import ROLE_COLOURS, colours
from microdial.analysis.report import JSON_FILE
from microdial.analysis.ruptures import RuptureOptions
from microdial.analysis.session import AnalyzeOptions, analyse_folder
from microdial.embedded_broker import MosquittoProcess
from microdial.web.review import load_recording, open_review
from tests.analysis.sessions import HOST_T0
from tests.analysis.sessions import DialTrace as AnalysisTrace
from tests.analysis.sessions import write_session as write_analysis_session

from .conftest import SESSION, feed, reviewing, running_viewer, settings_for, wait_js, write_session

ROLE_COLOUR_JS = "Object.fromEntries([...window.microdial.dials.values()].map(d => [d.role, d.color]))"


async def live_page(browser: Browser, url: str) -> Page:
    page = await browser.new_page(viewport={"width": 1000, "height": 760})
    await page.goto(url + "/")
    await wait_js(page, "window.microdial && window.microdial.stats.messages > 0")
    return page


async def test_one_colour_per_role_on_live_review_and_figure(
    mosquitto: MosquittoProcess, session_code: str, browser: Browser, video: Path, tmp_path: Path
) -> None:
    async with running_viewer(settings_for(mosquitto, session_code)) as url:
        page = await live_page(browser, url)
        await feed(mosquitto, session_code, 1.0)
        await wait_js(page, "window.microdial.dials.size === 2")
        live = await page.evaluate(ROLE_COLOUR_JS)
    session_dir = write_session(tmp_path)
    async with reviewing(session_dir, video) as url:
        page = await browser.new_page()
        await page.goto(url + "/")
        await wait_js(page, "window.microdial.review.whole && window.microdial.dials.size === 2")
        review = await page.evaluate(ROLE_COLOUR_JS)
    _, analysis = analyse_folder(session_dir)
    figure = colours([r.role for r in analysis.raters])  # as analysis.figure.draw assigns them
    assert (
        live == review == figure == {"client": ROLE_COLOURS["client"], "therapist": ROLE_COLOURS["therapist"]}
    )


async def test_a_late_page_shows_what_the_viewer_heard_before_it(
    mosquitto: MosquittoProcess, session_code: str, browser: Browser
) -> None:
    async with running_viewer(settings_for(mosquitto, session_code)) as url:
        await feed(mosquitto, session_code, 2.0)
        page = await live_page(browser, url)  # opened after the raters' first two seconds
        await wait_js(page, "[...window.microdial.dials.values()].every(d => d.seen >= 190)")
        assert await page.evaluate("window.microdial.history.source") == "viewer"
        assert "since the viewer started" in await page.inner_text("#history-from")
        # Where the raters' player is, and the time axis in m:ss.
        await wait_js(page, "document.getElementById('playback').dataset.state === 'playing'")
        assert (await page.inner_text("#playback")).startswith("playing at 0:0")
        assert await page.evaluate("[75, 3725, 0.5].map(t => microdialPanel.clock(t))") == [
            "1:15",
            "1:02:05",
            "0:01",
        ]


async def test_a_late_viewer_starts_with_the_recording(
    mosquitto: MosquittoProcess, browser: Browser, tmp_path: Path
) -> None:
    """The recorder's session folder (ten seconds of two raters) is there before the viewer starts."""
    write_session(tmp_path)
    settings = settings_for(mosquitto, SESSION, recordings=str(tmp_path))
    async with running_viewer(settings) as url:
        page = await live_page(browser, url)
        assert await page.evaluate("window.microdial.history.source") == "recording"
        assert str(tmp_path / SESSION) in await page.inner_text("#history-from")
        whole = await page.evaluate(
            "[...window.microdial.dials.values()].map(d => [d.role, d.wx.length, Math.max(...d.wx)])"
        )
        assert sorted(role for role, _, _ in whole) == ["client", "therapist"]
        assert all(n == 1000 and 9.9 < last < 10.0 for _, n, last in whole), whole
        # Live samples go on from there: a new pass from the video's start, drawn over the first.
        await feed(mosquitto, SESSION, 1.0)
        await wait_js(page, "[...window.microdial.dials.values()].every(d => d.seen >= 1090)")
        passes = await page.evaluate(
            "[...window.microdial.dials.values()].map(d => microdialPanel.passes(d.wx).length)"
        )
        rolling = await page.evaluate("[...window.microdial.dials.values()].map(d => Math.max(...d.rx))")
        assert passes == [2, 2] and all(x < 2.0 for x in rolling), (passes, rolling)


async def test_review_lists_the_ruptures_and_a_click_plays_from_there(
    browser: Browser, video: Path, tmp_path: Path
) -> None:
    session_dir = write_session(tmp_path)
    # Short windows so the ten seconds hold a rupture: the client's fall after 2.5 s.
    options = AnalyzeOptions(
        ruptures=RuptureOptions(segment=2, separation=2, baseline=3, lookback=10), window=4, clip_seconds=3
    )
    _, analysis = analyse_folder(session_dir, options)
    (client,) = [r for r in analysis.raters if r.role == "client"]
    assert client.ruptures and analysis.clips
    (session_dir / JSON_FILE).write_text(analysis.model_dump_json())
    async with reviewing(session_dir, video) as url:
        page = await browser.new_page(viewport={"width": 1000, "height": 1200})
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        await page.goto(url + "/")
        await wait_js(page, "window.microdial.review.analysis && video.readyState >= 1")
        assert str(session_dir / JSON_FILE) in await page.inner_text("#analysis-source")
        rows = page.locator("#clips tbody tr")
        assert await rows.count() == len(analysis.clips)
        first = analysis.clips[0]
        text = await rows.first.inner_text()
        assert first.rater in text and f"{first.kind} {first.number}" in text
        await rows.first.click()
        await wait_js(page, "t => Math.abs(video.currentTime - t) < 0.3", first.start)
        await wait_js(
            page,
            "t => Math.abs(Number(document.getElementById('plots').dataset.cursor) - t) < 0.5",
            first.start,
        )
        assert await page.evaluate("video.paused") is False
        assert not errors, errors


def test_review_computes_the_analysis_when_the_folder_has_none(tmp_path: Path, video: Path) -> None:
    recording = open_review(write_session(tmp_path), video)
    assert recording.analysis is not None and "computed with the default options" in recording.analysis_source
    # Ten seconds are too short for the default 30-s segments: no ruptures, and the page says so.
    assert recording.analysis.clips == []


def rewatched(root: Path) -> Path:
    """A client who watches 0-8 s at 10 (host seconds 0-8), seeks back to 4 s and watches 4-10 s at -10."""
    media = np.concatenate([np.arange(0, 8, 0.1), np.arange(4, 10, 0.1)])
    value = np.where(np.arange(media.size) < 80, 10, -10)
    host = HOST_T0 + np.arange(media.size) * 0.1
    disc = np.arange(media.size) == 80
    trace = AnalysisTrace("dialC", "client", host, value, media_time=media, discontinuity=disc)
    return write_analysis_session(root / "RW", "RW", [trace])


def test_review_keeps_the_passes_of_a_rewatched_stretch_apart(tmp_path: Path) -> None:
    trace = load_recording(rewatched(tmp_path)).traces["dialC"]
    assert trace.passes == [(0, 80), (80, 140)]
    answer = trace.window(5.0, 6.0, 2000)
    first, second = answer["passes"]
    assert set(answer["v"][first[0] : first[1]]) == {10} and set(answer["v"][second[0] : second[1]]) == {-10}
    # A window that only the second pass reaches: one pass in the answer.
    assert trace.window(9.0, 9.5, 2000)["passes"] == [(0, 7)]


async def test_review_reads_the_latest_pass_and_draws_both(
    browser: Browser, video: Path, tmp_path: Path
) -> None:
    async with reviewing(rewatched(tmp_path), video) as url:
        page = await browser.new_page(viewport={"width": 1000, "height": 1200})
        await page.goto(url + "/")
        await wait_js(page, "window.microdial.review.detail && video.readyState >= 1")
        await page.evaluate("video.currentTime = 6.0")
        await wait_js(page, "document.querySelector('#dials tbody td.value')?.textContent === '-10'")
        assert await page.evaluate("microdial.review.whole.traces.dialC.passes.length") == 2
