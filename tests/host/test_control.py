"""Control over MQTT against a real Mosquitto and the firmware simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt
import pytest

from microdial.device.runner import DialRunner, RunnerOptions
from microdial.device.transports.serial import SerialTransport
from microdial.embedded_broker import MosquittoProcess
from microdial.model import CommandReply
from microdial.mqtt.control import Controller
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.topics import command_topic, reply_topic
from microdial.sim.rater import SteadyRater
from microdial.sinks.memory import MemorySink
from tests.host.support import make_dial, wait_for


class Rig:
    def __init__(self, client: aiomqtt.Client, session: str, runner: DialRunner, sink: MemorySink) -> None:
        self.client = client
        self.session = session
        self.runner = runner
        self.sink = sink
        self.replies: asyncio.Queue[CommandReply] = asyncio.Queue()

    async def send(self, command: dict[str, object] | bytes, timeout: float = 5.0) -> CommandReply:
        payload = command if isinstance(command, bytes) else json.dumps(command).encode()
        await self.client.publish(command_topic(self.session), payload, qos=1)
        return await asyncio.wait_for(self.replies.get(), timeout)


@asynccontextmanager
async def rig(mosquitto: MosquittoProcess, session: str, token: str | None = None) -> AsyncIterator[Rig]:
    dial, _ = make_dial(rater=SteadyRater(20), rate_hz=50)
    path = dial.start()
    sink = MemorySink()
    runner = DialRunner(
        lambda: SerialTransport(path),
        session,
        "client",
        lambda key: sink,
        options=RunnerOptions(status_interval=0.2),
    )
    publisher = MqttPublisher(mosquitto.address, session, "test-daemon")
    controller = Controller(publisher, session, [runner], token=token)
    tasks = [
        asyncio.create_task(runner.run()),
        asyncio.create_task(publisher.run()),
        asyncio.create_task(controller.run()),
    ]
    try:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.subscribe(reply_topic(session), qos=1)
            await asyncio.wait_for(controller.ready.wait(), 10)
            await wait_for(lambda: runner.identified.is_set() and bool(sink.samples), what="identified dial")
            test_rig = Rig(client, session, runner, sink)

            async def collect() -> None:
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    test_rig.replies.put_nowait(CommandReply.model_validate_json(message.payload))

            collector = asyncio.create_task(collect())
            yield test_rig
            collector.cancel()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        dial.stop()


async def test_recentre_identify_rate_and_mark(mosquitto: MosquittoProcess, session_code: str) -> None:
    async with rig(mosquitto, session_code) as r:
        dial = r.runner.key.dial if r.runner.key else ""
        await wait_for(lambda: r.sink.samples[-1].value == 20, what="the rater at +20")
        count = len(r.sink.samples)
        reply = await r.send({"id": "c1", "command": "recentre", "dial": dial})
        assert (reply.id, reply.ok) == ("c1", True)
        await wait_for(lambda: any(s.value == 0 for s in r.sink.samples[count:]), what="a recentred sample")

        reply = await r.send({"id": "c2", "command": "identify", "dial": dial})
        assert reply.ok and "IDENT ok" in reply.detail

        reply = await r.send({"id": "c3", "command": "rate", "dial": dial, "hz": 10})
        assert reply.ok
        await wait_for(lambda: r.runner.identity is not None, what="identity")

        reply = await r.send({"id": "c4", "command": "session", "action": "mark", "detail": "rupture?"})
        assert reply.ok
        assert [e.detail for e in r.sink.events if e.kind == "session"] == ["mark rupture?"]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"{not json", "malformed command"),
        (json.dumps({"id": "x1", "command": "launch"}).encode(), "malformed command"),
        (json.dumps({"id": "x2", "command": "rate", "dial": "AB", "hz": 5000}).encode(), "hz"),
        (json.dumps({"id": "x3", "command": "recentre", "dial": "A/B"}).encode(), "dial"),
    ],
)
async def test_malformed_commands_get_an_error_and_change_nothing(
    mosquitto: MosquittoProcess, session_code: str, payload: bytes, error: str
) -> None:
    async with rig(mosquitto, session_code) as r:
        before = list(r.sink.events)
        reply = await r.send(payload)
        assert not reply.ok and reply.error is not None and error in reply.error
        assert r.sink.events == before


async def test_unauthorised_command_is_refused(mosquitto: MosquittoProcess, session_code: str) -> None:
    async with rig(mosquitto, session_code, token="s3cret") as r:
        dial = r.runner.key.dial if r.runner.key else ""
        await wait_for(lambda: r.sink.samples[-1].value == 20, what="the rater at +20")
        count = len(r.sink.samples)
        reply = await r.send({"id": "u1", "command": "recentre", "dial": dial, "token": "guess"})
        assert (reply.ok, reply.error) == (False, "unauthorised: wrong or missing token")
        await asyncio.sleep(0.3)
        assert all(s.value == 20 for s in r.sink.samples[count:])
        reply = await r.send({"id": "u2", "command": "recentre", "dial": dial, "token": "s3cret"})
        assert reply.ok


async def test_a_dial_of_another_daemon_gets_no_reply_from_this_one(
    mosquitto: MosquittoProcess, session_code: str
) -> None:
    async with rig(mosquitto, session_code) as r:
        with pytest.raises(TimeoutError):
            await r.send({"id": "n1", "command": "identify", "dial": "0000000000000000"}, timeout=1.0)


async def test_hostile_commands_are_refused_and_the_handler_keeps_serving(
    mosquitto: MosquittoProcess, session_code: str
) -> None:
    """2000 nested brackets (a RecursionError in the parser), a 1 MB id, an over-long id: each gets a
    short error reply that echoes none of it, and the next valid command is still answered."""
    huge_id = "x" * 1_000_000
    long_id = "y" * 1000
    hostile = [
        b"[" * 2000,
        json.dumps({"id": "d1", "command": "session", "action": "mark", "detail": "["}).encode()[:-2]
        + b"[" * 2000
        + b"}",
        json.dumps({"id": huge_id, "command": "session", "action": "mark"}).encode(),
        json.dumps({"id": long_id, "command": "launch"}).encode(),
    ]
    async with rig(mosquitto, session_code) as r:
        for payload in hostile:
            reply = await r.send(payload)
            assert not reply.ok and reply.error is not None and "malformed command" in reply.error
            assert reply.id is None and len(reply.model_dump_json()) < 200, reply.model_dump_json()[:300]
        reply = await r.send({"id": "after", "command": "session", "action": "mark", "detail": "still here"})
        assert (reply.id, reply.ok) == ("after", True)
        assert [e.detail for e in r.sink.events if e.kind == "session"] == ["mark still here"]
