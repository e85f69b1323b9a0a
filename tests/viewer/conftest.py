"""A running viewer server on a free port, fed by the real broker, and headless chromium."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from microdial.web.live import ViewSettings, serve
from tests.players.support import CHROMIUM_ARGS


@contextlib.asynccontextmanager
async def running_viewer(settings: ViewSettings) -> AsyncIterator[str]:
    """The viewer serving settings; yields its base URL once it listens and has subscribed."""
    ready = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, ready=ready, bound=bound))
    try:
        port = await asyncio.wait_for(asyncio.shield(bound), 10)
        await asyncio.wait_for(ready.wait(), 10)
        yield f"http://127.0.0.1:{port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
