"""What the live pages know of a session's dials, from its MQTT messages: used by `view` (through
microdial.web.live) and the terminal `watch`, so it depends on neither aiohttp nor a terminal.

`follow` is the one place either of them talks to the broker.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from microdial.backoff import Backoff
from microdial.model import DaemonStatus, DialEvent, DialStatus, Sample, parse_samples
from microdial.mqtt.address import BrokerAddress, ConnectionReport
from microdial.mqtt.client import ClientOptions, MqttError, mqtt_client
from microdial.mqtt.presence import Presence
from microdial.mqtt.topics import DaemonTopic, parse_daemon_topic, parse_topic, subscription

log = logging.getLogger(__name__)


@dataclass
class DialTrace:
    """One dial as the viewer knows it."""

    dial: str
    role: str
    status: DialStatus | None = None
    value: int | None = None
    uncertainty: float | None = None
    last_host_time: float | None = None
    # Where the rater's player is: its state and media time, from the latest sample.
    playback: str | None = None
    position: float | None = None
    # The host time up to which the trace came from the recording (LiveState.seed): live samples
    # up to it are already in the history.
    history_until: float | None = None
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
        # Whether the broker is reachable now (pages show it).
        self.connected = False

    def link(self, connected: bool) -> None:
        self.connected = connected
        self.status_changed = True

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
            if trace.history_until is not None and sample.host_time <= trace.history_until:
                continue
            x = self.x_of(sample.media_time, sample.host_time)
            trace.value = sample.value
            trace.playback = sample.playback
            trace.position = sample.media_time
            trace.uncertainty = sample.sync_uncertainty
            trace.last_host_time = sample.host_time
            trace.pending.append((x, sample.value, sample.host_time))
            trace.arrivals.append(now)
            if now - trace.arrivals[0] > 2.0:
                self.rate(trace)
            self._keep(trace, x, sample.value)

    def _keep(self, trace: DialTrace, x: float, value: int) -> None:
        if trace.seen % trace.stride == 0:
            trace.x.append(x)
            trace.v.append(value)
            if len(trace.x) > self.history_points:
                # Keep every other point and halve the rate from now on.
                trace.x = trace.x[::2]
                trace.v = trace.v[::2]
                trace.stride *= 2
        trace.seen += 1

    def seed(self, dial: str, role: str, xs: list[float], values: list[int], until: float) -> None:
        """A dial's samples so far (from the recording), thinned as if they had arrived live;
        live samples up to host time `until` are then skipped as already there."""
        trace = self._trace(dial, role)
        stride = 1
        while -(-len(xs) // stride) > self.history_points:
            stride *= 2
        trace.x, trace.v = array("d", xs[::stride]), array("b", values[::stride])
        trace.stride, trace.seen, trace.history_until = stride, len(xs), until

    def seed_event(self, dial: str | None, role: str | None, kind: str, detail: str, x: float) -> None:
        self.events.append({"dial": dial, "role": role, "kind": kind, "detail": detail, "x": x})

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
            "playback": trace.playback,
            "position": trace.position,
            "drops": drops(status),
            "gaps": counters.gaps if counters is not None else 0,
        }


def drops(status: DialStatus | None) -> int:
    if status is None:
        return 0
    c = status.counters
    return c.lost_samples + c.queue_dropped + c.device_dropped_records


async def follow(
    state: LiveState, address: BrokerAddress, *, name: str, qos: int, ready: asyncio.Event | None = None
) -> None:
    """Feed state from the broker until cancelled, reconnecting with the shared backoff; `ready`
    is set once subscribed. state.connected says whether the broker is reachable now."""
    backoff = Backoff()
    report = ConnectionReport(name, address)
    while True:
        connected = False
        try:
            async with mqtt_client(
                address, ClientOptions(identifier=f"microdial-{name}-{secrets.token_hex(4)}")
            ) as client:
                connected = True
                report.connected()
                await client.subscribe(subscription(state.session), qos=qos)
                state.link(True)
                backoff.reset()
                if ready is not None:
                    ready.set()
                async for message in client.messages:
                    if isinstance(message.payload, bytes):
                        state.handle(str(message.topic), message.payload)
        except MqttError as err:
            if connected:
                log.warning("broker %s: %s; reconnecting in %.1f s", address.url, err, backoff.delay)
            else:
                report.failed(err)
        finally:
            state.link(False)
        await backoff.wait()
