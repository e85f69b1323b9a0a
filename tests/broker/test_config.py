"""`microdial broker config`: the configuration loads, keeps a recorder's queue across restarts and past 1000."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from microdial.broker_config.mosquitto import AUTOSAVE_SECONDS, queue_limits
from microdial.cli import main
from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.client import ClientOptions, mqtt_client
from tests.broker.conftest import ConfiguredBroker, stock_config

RECORDER = ClientOptions(identifier="test-recorder", persistent=True, session_expiry=3600)
TOPIC = "microdial/v1/S1/dial1/samples"


def generate(tmp_path: Path, port: int, *flags: str) -> Path:
    out = tmp_path / "broker"
    assert main(["broker", "config", "--out", str(out), "--port", str(port), *flags]) == 0
    return out


@pytest.fixture
def configured(
    tmp_path: Path, port: int, start_broker: Callable[[Path], ConfiguredBroker]
) -> Callable[..., ConfiguredBroker]:
    def start(*flags: str) -> ConfiguredBroker:
        out = generate(tmp_path, port, *flags)
        return start_broker(out / "mosquitto.conf")

    return start


async def subscribe_and_leave(address: BrokerAddress, topic: str = TOPIC) -> None:
    async with mqtt_client(address, RECORDER) as recorder:
        await recorder.subscribe(topic, qos=1)


async def publish(address: BrokerAddress, count: int, topic: str = TOPIC) -> None:
    async with mqtt_client(address) as daemon:
        for start in range(0, count, 200):
            await asyncio.gather(
                *(daemon.publish(topic, str(i), qos=1) for i in range(start, min(start + 200, count)))
            )


async def come_back(address: BrokerAddress, expected: int) -> list[int]:
    """What the returning recorder receives: until `expected` arrived or nothing more comes."""
    received: list[int] = []
    async with mqtt_client(address, RECORDER) as recorder:
        messages = aiter(recorder.messages)
        while len(received) < expected:
            try:
                message = await asyncio.wait_for(anext(messages), 1.5)
            except TimeoutError:
                break
            assert isinstance(message.payload, bytes)
            received.append(int(message.payload))
    return received


def test_prints_what_it_wrote_and_how_to_start_it(
    tmp_path: Path, port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generate(tmp_path, port, "--dials", "4", "--outage", "300")
    lines = capsys.readouterr().out.splitlines()
    config = (out / "mosquitto.conf").resolve()
    assert lines[0] == f"wrote {config}"
    assert lines[-1] == f"start it: mosquitto -c {config}"
    limits = queue_limits(4, 100, 300)
    assert limits.messages == 4 * 300 * 102
    text = config.read_text()
    assert f"max_queued_messages {limits.messages}\n" in text
    assert f"max_queued_bytes {limits.bytes}\n" in text
    assert f"listener {port} 127.0.0.1\n" in text
    assert "allow_anonymous true\n" in text and "password_file" not in text


async def test_the_configuration_loads_and_accepts_clients(
    configured: Callable[..., ConfiguredBroker],
) -> None:
    broker = configured()
    await subscribe_and_leave(broker.address())
    await publish(broker.address(), 10)
    assert await come_back(broker.address(), 10) == list(range(10))


async def test_queued_messages_survive_a_broker_restart(configured: Callable[..., ConfiguredBroker]) -> None:
    broker = configured()
    await subscribe_and_leave(broker.address())
    await publish(broker.address(), 500)
    broker.stop()
    broker.start()
    assert await come_back(broker.address(), 500) == list(range(500))


async def test_a_killed_broker_keeps_what_reached_disk_at_the_last_autosave(
    configured: Callable[..., ConfiguredBroker],
) -> None:
    broker = configured()
    await subscribe_and_leave(broker.address())
    await publish(broker.address(), 500)
    await asyncio.sleep(AUTOSAVE_SECONDS + 1)
    broker.stop(kill=True)
    broker.start()
    assert await come_back(broker.address(), 500) == list(range(500))


async def test_more_than_stock_mosquitto_queues_are_all_kept(
    configured: Callable[..., ConfiguredBroker],
) -> None:
    broker = configured("--dials", "1", "--outage", "60")
    await subscribe_and_leave(broker.address())
    await publish(broker.address(), 5000)
    assert await come_back(broker.address(), 5000) == list(range(5000))


async def test_stock_mosquitto_drops_past_1000(
    tmp_path: Path, port: int, start_broker: Callable[[Path], ConfiguredBroker]
) -> None:
    """The control for the test above: without the generated limits the same run loses messages."""
    broker = start_broker(stock_config(tmp_path, port))
    await subscribe_and_leave(broker.address())
    await publish(broker.address(), 5000)
    assert len(await come_back(broker.address(), 5000)) < 1100
