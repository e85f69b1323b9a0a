"""Tokens: the console's opens the console only; a rater's opens that rater's page, state,
answers and clock socket only (HTTP and WebSocket); nothing opens without one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.control import Controller
from microdial.study.conduct import Study, StudyError
from microdial.study.protocol import DEFAULT
from microdial.study.server import StudyServer, study_access
from microdial.study.state import Sequence, Span

TOKENS = {"console": "console-token-1", "client": "client-token-1", "therapist": "therapist-token-1"}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Study]]:
    video = tmp_path / "session.webm"
    video.write_bytes(b"video bytes")
    study = Study("S1", tmp_path / "S1", video, DEFAULT, ["client", "therapist"])
    therapist = study.state("therapist")
    therapist.sequences = [Sequence(number=1, rupture=Span(start=10, end=130))]
    therapist.step = "questions-1-rupture"
    await study.answer("therapist", "1:rupture:rupture_what", "private words")
    console, raters = study_access(study.raters, TOKENS)
    server = StudyServer(
        study, Controller(BrokerAddress(host="127.0.0.1", port=1), "S1", []), console, raters
    )
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", study
    finally:
        await runner.cleanup()


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
