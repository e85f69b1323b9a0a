"""Tokens: the console's opens the console only; a rater's opens that rater's page, state,
answers and clock socket only (HTTP and WebSocket); nothing opens without one."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser

from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.control import Controller
from microdial.mqtt.publisher import MqttPublisher
from microdial.study.conduct import Study, StudyError
from microdial.study.protocol import DEFAULT
from microdial.study.server import StudyServer, study_access
from microdial.study.state import Sequence, Span

TOKENS = {"console": "console-token-1", "client": "client-token-1", "therapist": "therapist-token-1"}


@contextlib.asynccontextmanager
async def serving(study: Study) -> AsyncIterator[str]:
    """The study's pages on a free port (no dials, no broker: none is needed here)."""
    console, raters = study_access(study.raters, TOKENS)
    # A publisher that never connects: these pages only read the controller's runners.
    publisher = MqttPublisher(BrokerAddress(host="127.0.0.1", port=1), study.session)
    controller = Controller(publisher, study.session, [])
    runner = web.AppRunner(StudyServer(study, controller, console, raters).app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Study]]:
    video = tmp_path / "session.webm"
    video.write_bytes(b"video bytes")
    study = Study("S1", tmp_path / "S1", video, DEFAULT, ["client", "therapist"])
    therapist = study.state("therapist")
    therapist.sequences = [Sequence(number=1, rupture=Span(start=10, end=130))]
    therapist.step = "questions-1-rupture"
    await study.answer("therapist", "1:rupture:rupture_what", "private words")
    async with serving(study) as base:
        yield base, study


async def status(url: str, method: str = "GET", body: object = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.request(method, url, json=body) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("path", ["/", "/rater", "/video", "/api/rater", "/api/console"])
async def test_nothing_opens_without_a_token(served: tuple[str, Study], path: str) -> None:
    base, _ = served
    assert (await status(base + path))[0] == 403
    assert (await status(base + path + "?token=wrong"))[0] == 403


async def test_each_token_opens_its_own_scope_only(served: tuple[str, Study]) -> None:
    base, _ = served
    client, console = "?token=" + TOKENS["client"], "?token=" + TOKENS["console"]
    assert (await status(base + "/rater" + client))[0] == 200
    assert (await status(base + "/video" + client))[0] == 200
    assert (await status(base + "/" + client))[0] == 403  # the console is not a rater's
    assert (await status(base + "/api/console" + client))[0] == 403
    assert (await status(base + "/api/console/confirm" + client, "POST", {"rater": "client"}))[0] == 403
    assert (await status(base + "/rater" + console))[0] == 403  # nor a rater's page the console's
    code, body = await status(base + "/api/rater" + client)
    assert code == 200 and json.loads(body)["rater"] == "client"
    assert "private words" not in body and "therapist" not in body
    # A rater cannot answer for another: the rater is the token's, and the client has no such question.
    code, _ = await status(
        base + "/api/rater/answer" + client, "POST", {"key": "1:rupture:rupture_what", "text": "x"}
    )
    assert code == 409
    code, body = await status(base + "/api/console" + console)
    assert code == 200 and "private words" not in body  # counts and steps, not the words


async def test_the_clock_socket_feeds_the_token_s_rater_only(served: tuple[str, Study]) -> None:
    base, study = served
    ws = base.replace("http", "ws") + "/ws/page"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(ws)
        assert refused.value.status == 403
        async with session.ws_connect(ws + "?token=" + TOKENS["therapist"]) as socket:
            await socket.send_json({"type": "media", "media": 0.0, "at": 0.0, "duration": 60.0})
            await socket.send_json({"type": "playing", "media": 0.0, "at": 1.0})
            message = await socket.receive_json(timeout=5)
            assert message["type"] == "ping"
            for _ in range(100):
                if study.clocks["therapist"].duration is not None:
                    break
                await asyncio.sleep(0.02)
            assert study.clocks["therapist"].online and study.clocks["therapist"].duration == 60.0
            assert not study.clocks["client"].online


async def test_the_console_adjusts_and_confirms_segments_when_the_protocol_asks(tmp_path: Path) -> None:
    video = tmp_path / "session.webm"
    video.write_bytes(b"video bytes")
    protocol = DEFAULT.model_copy(update={"confirm_segments": True})
    study = Study("S1", tmp_path / "S1", video, protocol, ["client"])
    state = study.state("client")
    state.step, state.sequences = "confirm", [Sequence(number=1, rupture=Span(start=10, end=130))]
    moved = [Sequence(number=1, rupture=Span(start=15, end=135), repair=Span(start=200, end=320))]
    await study.adjust("client", moved)
    await study.confirm("client")
    assert study.state("client").step == "clip-1-rupture" and study.state("client").confirmed
    saved = json.loads((tmp_path / "S1" / "segments.json").read_text())
    assert saved["client"][0]["rupture"]["start"] == 15 and saved["client"][0]["repair"]["start"] == 200
    with pytest.raises(StudyError):
        await study.adjust("client", moved)  # once the interview began, the segments stay


async def test_the_dial_check_says_plainly_when_no_dial_is_connected(
    served: tuple[str, Study], browser: Browser
) -> None:
    base, _ = served
    page = await browser.new_page()
    await page.goto(base + "/rater?token=" + TOKENS["client"])
    await page.wait_for_function("view !== null && view.kind === 'instructions'")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await page.wait_for_function("view.kind === 'check'")
    await page.wait_for_function(
        "document.getElementById('dialstate').textContent.includes('No dial is connected')"
    )
    assert await page.is_disabled("#action")
    # Text for arm's length: the body's type is at least 24 px.
    size = await page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 24


async def test_a_reload_resumes_a_clip_where_it_was(tmp_path: Path, video: Path, browser: Browser) -> None:
    study = Study("S1", tmp_path / "S1", video, DEFAULT, ["client"])
    state = study.state("client")
    state.step, state.sequences = "clip-1-rupture", [Sequence(number=1, rupture=Span(start=2, end=10))]
    async with serving(study) as base:
        page = await browser.new_page()
        await page.goto(f"{base}/rater?token={TOKENS['client']}")
        await page.wait_for_function("!video.paused && video.currentTime > 4.5")
        for _ in range(50):  # the page saves its position once a second
            if study.state("client").positions.get("clip-1-rupture", 0) > 4:
                break
            await asyncio.sleep(0.1)
        saved = study.state("client").positions["clip-1-rupture"]
        await page.reload()
        await page.wait_for_function("!video.paused && video.currentTime > 0")
        assert abs(await page.evaluate("video.currentTime") - saved) < 0.5
