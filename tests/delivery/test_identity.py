"""Client ids: each recorder its own, stable across its restarts; a takeover is one clear line."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from microdial.embedded_broker import MosquittoProcess
from microdial.mqtt.publisher import MqttPublisher
from microdial.recorder import RecorderSettings, record, recorder_id
from tests.delivery.support import OPTIONS
from tests.host.support import wait_for


def test_a_recorder_id_is_its_own_and_the_same_after_a_restart(tmp_path: Path) -> None:
    one = recorder_id(RecorderSettings(out=tmp_path / "room1"))
    assert one == recorder_id(RecorderSettings(out=tmp_path / "room1"))
    assert one != recorder_id(RecorderSettings(out=tmp_path / "room2"))
    assert recorder_id(RecorderSettings(out=tmp_path / "room1", client_id="lab-3")) == "lab-3"


async def test_two_recorders_with_one_id_say_so_once(
    mosquitto: MosquittoProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = [
        RecorderSettings(broker=mosquitto.url, out=tmp_path / name, client_id="same", reconnect_max=0.5)
        for name in ("a", "b")
    ]
    tasks = [asyncio.create_task(record(s)) for s in settings]
    try:
        with caplog.at_level(logging.ERROR, logger="microdial.recorder"):
            await wait_for(lambda: any("takes its session over" in r.message for r in caplog.records), 20)
            await asyncio.sleep(2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    lines = [r.message for r in caplog.records if "takes its session over" in r.message]
    assert len(lines) <= 2 and "--client-id" in lines[0]  # at most once per recorder


async def test_two_daemons_with_one_id_in_one_session_say_so(
    mosquitto: MosquittoProcess, session_code: str, caplog: pytest.LogCaptureFixture
) -> None:
    publishers = [MqttPublisher(mosquitto.address, session_code, "same-host", OPTIONS) for _ in range(2)]
    tasks = [asyncio.create_task(p.run()) for p in publishers]
    try:
        with caplog.at_level(logging.ERROR, logger="microdial.mqtt.publisher"):
            await wait_for(lambda: any("in use by another daemon" in r.message for r in caplog.records), 20)
    finally:
        for publisher in publishers:
            await publisher.close(1.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert "--daemon-id" in next(r.message for r in caplog.records if "in use by another daemon" in r.message)
