"""The study's web side: the researcher's console, one page per rater, their video and sockets.

Tokens always, even on loopback: the console has its own; each rater's token opens that rater's
page, state, answers and clock socket and nothing of another rater's (HTTP and WebSocket alike).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from microdial.analysis.report import FIGURE_PNG, JSON_FILE
from microdial.errors import MicrodialError
from microdial.mqtt.control import Controller
from microdial.study.conduct import Study, StudyError
from microdial.study.state import Sequence
from microdial.web.base import STATIC, Access, Visitor, add_assets, data_file, page
from microdial.web.player import HEARTBEAT, page_reports

STUDY_STATIC = STATIC / "study"
ASSETS = ("study.css", "rater.js", "console.js")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


BodyT = TypeVar("BodyT", bound=_Body)


class StepDone(_Body):
    step: str
    position: float | None = None


class Position(_Body):
    step: str
    position: float


class Typed(_Body):
    key: str
    text: str
    edited: float | None = None


class Resumed(_Body):
    step: str
    position: float
    reason: str


class Identify(_Body):
    dial: str


class Assign(_Body):
    dial: str
    rater: str


class Adjust(_Body):
    rater: str
    sequences: list[Sequence]


class Confirm(_Body):
    rater: str


def study_access(raters: list[str], tokens: dict[str, str] | None = None) -> tuple[Access, Access]:
    """(console scope, raters' scope), each token made up here unless given."""
    tokens = dict(tokens or {})
    for name in ["console", *raters]:
        tokens.setdefault(name, secrets.token_urlsafe(16))
    console = Access({tokens["console"]: Visitor("console")}, frozenset({tokens["console"]}), "/")
    rater_grants = {tokens[r]: Visitor(f"rater {r}", frozenset({r})) for r in raters}
    return console, Access(rater_grants, frozenset(rater_grants), "/rater")


class StudyServer:
    def __init__(self, study: Study, controller: Controller, console: Access, raters: Access) -> None:
        self.study = study
        self.controller = controller
        self.console = console
        self.raters = raters
        # The video is seen by the console and by every rater.
        self.anyone = Access({**console.grants, **raters.grants})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", page(self.console, STUDY_STATIC / "console.html"))
        app.router.add_get("/rater", page(self.raters, STUDY_STATIC / "rater.html"))
        app.router.add_get("/video", data_file(self.anyone, self.study.video))
        add_assets(app, STUDY_STATIC, ASSETS)
        app.router.add_get("/api/rater", self._rater(self._view))
        app.router.add_post("/api/rater/step", self._rater(self._step))
        app.router.add_post("/api/rater/position", self._rater(self._position))
        app.router.add_post("/api/rater/answer", self._rater(self._answer))
        app.router.add_post("/api/rater/resumed", self._rater(self._resumed))
        app.router.add_get("/ws/page", self._clock_socket)
        app.router.add_get("/api/console", self._console(self._console_view))
        app.router.add_post("/api/console/identify", self._console(self._identify))
        app.router.add_post("/api/console/analyse", self._console(self._analyse))
        app.router.add_get("/report", self._report)
        for name in (JSON_FILE, FIGURE_PNG):
            app.router.add_get(f"/report/{name}", data_file(self.console, self.study.session_dir / name))
        app.router.add_post("/api/console/assign", self._console(self._assign))
        app.router.add_post("/api/console/adjust", self._console(self._adjust))
        app.router.add_post("/api/console/confirm", self._console(self._confirm))
        return app

    # -- access ------------------------------------------------------------------------------------
    def rater_of(self, request: web.Request) -> str:
        visitor = self.raters.visitor(request)
        assert visitor.roles is not None  # every rater grant names its one rater
        (rater,) = visitor.roles
        return rater

    def _rater(
        self, handler: Callable[[str, web.Request], Awaitable[object]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            return await _answered(handler(self.rater_of(request), request))

        return guarded

    def _console(
        self, handler: Callable[[web.Request], Awaitable[object]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            self.console.visitor(request)
            return await _answered(handler(request))

        return guarded

    # -- the rater's page --------------------------------------------------------------------------
    async def _view(self, rater: str, _: web.Request) -> object:
        return self.study.page_view(rater)

    async def _step(self, rater: str, request: web.Request) -> object:
        body = await _body(request, StepDone)
        await self.study.advance(rater, body.step, body.position)
        return self.study.page_view(rater)

    async def _position(self, rater: str, request: web.Request) -> object:
        body = await _body(request, Position)
        await self.study.position(rater, body.step, body.position)
        return {"ok": True}

    async def _answer(self, rater: str, request: web.Request) -> object:
        body = await _body(request, Typed)
        await self.study.answer(rater, body.key, body.text, body.edited)
        return {"ok": True, "saved": time.time()}

    async def _resumed(self, rater: str, request: web.Request) -> object:
        body = await _body(request, Resumed)
        await self.study.resumed(rater, body.step, body.position, body.reason)
        return {"ok": True}

    async def _clock_socket(self, request: web.Request) -> web.StreamResponse:
        """The rater's page while it plays the whole video: it is that rater's player clock."""
        clock = self.study.clocks[self.rater_of(request)]
        socket = web.WebSocketResponse(heartbeat=HEARTBEAT)
        await socket.prepare(request)
        clock.page_opened()
        try:
            await page_reports(socket, clock, clock.now)
        finally:
            clock.page_closed()
        return socket

    # -- the console -------------------------------------------------------------------------------
    async def _console_view(self, _: web.Request) -> object:
        return self.study.console_view()

    async def _identify(self, request: web.Request) -> object:
        body = await _body(request, Identify)
        command = {"id": secrets.token_hex(4), "command": "identify", "dial": body.dial}
        reply = await self.controller.handle(json.dumps(command).encode())
        if reply is None:
            raise StudyError(f"no dial {body.dial} here")
        return reply.model_dump()

    async def _analyse(self, _: web.Request) -> object:
        self.study.results.start()
        return self.study.results.view()

    async def _report(self, request: web.Request) -> web.StreamResponse:
        """The report as HTML for the console, its figure fetched with the console's own token."""
        self.console.visitor(request)
        if self.study.results.state != "ready":
            raise web.HTTPNotFound(text="no analysis yet: it is made once every rater is done")
        figure = f"report/{FIGURE_PNG}?{urlencode({'token': request.query.get('token', '')})}"
        try:
            text = self.study.results.report_page(figure)
        except MicrodialError as err:
            raise web.HTTPNotFound(text=str(err)) from None
        return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _assign(self, request: web.Request) -> object:
        body = await _body(request, Assign)
        return {"assignments": await self.study.assign(body.dial, self._known(body.rater))}

    async def _adjust(self, request: web.Request) -> object:
        body = await _body(request, Adjust)
        await self.study.adjust(self._known(body.rater), body.sequences)
        return {"ok": True}

    async def _confirm(self, request: web.Request) -> object:
        body = await _body(request, Confirm)
        await self.study.confirm(self._known(body.rater))
        return {"ok": True}

    def _known(self, rater: str) -> str:
        if rater not in self.study.raters:
            raise web.HTTPNotFound(text=f"no rater {rater}")
        return rater


async def _body(request: web.Request, model: type[BodyT]) -> BodyT:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as err:
        raise web.HTTPBadRequest(text=str(err.errors()[0]["msg"])) from None


async def _answered(result: Awaitable[object]) -> web.StreamResponse:
    try:
        data: Any = await result
    except StudyError as err:
        raise web.HTTPConflict(text=str(err)) from None
    return web.json_response(data, headers={"Cache-Control": "no-store"})
