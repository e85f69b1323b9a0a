"""The built-in browser player's web side: its page, its video and its two WebSockets.

One server serves the page (static/player/), the video (with HTTP ranges, so the page can seek)
and two WebSockets:

* /ws/page: the page sends each presented frame's mediaTime (requestVideoFrameCallback) with the
  page's performance.now() of its expected display, plus play/pause/seek/ratechange; the server
  pings it so that the clock (microdial.players.browser) can map performance.now() onto host
  monotonic time. The newest page is the one the rater is looking at: it replaces an older one.
* /ws/clock: the clock's state, for a BrowserClock in another process (`clock_states`).
  CLOCK_MONOTONIC is shared by all processes of one machine, so anchors cross over unchanged.
  It carries playback state only, no ratings, so it needs no token: a daemon's
  `--player browser:PORT` follows a player started with --token.

With --token, the page, the video and /ws/page need it (a page that reports frames steers every
stamp); off loopback the token is required.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from microdial.errors import ConfigError
from microdial.players.base import PlayerGone
from microdial.web.base import (
    STATIC,
    Access,
    Fanout,
    Visitor,
    add_assets,
    data_file,
    listening,
    page,
    url_host,
)

PLAYER_STATIC = STATIC / "player"
# A closed page or follower is noticed within seconds.
HEARTBEAT = 5.0
# Ping probes: a burst first so frames are placed well from the start, then one a second for drift.
FAST_PROBES = 20
FAST_PROBE_INTERVAL = 0.05
PROBE_INTERVAL = 1.0
# Probes remembered, here (unanswered) and by the clock (answered).
PROBES_KEPT = 32


class PageListener(Protocol):
    """What the clock hears from the page; `queries` counts the probes sent."""

    queries: int

    def page_opened(self) -> None: ...

    def page_probe(self, sent: float, page_ms: float, received: float) -> None: ...

    def page_report(self, message: dict[str, Any], arrived: float) -> None: ...

    def page_closed(self) -> None: ...

    def clock_state(self) -> dict[str, Any]: ...


def player_access(token: str | None) -> Access:
    return Access({token: Visitor("page")} if token is not None else {})


def page_url(bind: str, port: int, token: str | None) -> str:
    """The page's address, as `microdial player` prints it."""
    ((_, url),) = player_access(token).urls(f"http://{url_host(bind)}:{port}")
    return url


class PlayerServer:
    def __init__(
        self, listener: PageListener, video: Path, now: Callable[[], float], token: str | None = None
    ) -> None:
        self.listener = listener
        self.video = video
        self.now = now
        self.access = player_access(token)
        self.clocks = Fanout(heartbeat=HEARTBEAT)
        self._page: web.WebSocketResponse | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", page(self.access, PLAYER_STATIC / "index.html"))
        app.router.add_get("/video", data_file(self.access, self.video))
        add_assets(app, PLAYER_STATIC, ("player.js",))
        app.router.add_get("/ws/page", self._page_socket)
        app.router.add_get("/ws/clock", self._clock_socket)
        return app

    async def serve(self, bind: str, port: int, serving: asyncio.Event) -> None:
        """Until cancelled; `serving` is set while listening. A port that cannot be had is
        PlayerGone, so the clock retries it as it retries any player that went away."""
        try:
            async with listening(
                self.app(), bind, port, self.access, title="browser player", fanouts=[self.clocks]
            ):
                serving.set()
                try:
                    await asyncio.Event().wait()
                finally:
                    serving.clear()
        except ConfigError as err:
            raise PlayerGone(str(err)) from None

    def publish(self) -> None:
        """The clock changed: its state to every follower (without waiting for slow ones)."""
        if self.clocks.sockets:
            self.clocks.broadcast(self.listener.clock_state())

    async def _clock_socket(self, request: web.Request) -> web.StreamResponse:
        return await self.clocks.accept(request, Visitor("follower"), self.listener.clock_state)

    async def _page_socket(self, request: web.Request) -> web.StreamResponse:
        self.access.visitor(request)
        socket = web.WebSocketResponse(heartbeat=HEARTBEAT)
        await socket.prepare(request)
        if self._page is not None:
            await self._page.close()
        self._page = socket
        self.listener.page_opened()
        try:
            await page_reports(socket, self.listener, self.now)
        finally:
            if self._page is socket:
                self._page = None
                self.listener.page_closed()
        return socket


async def page_reports(
    socket: web.WebSocketResponse, listener: PageListener, now: Callable[[], float]
) -> None:
    """Probe one page's clock and hand its reports to listener until the socket closes; also
    what a study's rater page speaks, each rater's page feeding that rater's clock."""
    sent: dict[int, float] = {}
    pings = asyncio.create_task(_ping(socket, sent, listener, now))
    try:
        async for message in socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            with contextlib.suppress(ValueError, KeyError, TypeError):
                _page_message(finite_json(message.data), sent, listener, now())
    finally:
        pings.cancel()


def _not_finite(text: str) -> float:
    raise ValueError(f"{text} is no time")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is no time")
    return value


def finite_json(text: str | bytes) -> Any:
    """A page's JSON without NaN or infinities, which json.loads takes: every sample stamped from
    such a report would carry a time no payload may (model.Time)."""
    return json.loads(text, parse_constant=_not_finite, parse_float=_finite)


def _page_message(
    message: dict[str, Any], sent: dict[int, float], listener: PageListener, arrived: float
) -> None:
    if message["type"] == "pong":
        left = sent.pop(int(message["id"]), None)
        if left is not None:
            listener.page_probe(left, float(message["now"]), arrived)
    else:
        listener.page_report(message, arrived)


async def _ping(
    socket: web.WebSocketResponse, sent: dict[int, float], listener: PageListener, now: Callable[[], float]
) -> None:
    for number in itertools.count():
        sent[number] = now()
        listener.queries += 1
        await socket.send_str(json.dumps({"type": "ping", "id": number}))
        await asyncio.sleep(FAST_PROBE_INTERVAL if number < FAST_PROBES else PROBE_INTERVAL)
        sent.pop(number - PROBES_KEPT, None)


async def clock_states(port: int) -> AsyncIterator[dict[str, Any]]:
    """The states a `microdial player` on this machine publishes on /ws/clock, as they come."""
    url = f"ws://127.0.0.1:{port}/ws/clock"
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(url, heartbeat=HEARTBEAT) as socket:
            async for message in socket:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                state = json.loads(message.data)
                if not isinstance(state, dict):
                    raise PlayerGone(f"port {port} is not a microdial browser player: {message.data[:40]!r}")
                yield state
    except aiohttp.ClientError as err:
        raise PlayerGone(f"no browser player on port {port}: {err}") from None
