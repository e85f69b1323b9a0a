"""Diagnostics that tell the truth: watch and view say when the broker is unreachable; a broker
stop is one line in our words; log lines name dials by id."""

from __future__ import annotations

import asyncio
import io
import logging

import aiohttp
import pytest

from microdial.apps.watch import WatchSettings, watch
from microdial.daemon import serve
from microdial.device.runner import DialRunner
from microdial.device.transports.serial import SerialTransport
from microdial.embedded_broker import MosquittoProcess, free_port
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.sink import MqttOptions
from microdial.web.live import ViewSettings
from microdial.web.live import serve as serve_view
from tests.access.support import loud, running
from tests.host.support import make_dial, wait_for
from tests.host.test_daemon import FAST, FailsOnce


async def test_watch_says_when_the_broker_is_unreachable() -> None:
    out = io.StringIO()
    settings = WatchSettings(broker=f"mqtt://127.0.0.1:{free_port()}", interval=0.05)
    async with running(watch(settings, out)):
        await wait_for(lambda: "\n" in out.getvalue().strip(), what="a table")
    assert "broker unreachable" in out.getvalue()


async def test_watch_shows_no_warning_while_connected(mosquitto: MosquittoProcess) -> None:
    out = io.StringIO()
    ready = asyncio.Event()
    async with running(watch(WatchSettings(broker=mosquitto.url, interval=0.05), out, ready=ready)):
        await asyncio.wait_for(ready.wait(), 10)
        start = len(out.getvalue())
        await wait_for(lambda: "(no dials yet)" in out.getvalue()[start:], what="a table")
    assert "broker unreachable" not in out.getvalue()[start:]


async def test_view_pages_say_when_the_broker_is_unreachable() -> None:
    settings = ViewSettings(broker=f"mqtt://127.0.0.1:{free_port()}", port=0)
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    async with running(serve_view(settings, bound=bound)):
        port = await asyncio.wait_for(bound, 10)
        async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            snapshot = await asyncio.wait_for(ws.receive_json(), 10)
            update = await asyncio.wait_for(ws.receive_json(), 10)
    assert snapshot["type"] == "snapshot" and snapshot["broker"] is False
    assert update["broker"] is False


async def test_a_broker_stop_is_one_line_in_our_words(
    session_code: str, caplog: pytest.LogCaptureFixture
) -> None:
    # -v would show paho's own lines, at DEBUG; a default run must not.
    caplog.set_level(logging.DEBUG)
    broker = MosquittoProcess()
    broker.start()
    try:
        publisher = MqttPublisher(
            broker.address, session_code, "stopping", MqttOptions(reconnect_min=0.05, reconnect_max=0.1)
        )
        async with running(publisher.run()):
            await wait_for(lambda: publisher.connected, what="the connection")
            caplog.clear()
            broker.stop()
            await asyncio.sleep(1.0)
    finally:
        broker.close()
    lines = [record.getMessage() for record in loud(caplog)]
    lost = [line for line in lines if "connection lost" in line]
    assert len(lost) == 1, lines
    assert not any("failed to receive" in line for line in lines), lines
    assert all(record.name.startswith("microdial") for record in loud(caplog))
    # Then the retries: one line for the broker that is gone, not one per attempt.
    assert len([line for line in lines if "cannot connect" in line]) == 1, lines


async def test_log_lines_name_a_dial_by_its_id(caplog: pytest.LogCaptureFixture) -> None:
    dial, _ = make_dial()
    path = dial.start()
    sink = FailsOnce()
    runner = DialRunner(lambda: SerialTransport(path), "S9", "client", lambda key: sink, options=FAST)
    stop = asyncio.Event()
    try:
        async with running(serve([runner], stop, scan_interval=0.05)):
            await wait_for(lambda: len(sink.samples) > 100, what="samples after the restart")
            stop.set()
    finally:
        dial.stop()
    assert sink.failed and runner.key is not None
    assert "DialKey(" not in caplog.text
    assert f"dial {runner.key.dial}" in caplog.text
