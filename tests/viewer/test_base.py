"""The web base on its own: a server with two token scopes, as the study pages will have (a
console and one page per rater), served by a real aiohttp server and asked by a real client."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from microdial.errors import ConfigError
from microdial.web.base import Access, Visitor, listening, page


def study_app(console: Access, raters: Access, html: Path) -> web.Application:
    async def rate(request: web.Request) -> web.StreamResponse:
        visitor = raters.visitor(request)
        return web.json_response({"roles": sorted(visitor.roles or ())})

    app = web.Application()
    app.router.add_get("/console", page(console, html))
    app.router.add_get("/rate", rate)
    return app


async def test_each_scope_opens_its_own_pages_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="microdial.web")
    html = tmp_path / "console.html"
    html.write_text("<!doctype html><title>console</title>")
    console = Access({"console-token-1": Visitor("console")}, path="/console")
    raters = Access({"rater-token-1": Visitor("rater 1", frozenset({"client"}))}, path="/rate")
    app = study_app(console, raters, html)
    async with (
        listening(app, "127.0.0.1", 0, console, raters, title="study") as port,
        aiohttp.ClientSession() as http,
    ):
        base = f"http://127.0.0.1:{port}"
        assert f"{base}/console?token=console-token-1" in caplog.text
        assert f"{base}/rate?token=rater-token-1" in caplog.text
        async with http.get(f"{base}/console?token=console-token-1") as response:
            assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
        async with http.get(f"{base}/rate?token=rater-token-1") as response:
            assert await response.json() == {"roles": ["client"]}
        for url in (f"{base}/console?token=rater-token-1", f"{base}/rate?token=console-token-1"):
            async with http.get(url) as response:
                assert response.status == 403


async def test_an_exposed_bind_needs_tokens_in_every_scope(tmp_path: Path) -> None:
    console = Access({"console-token-1": Visitor("console")})
    with pytest.raises(ConfigError, match="--token"):
        async with listening(web.Application(), "0.0.0.0", 0, console, Access(), title="study"):
            pass
