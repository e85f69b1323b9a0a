"""The live viewer in real headless chromium, fed by samples published to the real broker."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser

from microdial.cli import main
from microdial.embedded_broker import MosquittoProcess
from microdial.errors import ConfigError
from microdial.web.live import serve

from .conftest import feed, running_viewer, settings_for, wait_js


async def test_page_draws_two_live_traces(
    mosquitto: MosquittoProcess, session_code: str, browser: Browser, tmp_path: Path
) -> None:
    async with running_viewer(settings_for(mosquitto, session_code)) as url:
        page = await browser.new_page(viewport={"width": 1000, "height": 760})
        await page.goto(url + "/")
        await wait_js(page, "window.microdial && window.microdial.stats.messages > 0")
        await feed(mosquitto, session_code, 3.0)
        await wait_js(
            page,
            "window.microdial.dials.size === 2 && [...window.microdial.dials.values()].every(d => d.seen >= 290)",
        )
        await wait_js(page, "document.querySelectorAll('#dials tbody tr').length === 2")
        rows = await page.locator("#dials tbody tr").all_inner_texts()
        assert any("client" in r and "dialC" in r and "online" in r for r in rows)
        assert any("therapist" in r and "dialT" in r for r in rows)
        assert await page.evaluate("window.microdial.stats.frames") > 0
        shot = tmp_path / "viewer.png"
        await page.screenshot(path=str(shot), full_page=True)
        # Pixels in each trace's colour on the rolling-window canvas: both were drawn.
        colours = await page.evaluate(
            """() => {
                const c = document.getElementById('recent');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                const count = {blue: 0, vermillion: 0};
                for (let i = 0; i < d.length; i += 4) {
                    if (d[i] < 60 && d[i + 1] > 100 && d[i + 1] < 140 && d[i + 2] > 160) count.blue++;
                    if (d[i] > 190 && d[i + 1] > 70 && d[i + 1] < 120 && d[i + 2] < 40) count.vermillion++;
                }
                return count;
            }"""
        )
        # The client's blue and the therapist's vermillion (microdial.analysis.colours).
        assert colours["blue"] > 200 and colours["vermillion"] > 200, colours
        assert shot.stat().st_size > 10_000


async def test_blinded_view_is_never_sent_other_roles(
    mosquitto: MosquittoProcess, session_code: str, browser: Browser
) -> None:
    settings = settings_for(
        mosquitto, session_code, token="full-access-token", role_tokens={"client": "client-only-token"}
    )
    async with running_viewer(settings) as url:
        page = await browser.new_page()
        frames: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
        await page.goto(url + "/?role=client&token=client-only-token")
        await wait_js(page, "window.microdial && window.microdial.stats.messages > 0")
        await feed(mosquitto, session_code, 1.5)
        await wait_js(page, "[...window.microdial.dials.values()].some(d => d.seen >= 140)")
        assert list(await page.evaluate("[...window.microdial.dials.keys()]")) == ["dialC"]
        assert frames and not any("dialT" in f or "therapist" in f for f in frames)
        assert "showing only: client" in await page.inner_text("#scope")

        # The same token asking for the other role is refused outright.
        other = await browser.new_page()
        response = await other.goto(url + "/?role=therapist&token=client-only-token")
        assert response is not None and response.status == 403


async def test_tokens_and_binding(mosquitto: MosquittoProcess, session_code: str) -> None:
    settings = settings_for(mosquitto, session_code, token="full-access-token")
    async with running_viewer(settings) as url, aiohttp.ClientSession() as http:
        async with http.get(url + "/") as response:
            assert response.status == 403
        async with http.get(url + "/?token=wrong-token-xx") as response:
            assert response.status == 403
        async with http.get(url + "/?token=full-access-token") as response:
            assert response.status == 200 and "viewer.js" in await response.text()
        async with http.ws_connect(url + "/ws?token=full-access-token") as ws:
            snapshot = await ws.receive_json(timeout=5)
            assert snapshot["type"] == "snapshot" and snapshot["session"] == session_code
    with pytest.raises(ConfigError, match="--token"):
        await serve(settings_for(mosquitto, session_code, bind="0.0.0.0"))


def test_view_cli_refuses_an_open_bind_without_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["view", "--session", "S1", "--bind", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("microdial view: ") and "--token" in err and err.count("\n") == 1
    assert main(["view", "--session", "S1", "--role-token", "client=short"]) == 2
    assert "8 or more characters" in capsys.readouterr().err
