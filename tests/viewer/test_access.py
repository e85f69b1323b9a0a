"""Blinding and access (issue 13): with role tokens alone, live and in review, a page sees its own
role only, and a request without a valid token — from this machine or another — gets 403 and no
data, over HTTP and WebSocket alike."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, Response

from microdial.embedded_broker import MosquittoProcess
from microdial.errors import ConfigError
from microdial.web.live import ViewSettings

from .conftest import feed, reviewing, running_viewer, settings_for, wait_js, write_session

CLIENT = "client-only-token"
WRONG = "not-a-token-at-all"
ROLE_TOKENS = {"client": CLIENT}


def outside_address() -> str:
    """This machine's address on its network (a request from it is not from loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address: str = probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"
    return address


def logged_urls(caplog: pytest.LogCaptureFixture) -> list[str]:
    return re.findall(r"http://\S+", caplog.text)


def record_everything(page: Page) -> list[str]:
    """Every WebSocket frame and HTTP body the page receives."""
    seen: list[str] = []

    async def body(response: Response) -> None:
        if response.status == 200 and "/video" not in response.url:
            seen.append(await response.text())

    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: seen.append(str(payload))))
    page.on("response", body)
    return seen


async def keep_reading(ws: aiohttp.ClientWebSocketResponse, seen: list[str]) -> None:
    # Appended one by one: the test reads seen while the socket is still open.
    async for message in ws:
        seen.append(str(message.data))  # noqa: PERF401


async def refused(http: aiohttp.ClientSession, url: str) -> None:
    """403 and nothing of anyone's data, as a plain GET and as a WebSocket."""
    async with http.get(url) as response:
        body = await response.text()
        assert response.status == 403, (url, response.status)
        assert "dial" not in body and "therapist" not in body and "client" not in body, body
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        async with http.ws_connect(url):
            pass
    assert caught.value.status == 403


async def test_live_role_tokens_alone_let_no_one_else_in(
    mosquitto: MosquittoProcess, session_code: str, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="microdial.web")
    async with running_viewer(settings_for(mosquitto, session_code, role_tokens=ROLE_TOKENS)) as url:
        page = await browser.new_page()
        seen = record_everything(page)
        await page.goto(f"{url}/?token={CLIENT}")
        await wait_js(page, "window.microdial && window.microdial.stats.messages > 0")
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/ws?token={CLIENT}") as ws:
            reader = asyncio.create_task(keep_reading(ws, seen))
            await feed(mosquitto, session_code, 1.5)
            await wait_js(page, "[...window.microdial.dials.values()].some(d => d.seen >= 140)")
            reader.cancel()
        assert list(await page.evaluate("[...window.microdial.dials.keys()]")) == ["dialC"]
        assert any("dialC" in s for s in seen)
        assert not any("dialT" in s or "therapist" in s for s in seen)

        async with aiohttp.ClientSession() as http:
            for query in ("", f"?token={WRONG}", f"?token={CLIENT}x", "?token=", "?token=%C3%A9"):
                await refused(http, f"{url}/{query}")
                await refused(http, f"{url}/ws{query}")
            await refused(http, f"{url}/ws?token={CLIENT}&role=therapist")
            # A new page after the feed: its snapshot holds the history, still one role only.
            async with http.ws_connect(f"{url}/ws?token={CLIENT}") as ws:
                snapshot = await ws.receive_str(timeout=5)
                assert "dialC" in snapshot and "dialT" not in snapshot and "therapist" not in snapshot
            # Each grant's URL is logged at start-up. With no --token, an unblinded one is made up,
            # so the operator still sees everything.
            urls = logged_urls(caplog)
            assert f"{url}/?token={CLIENT}" in urls, caplog.text
            (unblinded,) = [u for u in urls if CLIENT not in u]
            assert "?token=" in unblinded
            async with http.ws_connect(unblinded.replace("/?", "/ws?")) as ws:
                snapshot = await ws.receive_str(timeout=5)
                assert "dialC" in snapshot and "dialT" in snapshot


async def test_live_open_bind_with_role_tokens_refuses_tokenless_requests(
    mosquitto: MosquittoProcess, session_code: str
) -> None:
    settings = settings_for(mosquitto, session_code, bind="0.0.0.0", role_tokens=ROLE_TOKENS)
    async with running_viewer(settings) as url, aiohttp.ClientSession() as http:
        for host in {"127.0.0.1", outside_address()}:
            here = url.replace("127.0.0.1", host)
            await refused(http, f"{here}/")
            await refused(http, f"{here}/ws")
            async with http.get(f"{here}/?token={CLIENT}") as response:
                assert response.status == 200


async def test_review_role_tokens_alone_let_no_one_else_in(
    browser: Browser, video: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="microdial.web")
    session_dir = write_session(tmp_path)
    async with reviewing(session_dir, video, role_tokens=ROLE_TOKENS) as url:
        page = await browser.new_page()
        seen = record_everything(page)
        await page.goto(f"{url}/?token={CLIENT}")
        await wait_js(page, "window.microdial.review.whole && window.microdial.review.detail")
        assert await page.evaluate("[...microdial.dials.keys()]") == ["dialC"]
        assert any("dialC" in s for s in seen)
        assert not any("dialT" in s or "therapist" in s for s in seen)

        async with aiohttp.ClientSession() as http:
            for path in ("/", "/traces", "/video"):
                for query in ("", f"?token={WRONG}", "?token="):
                    await refused(http, f"{url}{path}{query}")
            await refused(http, f"{url}/traces?token={CLIENT}&role=therapist")
        assert f"{url}/?token={CLIENT}" in logged_urls(caplog), caplog.text


async def test_review_open_bind_with_role_tokens_refuses_tokenless_requests(
    video: Path, tmp_path: Path
) -> None:
    session_dir = write_session(tmp_path)
    async with (
        reviewing(session_dir, video, bind="0.0.0.0", role_tokens=ROLE_TOKENS) as url,
        aiohttp.ClientSession() as http,
    ):
        for host in {"127.0.0.1", outside_address()}:
            here = url.replace("127.0.0.1", host)
            for path in ("/", "/traces", "/video"):
                await refused(http, f"{here}{path}")
            async with http.get(f"{here}/traces?token={CLIENT}") as response:
                body = await response.text()
                assert response.status == 200 and "dialC" in body and "dialT" not in body


def test_a_token_opens_one_grant_only() -> None:
    with pytest.raises(ConfigError, match="different"):
        ViewSettings(token="shared-token", role_tokens={"client": "shared-token"}).access()
    with pytest.raises(ConfigError, match="different"):
        ViewSettings(role_tokens={"client": "shared-token", "therapist": "shared-token"}).access()
