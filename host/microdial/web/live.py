"""The live view: every rater's trace from MQTT, pushed to browser pages over a WebSocket.

Blinding: each page is sent only what its token opens (microdial.web.base.Access), in the
snapshot it gets on connecting and in every update after it. Colours: each page is sent the
role -> colour table of the roles it shows (role_colours), the figure's assignment.
The whole session starts with the recording's history where it can be read (web.history).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field

from microdial.analysis.colours import colours
from microdial.analysis.session import ordered
from microdial.live_state import LiveState, follow
from microdial.model import Code
from microdial.mqtt.address import BrokerSettings
from microdial.web.base import STATIC, Access, Fanout, Visitor, add_assets, listening, page
from microdial.web.history import History, seed_history

VIEWER_STATIC = STATIC / "viewer"


class ViewSettings(BrokerSettings):
    session: Code | None = Field(None, description="session code to show")
    bind: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8765, ge=0, le=65535, description="TCP port; 0 picks a free one")
    token: str | None = Field(
        None,
        min_length=8,
        description="opens the unblinded view (every role) as ?token=; with tokens, a request without a "
        "valid one gets nothing (required off loopback; generated when only role tokens are given)",
        json_schema_extra={"secret": True},
    )
    role_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="a token that opens a view of one role only (blinded raters, supervisors); repeatable",
        json_schema_extra={"flag": "--role-token", "metavar": "ROLE=TOKEN", "secret": True},
    )
    push_interval: float = Field(
        1 / 60, gt=0, description="seconds between pushes to the page: a display refreshes at 60 Hz"
    )
    history_points: int = Field(
        4000, ge=100, description="points per dial kept for the whole-session view; older ones are thinned"
    )
    window_seconds: float = Field(30.0, gt=0, description="seconds of the live trace's window")
    recordings: Path | None = Field(
        None,
        description="the recorder's folder (its --out, here or shared): the whole-session view starts with "
        "what it holds of the session; without it, with what arrives after the viewer starts",
    )

    def access(self) -> Access:
        return Access.for_roles(self.token, self.role_tokens)


def roles_of(visitor: Visitor) -> list[str] | None:
    """The roles a page is limited to, as it shows them ("showing only: …")."""
    return sorted(visitor.roles) if visitor.roles is not None else None


def role_colours(roles: Iterable[str]) -> dict[str, str]:
    """role -> colour as the session figure assigns them (its raters' order), for the pages."""
    return colours(ordered(sorted(set(roles))))


class Viewer:
    def __init__(self, settings: ViewSettings, access: Access) -> None:
        self.settings = settings
        self.access = access
        self.state = LiveState(settings.session, settings.history_points)
        self.pages = Fanout()
        self.history = History(source="viewer", since=time.time(), note="since the viewer started")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", page(self.access, VIEWER_STATIC / "index.html"))
        app.router.add_get("/ws", self.websocket)
        add_assets(app, VIEWER_STATIC, ("panel.js", "viewer.js", "viewer.css"))
        return app

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        visitor = self.access.visitor(request)
        return await self.pages.accept(request, visitor, lambda: self.snapshot(visitor))

    # -- what pages get ---------------------------------------------------------------
    def snapshot(self, visitor: Visitor) -> dict[str, Any]:
        """Everything so far, for a page that just connected."""
        state = self.state
        shown = [t for t in state.dials.values() if visitor.sees(t.role)]
        return {
            "type": "snapshot",
            "session": self.settings.session,
            "window": self.settings.window_seconds,
            "roles": roles_of(visitor),
            "broker": state.connected,
            "dials": [state.dial_info(t) for t in shown],
            "colours": role_colours(t.role for t in shown),
            "history": {t.dial: {"x": list(t.x), "v": list(t.v)} for t in shown},
            "history_from": self.history.model_dump(),
            "events": [e for e in state.events if visitor.sees(e["role"])],
        }

    def update(
        self,
        visitor: Visitor,
        fresh: dict[str, list[tuple[float, int, float]]],
        events: list[dict[str, Any]],
        with_status: bool,
    ) -> dict[str, Any] | None:
        state = self.state
        samples = {
            dial: {"x": [p[0] for p in points], "v": [p[1] for p in points], "t": points[-1][2]}
            for dial, points in fresh.items()
            if visitor.sees(state.dials[dial].role)
        }
        shown = [e for e in events if visitor.sees(e["role"])]
        if not samples and not shown and not with_status:
            return None
        message: dict[str, Any] = {
            "type": "update",
            "samples": samples,
            "events": shown,
            "broker": state.connected,
        }
        if with_status:
            shown_dials = [t for t in state.dials.values() if visitor.sees(t.role)]
            message["dials"] = [state.dial_info(t) for t in shown_dials]
            message["colours"] = role_colours(t.role for t in shown_dials)
        return message

    async def push_loop(self) -> None:
        """Coalesce: one message per page per push_interval, with every new point."""
        last_status = 0.0
        while True:
            await asyncio.sleep(self.settings.push_interval)
            state = self.state
            fresh = {t.dial: t.pending for t in state.dials.values() if t.pending}
            for trace in state.dials.values():
                trace.pending = []
            events, state.pending_events = state.pending_events, []
            now = time.monotonic()
            with_status = state.status_changed or now - last_status >= 1.0
            if with_status:
                last_status = now
                state.status_changed = False
            await self.pages.send(
                functools.partial(self.update, fresh=fresh, events=events, with_status=with_status)
            )


async def serve(
    settings: ViewSettings,
    *,
    ready: asyncio.Event | None = None,
    bound: asyncio.Future[int] | None = None,
) -> None:
    """Run the viewer until cancelled; `bound` gets the TCP port once listening."""
    access = settings.access()
    address = settings.broker_address()
    viewer = Viewer(settings, access)
    # Before subscribing: live samples then only extend what was recorded.
    viewer.history = await asyncio.to_thread(seed_history, viewer.state, settings.recordings)
    title = f"live view of session {settings.session or '(all)'}"
    async with listening(
        viewer.app(), settings.bind, settings.port, access, title=title, fanouts=[viewer.pages]
    ) as port:
        if bound is not None:
            bound.set_result(port)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(follow(viewer.state, address, name="view", qos=1, ready=ready))
            tasks.create_task(viewer.push_loop())
