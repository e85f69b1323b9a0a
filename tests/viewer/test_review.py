"""Review mode in real headless chromium: a real session folder (written by the recorder's own
SessionRecord), a real video made with ffmpeg, played by the browser's own player."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from playwright.async_api import Browser, Page, Response

from microdial.cli import main
from microdial.store.writer import SessionRecord
from microdial.web.review import downsample, load_recording

from .conftest import RATE, SESSION, client_value, reviewing, therapist_value, wait_js, write_session


async def cursor(page: Page) -> float:
    return float(await page.get_attribute("#plots", "data-cursor") or "nan")


async def click_plot_at(page: Page, t: float) -> None:
    """Click the whole-session plot where media time t is drawn (its margins are the page's)."""
    box = await page.locator("#whole").bounding_box()
    assert box is not None
    span = await page.evaluate(
        "[Math.min(0, microdial.review.range[0]), Math.max(microdial.review.range[1], video.duration)]"
    )
    left, right = 34, 8
    x = left + (t - span[0]) / (span[1] - span[0]) * (box["width"] - left - right)
    await page.mouse.click(box["x"] + x, box["y"] + box["height"] / 2)


async def test_cursor_follows_play_scrub_and_clicks(browser: Browser, video: Path, tmp_path: Path) -> None:
    session_dir = write_session(tmp_path)
    async with reviewing(session_dir, video) as url:
        page = await browser.new_page(viewport={"width": 1000, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        await page.goto(url + "/")
        await wait_js(
            page, "window.microdial.review.whole && window.microdial.review.detail && video.readyState >= 1"
        )
        assert await page.evaluate("microdial.review.clock") == "media"
        assert await page.evaluate("Object.keys(microdial.review.whole.traces).sort()") == ["dialC", "dialT"]
        assert await page.is_hidden("#clock-note")

        # Play: the cursor moves with the frames the player presents.
        await page.evaluate("video.muted = true; video.play()")
        await wait_js(page, "Number(document.getElementById('plots').dataset.cursor) > 1.0")
        first = await cursor(page)
        await wait_js(page, "n => Number(document.getElementById('plots').dataset.cursor) > n + 0.5", first)
        state = await page.evaluate(
            "({t: video.currentTime, c: microdial.review.cursor, rvfc: microdial.review.videoFrames})"
        )
        assert state["rvfc"] and abs(state["t"] - state["c"]) < 0.3, state
        await page.evaluate("video.pause()")

        # Scrub: setting the player's time moves the cursor there, and the table reads the traces there.
        await page.evaluate("video.currentTime = 6.0")
        await wait_js(page, "Math.abs(Number(document.getElementById('plots').dataset.cursor) - 6.0) < 0.05")
        await wait_js(page, "document.querySelectorAll('#dials tbody td.value').length === 2")
        await wait_js(
            page,
            "[...document.querySelectorAll('#dials tbody td.value')].every(td => td.textContent !== '–')",
        )
        values = {
            row["dial"]: int(row["value"])
            for row in await page.evaluate(
                "[...document.querySelectorAll('#dials tbody tr')].map(tr => ({dial: tr.dataset.dial, value: tr.querySelector('td.value').textContent}))"
            )
        }
        c = await cursor(page)
        assert abs(values["dialT"] - therapist_value(c)) <= 1, (values, c)
        assert abs(values["dialC"] - client_value(c)) <= 3, (values, c)

        # Click on the plot: the video seeks there and the cursor follows.
        await click_plot_at(page, 3.0)
        await wait_js(page, "Math.abs(video.currentTime - 3.0) < 0.1 && !video.seeking")
        await wait_js(page, "Math.abs(Number(document.getElementById('plots').dataset.cursor) - 3.0) < 0.1")

        # Both traces and the cursor line are on the canvas.
        await page.wait_for_timeout(100)  # one animation frame to draw the seek
        colours = await page.evaluate(
            """() => {
                const c = document.getElementById('whole');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                const count = {blue: 0, vermillion: 0, black: 0};
                for (let i = 0; i < d.length; i += 4) {
                    if (d[i + 3] < 200) continue;
                    if (d[i] < 60 && d[i + 1] > 100 && d[i + 1] < 140 && d[i + 2] > 160) count.blue++;
                    if (d[i] > 190 && d[i + 1] > 70 && d[i + 1] < 120 && d[i + 2] < 40) count.vermillion++;
                    if (d[i] < 30 && d[i + 1] < 30 && d[i + 2] < 30) count.black++;
                }
                return count;
            }"""
        )
        # The client's blue and the therapist's vermillion (microdial.analysis.colours).
        assert colours["blue"] > 300 and colours["vermillion"] > 300 and colours["black"] > 100, colours
        shot = tmp_path / "review.png"
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        assert not errors, errors


async def test_cursor_follows_timeupdate_without_frame_callbacks(
    browser: Browser, video: Path, tmp_path: Path
) -> None:
    """Browsers without requestVideoFrameCallback (older Firefox): removed before the page runs."""
    session_dir = write_session(tmp_path)
    async with reviewing(session_dir, video) as url:
        page = await browser.new_page()
        await page.add_init_script("delete HTMLVideoElement.prototype.requestVideoFrameCallback")
        await page.goto(url + "/")
        await wait_js(page, "window.microdial.review.whole && video.readyState >= 1")
        assert await page.evaluate("microdial.review.videoFrames") is False
        await page.evaluate("video.muted = true; video.play()")
        await wait_js(page, "Number(document.getElementById('plots').dataset.cursor) > 1.0")
        await page.evaluate("video.pause(); video.currentTime = 8.5")
        await wait_js(page, "Math.abs(Number(document.getElementById('plots').dataset.cursor) - 8.5) < 0.05")


async def test_blinded_review_gets_only_its_role(browser: Browser, video: Path, tmp_path: Path) -> None:
    session_dir = write_session(tmp_path)
    extra = {"token": "full-access-token", "role_tokens": {"client": "client-only-token"}}
    async with reviewing(session_dir, video, **extra) as url:
        page = await browser.new_page()
        bodies: list[str] = []

        async def keep(response: Response) -> None:
            if "/traces" in response.url:
                bodies.append(await response.text())

        page.on("response", keep)
        await page.goto(url + "/?token=client-only-token")
        await wait_js(page, "window.microdial.review.whole && window.microdial.review.detail")
        assert await page.evaluate("[...microdial.dials.keys()]") == ["dialC"]
        assert "showing only: client" in await page.inner_text("#scope")
        assert len(bodies) >= 2
        for body in bodies:
            assert "dialT" not in body and "therapist" not in body
            assert [m["detail"] for m in json.loads(body)["marks"]] == ["mark client"]

        async with aiohttp.ClientSession() as http:
            for path in ("/", "/traces", "/video"):
                async with http.get(url + path) as response:
                    assert response.status == 403
            async with http.get(url + "/traces?token=client-only-token&role=therapist") as response:
                assert response.status == 403
            # The player seeks with range requests.
            headers = {"Range": "bytes=100-199"}
            async with http.get(url + "/video?token=full-access-token", headers=headers) as response:
                assert response.status == 206 and len(await response.read()) == 100
            async with http.get(url + "/traces?token=full-access-token&n=0") as response:
                assert response.status == 400


async def test_session_without_media_time_says_so(browser: Browser, video: Path, tmp_path: Path) -> None:
    session_dir = write_session(tmp_path, media=False)
    async with reviewing(session_dir, video) as url:
        page = await browser.new_page()
        await page.goto(url + "/")
        await wait_js(page, "window.microdial.review.whole")
        assert await page.is_visible("#clock-note")
        assert "no media time" in await page.inner_text("#clock-note")
        assert await page.evaluate("microdial.review.range") == [0.0, pytest.approx(9.99)]
        marks = await page.evaluate("microdial.review.marks.map(m => m.x)")
        assert marks == [pytest.approx(2.5), pytest.approx(7.0)]


def test_downsampling_keeps_the_extremes_of_two_hours_at_100_hz() -> None:
    x = np.arange(2 * 3600 * RATE, dtype=np.float64) / RATE
    v = np.round(40 * np.sin(x / 37.0)).astype(np.int16)
    v[123_457] = 50  # a one-sample spike must survive thinning
    v[654_321] = -50
    xs, vs, full = downsample(x, v, 0.0, float(x[-1]), 2000)
    assert not full and len(xs) <= 4000 + 2 and len(xs) == len(vs)
    assert 50 in vs and -50 in vs
    assert xs == sorted(xs) and xs[0] == 0.0 and xs[-1] == x[-1]
    # A minute: every sample, with one beyond each edge so lines reach the plot's sides.
    xs, vs, full = downsample(x, v, 600.0, 660.0, 5000)
    assert full and len(xs) == 60 * RATE + 3 and xs[0] < 600.0 == xs[1] and xs[-1] > 660.0


def test_bad_input_is_one_line(tmp_path: Path, video: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def error(*argv: str) -> str:
        assert main(["view", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("microdial view: ") and err.count("\n") == 1, err
        return err

    session_dir = write_session(tmp_path / "ok")
    assert "does not exist" in error("--review", str(tmp_path / "missing"), "--video", str(video))
    assert "--video" in error("--review", str(session_dir), "--video", str(tmp_path / "missing.mp4"))
    assert "--video" in error("--review", str(session_dir))
    empty = SessionRecord(tmp_path / "empty", SESSION, window=10)
    empty.close()
    assert "no samples" in error("--review", str(empty.folder), "--video", str(video))
    assert "session.json" in error("--review", str(tmp_path), "--video", str(video))
    assert "--review" in error("--session", "S1", "--video", str(video))
    assert len(load_recording(session_dir).marks) == 2
