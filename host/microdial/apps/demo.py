"""`microdial demo`: two simulated dials (client and therapist) → daemon → MQTT → recorder, live in the terminal.

Everything runs for real: the dials are the firmware itself on pseudo-terminals, the
daemon reads them like USB ports (where there are no ptys, as on Windows, or with --loopback,
the firmware's port is wired to the daemon in-process: device/transports/loopback.py), samples cross a real MQTT broker (the configured
one, else an embedded Mosquitto or amqtt) and the recorder writes the session folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from pydantic import Field
from pydantic_settings import BaseSettings

from dialwire import VALUE_MAX, VALUE_MIN
from microdial.config import Options
from microdial.daemon import mqtt_sinks, publishing, serve
from microdial.device.discovery import TransportFactory
from microdial.device.runner import DialRunner
from microdial.device.transports.loopback import LoopbackPort, LoopbackTransport
from microdial.device.transports.serial import SerialTransport
from microdial.embedded_broker import broker_for
from microdial.model import Code, parse_samples
from microdial.mqtt.address import DEFAULT_URL, BrokerAddress
from microdial.mqtt.client import mqtt_client
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.sink import MqttOptions, MqttSink
from microdial.mqtt.topics import parse_topic, subscription
from microdial.recorder import RecorderSettings, record
from microdial.shutdown import catch_stop_signals
from microdial.shutdown import run as run_on_loop
from microdial.sim.rater import RandomRater
from microdial.sim.runner import SimulatedDial
from microdial.store.format import samples_file

ROLES = ("client", "therapist")


class DemoSettings(BaseSettings):
    duration: float | None = Field(None, gt=0, description="stop after this many seconds; none: at Ctrl-C")
    broker: str = Field(DEFAULT_URL, description="MQTT broker URL; an embedded one starts if none answers")
    out: Path = Field(Path("recordings"), description="folder for recordings")
    session: Code | None = Field(None, description="session code; none: DEMO-<date>-<time>")
    seed: int = Field(1, description="seed of the simulated raters")
    rate_hz: int = Field(50, ge=1, le=1000, description="samples per second of each simulated dial")
    loopback: bool | None = Field(
        None,
        description="run the simulated dials in-process instead of on pseudo-terminals (default: only where there are none, as on Windows)",
    )


OPTIONS = Options(DemoSettings, "demo")


def configure(parser: argparse.ArgumentParser) -> None:
    OPTIONS.add_to(parser)


def run(args: argparse.Namespace) -> int:
    return run_on_loop(demo(OPTIONS.load(args)))


def has_ptys() -> bool:
    return hasattr(os, "openpty")


@contextlib.contextmanager
def simulated_dials(
    seed: int, rate_hz: int, loopback: bool = False
) -> Iterator[list[tuple[SimulatedDial, TransportFactory]]]:
    """The demo's dials, each with how the daemon opens it: its pty, or its in-process loopback port."""
    dials: list[tuple[SimulatedDial, TransportFactory]] = []
    for i, role in enumerate(ROLES):
        rater = RandomRater(role, seed=seed + i)
        if loopback:
            port = LoopbackPort(role)
            dial = SimulatedDial(rater, rate_hz=rate_hz, seed=seed + i, port=port)
            dials.append((dial, functools.partial(LoopbackTransport, port)))
        else:
            dial = SimulatedDial(rater, rate_hz=rate_hz, seed=seed + i)
            dials.append((dial, lambda dial=dial: SerialTransport(dial.path or "")))  # type: ignore[misc]
    try:
        for dial, _ in dials:
            dial.start()
        yield dials
    finally:
        for dial, _ in dials:
            dial.stop()


async def demo(settings: DemoSettings, out: TextIO = sys.stdout) -> int:
    session = settings.session or dt.datetime.now().strftime("DEMO-%Y%m%d-%H%M%S")
    stop = asyncio.Event()
    catch_stop_signals(stop.set)
    if settings.duration is not None:
        asyncio.get_running_loop().call_later(settings.duration, stop.set)

    async with broker_for(settings.broker) as address:
        print(f"microdial demo: session {session}, broker {address.url}", file=out)
        recorder_ready = asyncio.Event()
        recorder = asyncio.create_task(
            record(
                RecorderSettings(broker=address.url, out=settings.out, session=session), ready=recorder_ready
            )
        )
        await recorder_ready.wait()
        sinks: dict[str, MqttSink] = {}
        async with publishing(MqttPublisher(address, session, options=MqttOptions())) as publisher:
            make_mqtt = mqtt_sinks(publisher)

            def make_sink(key):  # type: ignore[no-untyped-def]
                sink = make_mqtt(key)
                assert isinstance(sink, MqttSink)
                sinks[key.dial] = sink
                return sink

            loopback = settings.loopback if settings.loopback is not None else not has_ptys()
            with simulated_dials(settings.seed, settings.rate_hz, loopback) as dials:
                runners = [
                    DialRunner(open_transport, session, role, make_sink)
                    for (_, open_transport), role in zip(dials, ROLES, strict=True)
                ]
                for (dial, _), role in zip(dials, ROLES, strict=True):
                    print(f"  {role:<10} dial {dial.device_id} on {dial.path}", file=out)
                view = asyncio.create_task(live_view(address, session, stop, out))
                await serve(runners, stop)
                view.cancel()
                await asyncio.gather(view, return_exceptions=True)
        folder = settings.out / session
        await wait_recorded(folder, {dial: sink.published for dial, sink in sinks.items()})
        recorder.cancel()
        await asyncio.gather(recorder, return_exceptions=True)

    print(f"\nRecording: {folder.resolve()}", file=out)
    for runner in runners:
        if runner.key is not None:
            rows = count_rows(folder / samples_file(runner.key.dial))
            print(f"  {runner.role:<10} {rows} samples in {samples_file(runner.key.dial)}", file=out)
    return 0


def count_rows(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


async def wait_recorded(folder: Path, published: dict[str, int], timeout: float = 10.0) -> bool:
    """The recorder is another subscriber: give it until every published sample is on disk."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(count_rows(folder / samples_file(dial)) >= count for dial, count in published.items()):
            return True
        await asyncio.sleep(0.1)
    return False


def bar(value: int, width: int = 21) -> str:
    """A centred bar: the left half fills for negative values, the right half for positive ones."""
    half = width // 2
    cells = round(abs(value) / VALUE_MAX * half)
    left = " " * (half - cells) + "█" * cells if value < 0 else " " * half
    right = "█" * cells + " " * (half - cells) if value > 0 else " " * half
    return f"{VALUE_MIN:+d} {left}|{right} {VALUE_MAX:+d}"


async def live_view(address: BrokerAddress, session: str, stop: asyncio.Event, out: TextIO) -> None:
    """What came through the broker, per role, redrawn a few times a second."""
    latest: dict[str, int] = {}
    counts: dict[str, int] = {}
    started = time.monotonic()
    interactive = out.isatty()
    async with mqtt_client(address) as client:
        await client.subscribe(subscription(session, "samples"), qos=0)
        next_draw = time.monotonic()
        async for message in client.messages:
            if parse_topic(str(message.topic)) is None or not isinstance(message.payload, bytes):
                continue
            for sample in parse_samples(message.payload):
                latest[sample.role] = sample.value
                counts[sample.role] = counts.get(sample.role, 0) + 1
            now = time.monotonic()
            if now < next_draw or stop.is_set():
                continue
            next_draw = now + (0.2 if interactive else 1.0)
            parts = [f"{role:<9} {latest[role]:+3d} {bar(latest[role])}" for role in ROLES if role in latest]
            line = f"{now - started:6.1f}s  " + "   ".join(parts)
            print(f"\r{line}" if interactive else line, end="" if interactive else "\n", file=out, flush=True)
