"""The live view: every rater's trace from MQTT, pushed to browser pages over a WebSocket."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings

from microdial.errors import ConfigError
from microdial.model import Code, DaemonStatus, DialEvent, DialStatus, Sample, parse_samples
from microdial.mqtt.address import DEFAULT_URL, BrokerAddress
from microdial.mqtt.client import MqttError, mqtt_client
from microdial.mqtt.presence import Presence
from microdial.mqtt.topics import DaemonTopic, parse_daemon_topic, parse_topic, subscription

log = logging.getLogger(__name__)


STATIC = Path(__file__).resolve().parent.parent / "static" / "viewer"


class ViewSettings(BaseSettings):
    broker: str = DEFAULT_URL
    session: Code | None = None
    bind: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    token: str | None = Field(None, min_length=8)
    # role -> token that opens a view of that role only (blinded raters, supervisors).
    role_tokens: dict[str, str] = Field(default_factory=dict)
    # A display refreshes at 60 Hz; a push every 1/60 s keeps the trace moving as smoothly.
    push_interval: float = Field(1 / 60, gt=0)
    # Points per dial kept for the whole-session view; older ones are thinned to fit.
    history_points: int = Field(4000, ge=100)
    window_seconds: float = Field(30.0, gt=0)


@dataclass
class DialTrace:
    """One dial as the viewer knows it."""

    dial: str
    role: str
    status: DialStatus | None = None
    value: int | None = None
    uncertainty: float | None = None
    last_host_time: float | None = None
    # Whole-session trace, thinned by `stride` so it stays under the history limit.
    x: array[float] = field(default_factory=lambda: array("d"))
    v: array[int] = field(default_factory=lambda: array("b"))
    stride: int = 1
    seen: int = 0
    # Not yet pushed: x, value, host_time.
    pending: list[tuple[float, int, float]] = field(default_factory=list)
    arrivals: deque[float] = field(default_factory=deque)


class LiveState:
    """Per-dial state from the MQTT messages of one session (or all), shared by view and watch."""

    def __init__(self, session: str | None, history_points: int = 4000) -> None:
        self.session = session
        self.history_points = history_points
        self.dials: dict[str, DialTrace] = {}
        self.events: list[dict[str, Any]] = []
        self.pending_events: list[dict[str, Any]] = []
        self.status_changed = False
        self.t0: float | None = None
        self.bad_payloads = 0
        self._presence = Presence()

    def handle(self, topic: str, payload: bytes) -> None:
        parts = parse_topic(topic) or parse_daemon_topic(topic)
        if parts is None or self.session not in (None, parts.session):
            return
        try:
            if isinstance(parts, DaemonTopic):
                self._daemon(DaemonStatus.model_validate_json(payload))
            elif parts.channel == "samples":
                self._samples(parse_samples(payload))
            elif parts.channel == "status":
                status = self._presence.status(DialStatus.model_validate_json(payload))
                self._trace(status.dial, status.role).status = status
                self.status_changed = True
            else:
                self._event(DialEvent.model_validate_json(payload))
        except ValidationError as err:
            self.bad_payloads += 1
            log.warning("ignored a bad payload on %s: %s", topic, err.errors()[0]["msg"])

    def _daemon(self, daemon: DaemonStatus) -> None:
        """A daemon's will: its dials read offline until it publishes their statuses again."""
        for status in self._presence.daemon(daemon):
            self._trace(status.dial, status.role).status = status
            self.status_changed = True

    def _trace(self, dial: str, role: str) -> DialTrace:
        trace = self.dials.get(dial)
        if trace is None:
            trace = self.dials[dial] = DialTrace(dial=dial, role=role)
            self.status_changed = True
        trace.role = role
        return trace

    def x_of(self, media_time: float | None, host_time: float) -> float:
        """Media time when a player clock is used, else seconds since the first sample seen."""
        if self.t0 is None:
            self.t0 = host_time
        return media_time if media_time is not None else host_time - self.t0

    def _samples(self, samples: list[Sample]) -> None:
        now = time.monotonic()
        for sample in samples:
            trace = self._trace(sample.dial, sample.role)
            x = self.x_of(sample.media_time, sample.host_time)
            trace.value = sample.value
            trace.uncertainty = sample.sync_uncertainty
            trace.last_host_time = sample.host_time
            trace.pending.append((x, sample.value, sample.host_time))
            trace.arrivals.append(now)
            if now - trace.arrivals[0] > 2.0:
                self.rate(trace)
            if trace.seen % trace.stride == 0:
                trace.x.append(x)
                trace.v.append(sample.value)
                if len(trace.x) > self.history_points:
                    # Keep every other point and halve the rate from now on.
                    trace.x = trace.x[::2]
                    trace.v = trace.v[::2]
                    trace.stride *= 2
            trace.seen += 1

    def _event(self, event: DialEvent) -> None:
        self._trace(event.dial, event.role)
        entry = {
            "dial": event.dial,
            "role": event.role,
            "kind": event.kind,
            "detail": event.detail,
            "x": self.x_of(event.media_time, event.host_time),
        }
        self.events.append(entry)
        self.pending_events.append(entry)

    def rate(self, trace: DialTrace) -> float:
        """Samples per second received over the last two seconds."""
        now = time.monotonic()
        while trace.arrivals and now - trace.arrivals[0] > 2.0:
            trace.arrivals.popleft()
        return len(trace.arrivals) / 2.0

    def dial_info(self, trace: DialTrace) -> dict[str, Any]:
        status = trace.status
        counters = status.counters if status is not None else None
        return {
            "dial": trace.dial,
            "role": trace.role,
            "state": status.state if status is not None else "unknown",
            "rate_hz": status.rate_hz if status is not None else None,
            "received_hz": self.rate(trace),
            "value": trace.value,
            "uncertainty": trace.uncertainty
            if trace.uncertainty is not None
            else (status.sync.uncertainty if status is not None and status.sync is not None else None),
            "drops": drops(status),
            "gaps": counters.gaps if counters is not None else 0,
        }


def drops(status: DialStatus | None) -> int:
    if status is None:
        return 0
    c = status.counters
    return c.lost_samples + c.queue_dropped + c.device_dropped_records


def request_roles(
    request: web.Request, full_token: str | None, role_tokens: dict[str, str]
) -> frozenset[str] | None:
    """The roles this request may see (None: all); raises 403 when it may see nothing."""
    given = request.query.get("token", "")
    asked = request.query.get("role")
    for role, token in role_tokens.items():
        if given and hmac.compare_digest(given, token):
            if asked not in (None, role):
                raise web.HTTPForbidden(text="this token opens one role only")
            return frozenset({role})
    if full_token is not None and not hmac.compare_digest(given, full_token):
        raise web.HTTPForbidden(text="a valid ?token= is required")
    return frozenset({asked}) if asked else None


@dataclass(eq=False)
class Page:
    ws: web.WebSocketResponse
    roles: frozenset[str] | None  # None: every role


class Viewer:
    def __init__(self, settings: ViewSettings) -> None:
        self.settings = settings
        self.state = LiveState(settings.session, settings.history_points)
        self.pages: set[Page] = set()
        self.connected = False

    # -- access -----------------------------------------------------------------------
    def roles_for(self, request: web.Request) -> frozenset[str] | None:
        return request_roles(request, self.settings.token, self.settings.role_tokens)

    # -- HTTP -------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/panel.js", self.asset)
        app.router.add_get("/viewer.js", self.asset)
        app.router.add_get("/viewer.css", self.asset)
        return app

    async def index(self, request: web.Request) -> web.StreamResponse:
        self.roles_for(request)
        return web.FileResponse(STATIC / "index.html", headers=_NO_STORE)

    async def asset(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / request.path.lstrip("/"), headers=_NO_STORE)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        roles = self.roles_for(request)
        ws = web.WebSocketResponse(heartbeat=10)
        await ws.prepare(request)
        page = Page(ws, roles)
        await ws.send_str(json.dumps(self.snapshot(page)))
        self.pages.add(page)
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self.pages.discard(page)
        return ws

    # -- what pages get ---------------------------------------------------------------
    def visible(self, page: Page, role: str) -> bool:
        return page.roles is None or role in page.roles

    def snapshot(self, page: Page) -> dict[str, Any]:
        """Everything so far, for a page that just connected."""
        state = self.state
        return {
            "type": "snapshot",
            "session": self.settings.session,
            "window": self.settings.window_seconds,
            "roles": sorted(page.roles) if page.roles is not None else None,
            "broker": self.connected,
            "dials": [state.dial_info(t) for t in state.dials.values() if self.visible(page, t.role)],
            "history": {
                t.dial: {"x": list(t.x), "v": list(t.v)}
                for t in state.dials.values()
                if self.visible(page, t.role)
            },
            "events": [e for e in state.events if self.visible(page, e["role"])],
        }

    def update(
        self,
        page: Page,
        fresh: dict[str, list[tuple[float, int, float]]],
        events: list[dict[str, Any]],
        with_status: bool,
    ) -> dict[str, Any] | None:
        state = self.state
        samples = {
            dial: {"x": [p[0] for p in points], "v": [p[1] for p in points], "t": points[-1][2]}
            for dial, points in fresh.items()
            if self.visible(page, state.dials[dial].role)
        }
        shown = [e for e in events if self.visible(page, e["role"])]
        if not samples and not shown and not with_status:
            return None
        message: dict[str, Any] = {
            "type": "update",
            "samples": samples,
            "events": shown,
            "broker": self.connected,
        }
        if with_status:
            message["dials"] = [
                state.dial_info(t) for t in state.dials.values() if self.visible(page, t.role)
            ]
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
            for page in list(self.pages):
                message = self.update(page, fresh, events, with_status)
                if message is None or page.ws.closed:
                    continue
                try:
                    await page.ws.send_str(json.dumps(message))
                except ConnectionError:
                    self.pages.discard(page)

    async def mqtt_loop(self, ready: asyncio.Event | None) -> None:
        address = BrokerAddress.parse(self.settings.broker)
        delay = 0.2
        while True:
            try:
                async with mqtt_client(address) as client:
                    await client.subscribe(subscription(self.settings.session), qos=1)
                    self.connected = True
                    self.state.status_changed = True
                    delay = 0.2
                    if ready is not None:
                        ready.set()
                    async for message in client.messages:
                        if isinstance(message.payload, bytes):
                            self.state.handle(str(message.topic), message.payload)
            except MqttError as err:
                log.warning("broker %s: %s; reconnecting in %.1f s", address.url, err, delay)
            finally:
                self.connected = False
                self.state.status_changed = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


_NO_STORE = {"Cache-Control": "no-store"}


def check_exposure(settings: ViewSettings) -> None:
    try:
        loopback = ipaddress.ip_address(settings.bind).is_loopback
    except ValueError:
        loopback = settings.bind == "localhost"
    if not loopback and settings.token is None and not settings.role_tokens:
        raise ConfigError(
            f"--bind {settings.bind} makes the viewer reachable from other machines: give --token T"
        )


async def serve(
    settings: ViewSettings,
    *,
    ready: asyncio.Event | None = None,
    bound: asyncio.Future[int] | None = None,
) -> None:
    """Run the viewer until cancelled; `bound` gets the TCP port once listening."""
    check_exposure(settings)
    viewer = Viewer(settings)
    runner = web.AppRunner(viewer.app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.bind, settings.port)
        try:
            await site.start()
        except OSError as err:
            raise ConfigError(f"cannot listen on {settings.bind}:{settings.port}: {err.strerror}") from None
        port = runner.addresses[0][1]
        log.info("viewer on http://%s:%d/ for session %s", settings.bind, port, settings.session or "(all)")
        if bound is not None:
            bound.set_result(port)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(viewer.mqtt_loop(ready))
            tasks.create_task(viewer.push_loop())
    finally:
        # Open pages would otherwise hold the shutdown for aiohttp's whole grace period.
        for page in list(viewer.pages):
            await page.ws.close(code=WSCloseCode.GOING_AWAY, message=b"viewer stopping")
        await runner.cleanup()
