"""The whole practice loop in Debian's Chromium with a fake camera and microphone: a trainee records
twice (camera, then microphone only), submits one; the supervisor watches, rates it moment to moment
with the arrow keys, scores the rubric and writes feedback; the trainee sees it all under their video."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright

from microdial.practice import auth, db
from tests.players.support import CHROMIUM_ARGS
from tests.practice.conftest import PASSWORD, Folder, serving

FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS + FAKE_MEDIA
        )
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(browser: Browser, base: str, code: str, *, csp: bool = False) -> Page:
    """A page signed in as code. Playwright's wait_for_function evaluates strings, which the pages'
    Content-Security-Policy forbids, so the loop test bypasses it; test_denied keeps it on."""
    page = await (await browser.new_context(bypass_csp=not csp)).new_page()
    await page.goto(base + "/")
    assert page.url.endswith("/login")
    await page.fill("#code", code)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda url: not url.endswith("/login"))
    return page


async def record(page: Page, mode: str, seconds: float, number: int) -> None:
    await page.check(f"input[name=mode][value={mode}]")
    await page.click("#record")
    await page.wait_for_function("!document.getElementById('stop').disabled")
    await asyncio.sleep(seconds)
    level = await page.evaluate("document.getElementById('level').value")
    await page.click("#stop")
    await page.wait_for_selector(f"li.attempt[data-number='{number}']", timeout=15000)
    assert level > 0, "the level meter moved while the fake microphone beeped"


async def test_the_whole_loop(folder: Folder, chromium: Browser) -> None:
    async with serving(folder.data) as base:
        trainee = await sign_in(chromium, base, "tr1")
        assert trainee.url.endswith("/library")
        await trainee.wait_for_selector("li.card a")
        await trainee.select_option("#status", "done")
        assert await trainee.locator("li.card").count() == 0
        await trainee.select_option("#status", "")
        await trainee.select_option("#kind", "confrontation")
        await trainee.click("li.card a")
        await trainee.wait_for_url("**/clip?id=*")
        await trainee.wait_for_function("document.getElementById('clip').readyState >= 1")
        await record(trainee, "video", 2.0, 1)
        await record(trainee, "audio", 1.5, 2)
        headings = await trainee.locator("li.attempt h3").all_inner_texts()
        assert headings == ["Attempt 1", "Attempt 2"]
        # Both play back from the server.
        await trainee.wait_for_function(
            "[...document.querySelectorAll('video.attempt-video')].every((v) => v.readyState >= 1)"
        )
        first = trainee.locator("li.attempt[data-number='1']")
        await first.locator("input.note").fill("tried naming it")
        await first.locator("button.submit").click()
        await trainee.wait_for_selector("li.attempt[data-number='1'] .state")

        supervisor = await sign_in(chromium, base, "sup1")
        assert supervisor.url.endswith("/queue")
        await supervisor.click("#queue a")
        await supervisor.wait_for_url("**/review?id=*")
        await supervisor.wait_for_selector("#rubric fieldset")
        assert "tried naming it" in await supervisor.inner_text("#note")
        await supervisor.wait_for_function("document.getElementById('response').readyState >= 1")
        await supervisor.evaluate("document.getElementById('response').play()")
        for key in ("ArrowUp", "ArrowUp", "ArrowUp", "ArrowDown"):
            await asyncio.sleep(0.3)
            await supervisor.keyboard.press(key)
        await asyncio.sleep(0.3)
        assert await supervisor.inner_text("#value") == "10"
        # A dial would feed the same entry point with (media_time, value).
        await supervisor.evaluate(
            "window.practiceRater.feed(document.getElementById('response').currentTime, 20)"
        )
        for item, score in (
            ("addresses_rupture", 4),
            ("empathy", 5),
            ("invites_view", 3),
            ("non_defensive", 4),
            ("collaboration", 2),
        ):
            await supervisor.check(f"fieldset[data-item={item}] input[value='{score}']")
        await supervisor.fill("#feedback", "You named the rupture: good. Slow down next time.")
        await supervisor.click("#record")
        await asyncio.sleep(1.0)
        await supervisor.click("#stop")
        await supervisor.wait_for_selector("#reply:not([hidden])")
        await supervisor.click("#save")
        await supervisor.wait_for_function(
            "document.getElementById('message').textContent.includes('Review sent')"
        )

        await trainee.reload()
        await trainee.wait_for_selector("li.attempt[data-number='1'] .feedback")
        feedback = await trainee.inner_text("li.attempt[data-number='1'] .feedback")
        assert "Slow down next time" in feedback and "Empathy" in feedback
        await trainee.wait_for_function(
            "document.querySelector(\"li.attempt[data-number='1'] .feedback audio\").readyState >= 1"
        )
        points = await trainee.get_attribute("li.attempt[data-number='1'] polyline.trace-line", "points")
        assert points is not None and len(points.split()) >= 4
        await trainee.goto(base + "/progress")
        await trainee.wait_for_selector("svg.progress-figure circle.dot")
        # Five rubric items and their mean.
        assert await trainee.locator("svg.progress-figure polyline").count() == 6

    database = sqlite3.connect(folder.data / db.DB_FILE)
    (attempt1_mime,), (attempt2_mime,) = database.execute("SELECT mime FROM attempts ORDER BY number")
    assert attempt1_mime == "video/webm" and attempt2_mime == "audio/webm"
    scores, trace, reply = database.execute("SELECT scores, trace, reply_mime FROM reviews").fetchone()
    assert reply == "audio/webm"
    assert json.loads(scores)["empathy"] == 5
    values = [value for _, value in json.loads(trace)["samples"]]
    assert 15 in values and 10 in values and values[-1] == 20


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        # No fake UI: headless Chromium denies the permission prompt.
        (["--use-fake-device-for-media-stream"], "Permission to use the camera and microphone was denied"),
        # Permission granted but no fake device: this machine has no camera nor microphone.
        (["--use-fake-ui-for-media-stream"], "No camera and microphone was found"),
    ],
)
async def test_no_recording_is_explained(folder: Folder, flags: list[str], expected: str) -> None:
    """Denied permission or no device: the page says what to do (with the pages' CSP on)."""
    async with async_playwright() as playwright, serving(folder.data) as base:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS + flags
        )
        try:
            page = await sign_in(browser, base, "tr1", csp=True)
            await page.goto(f"{base}/clip?id={folder.clip}")
            await page.wait_for_selector("h1:not(:empty)")
            await page.click("#record")
            await page.wait_for_selector("#message.error")
            assert expected in await page.inner_text("#message")
        finally:
            await browser.close()


async def test_page_upload_resumes_after_a_dropped_piece(
    folder: Folder, chromium: Browser, response_bytes: bytes
) -> None:
    """The page's own uploader: the network drops the second 1 MB piece once; it asks the server
    where it stands, goes on, and the attempt arrives whole."""
    body = response_bytes * (2_500_000 // len(response_bytes) + 1)
    async with serving(folder.data) as base:
        page = await sign_in(chromium, base, "tr1")
        dropped: list[str] = []

        async def drop_once(route: Route) -> None:
            if "offset=1048576" in route.request.url and not dropped:
                dropped.append(route.request.url)
                await route.abort("connectionreset")
            else:
                await route.continue_()

        await page.route("**/api/uploads/*", drop_once)
        answer = await page.evaluate(
            """async ([encoded, clip]) => {
                const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
                const blob = new Blob([bytes], { type: "video/webm" });
                return P.upload(blob, { purpose: "attempt", clip });
            }""",
            [base64.b64encode(body).decode(), folder.clip],
        )
        assert dropped and answer["number"] == 1
        assert answer["sha256"] == hashlib.sha256(body).hexdigest()


async def test_sign_in_link_then_password(folder: Folder, chromium: Browser) -> None:
    """The printed link opens the welcome page once (with the pages' CSP on); the password then signs in."""
    database = db.connect(folder.data)
    token = auth.add_user(database, "tr9", "trainee", "sup1", invite_hours=1)
    database.close()
    async with serving(folder.data) as base:
        page = await (await chromium.new_context()).new_page()
        await page.goto(f"{base}/welcome#{token}")
        await page.fill("#password", "a long enough password")
        await page.fill("#again", "a long enough password")
        await page.click("button[type=submit]")
        await page.wait_for_url("**/library")
        await page.wait_for_selector("#who:has-text('tr9')")
        other = await (await chromium.new_context()).new_page()
        await other.goto(f"{base}/welcome#{token}")
        await other.fill("#password", "somebody else's password")
        await other.fill("#again", "somebody else's password")
        await other.click("button[type=submit]")
        await other.wait_for_selector("#message.error:has-text('used up')")
