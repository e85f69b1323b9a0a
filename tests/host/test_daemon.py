"""Many dials in one daemon: discovery with hot-plug, role mapping, isolation of faults, replug cycles.

Dials are the firmware simulator on pseudo-terminals, found through their --link symlinks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import aiomqtt
import pytest

from microdial.config import load_settings
from microdial.daemon import DaemonSettings, discoverer, mqtt_sinks, publishing, serve
from microdial.device.discovery import PortDiscovery
from microdial.device.roles import DialEntry, RoleMap
from microdial.device.runner import DialRunner, RunnerOptions
from microdial.device.stamp import DialKey
from microdial.device.transports.base import Receiver, Transport
from microdial.device.transports.serial import SerialTransport
from microdial.embedded_broker import MosquittoProcess
from microdial.errors import ConfigError
from microdial.model import CommandReply, Sample
from microdial.mqtt.control import Controller
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.topics import command_topic, reply_topic
from microdial.sinks.base import Sink
from microdial.sinks.memory import MemorySink
from tests.host.support import make_dial, wait_for

FAST = RunnerOptions(reopen_min=0.02, reopen_max=0.1, status_interval=0.2)


class Sinks:
    def __init__(self) -> None:
        self.by_role: dict[str, MemorySink] = {}

    def __call__(self, key: DialKey) -> Sink:
        return self.by_role.setdefault(key.role, MemorySink())


async def test_dials_plugged_in_during_a_session_are_found_and_mapped(tmp_path: Path) -> None:
    dials = [make_dial(seed=i, link=tmp_path / f"dial{i}")[0] for i in range(3)]
    table = {
        dials[0].device_id: DialEntry(role="client", participant="P017"),
        dials[1].device_id: DialEntry(role="therapist"),
    }
    sinks = Sinks()
    runners: list[DialRunner] = []
    stop = asyncio.Event()
    discover = discoverer(PortDiscovery(str(tmp_path / "dial*")), "S9", RoleMap(table), sinks, None, FAST)
    dials[0].start()
    daemon = asyncio.create_task(serve(runners, stop, discover=discover, scan_interval=0.1))
    try:
        await wait_for(lambda: "client" in sinks.by_role and len(sinks.by_role["client"].samples) > 20)
        dials[1].start()  # plugged in mid-session
        dials[2].start()  # not in the table
        await wait_for(lambda: {"therapist", "dial1"} <= set(sinks.by_role), what="hot-plugged dials")
        await wait_for(
            lambda: all(len(s.samples) > 20 for s in sinks.by_role.values()), what="samples from all"
        )
    finally:
        stop.set()
        await daemon
        for dial in dials:
            dial.stop()
    client = sinks.by_role["client"].samples[0]
    assert (client.dial, client.participant) == (dials[0].device_id, "P017")
    assert sinks.by_role["therapist"].samples[0].dial == dials[1].device_id
    assert sinks.by_role["dial1"].samples[0].dial == dials[2].device_id
    assert len(runners) == 3


class Exploding(Transport):
    """A transport with a bug (not a device fault): its runner must fail alone."""

    location = "exploding"

    async def open(self, receiver: Receiver) -> None:
        raise RuntimeError("bug in a transport")

    async def write(self, data: bytes) -> None:
        raise AssertionError

    async def close(self) -> None:
        return None


async def serve_until(runners: list[DialRunner], done: Callable[[], bool], what: str) -> None:
    """The daemon's serve() over runners until done() holds, then stopped."""
    stop = asyncio.Event()
    daemon = asyncio.create_task(serve(runners, stop, scan_interval=0.05))
    try:
        await wait_for(done, what=what)
    finally:
        stop.set()
        await daemon


async def test_one_dials_fault_never_stalls_another() -> None:
    dial, _ = make_dial()
    path = dial.start()
    healthy_sink = MemorySink()
    healthy = DialRunner(
        lambda: SerialTransport(path), "S9", "client", lambda key: healthy_sink, options=FAST
    )
    broken = DialRunner(Exploding, "S9", "therapist", lambda key: MemorySink(), options=FAST)
    try:
        await serve_until(
            [healthy, broken], lambda: len(healthy_sink.samples) > 200, "the healthy dial's samples"
        )
    finally:
        dial.stop()
    seqs = [s.seq for s in healthy_sink.samples]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


class FailsOnce(MemorySink):
    """A sink with a bug that shows once, while the dial's bytes are being handled."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def put_samples(self, samples: Sequence[Sample]) -> None:
        if not self.failed and len(self.samples) >= 50:
            self.failed = True
            raise RuntimeError("bug in a sink")
        super().put_samples(samples)


async def test_a_bug_while_handling_records_restarts_that_dial(caplog: pytest.LogCaptureFixture) -> None:
    dial, _ = make_dial()
    path = dial.start()
    sink = FailsOnce()
    runner = DialRunner(lambda: SerialTransport(path), "S9", "client", lambda key: sink, options=FAST)
    try:
        await serve_until([runner], lambda: len(sink.samples) > 100, "samples after the restart")
    finally:
        dial.stop()
    assert sink.failed
    assert "RuntimeError('bug in a sink'); restarting it" in caplog.text


async def test_unplug_and_replug_a_hundred_times(tmp_path: Path) -> None:
    link = tmp_path / "dial0"
    dial, sent = make_dial(link=link, rate_hz=200)
    dial.start()
    sink = MemorySink()
    runner = DialRunner(lambda: SerialTransport(str(link)), "S9", "client", lambda key: sink, options=FAST)
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(lambda: len(sink.samples) > 10, what="first samples")
        for cycle in range(100):
            connects = sum(1 for e in sink.events if e.kind == "connect")
            dial.unplug()
            await wait_for(lambda: sink.events[-1].kind == "disconnect", what=f"disconnect {cycle}")
            count = len(sink.samples)
            dial.replug()
            await wait_for(
                lambda c=connects: sum(1 for e in sink.events if e.kind == "connect") > c,
                what=f"reconnect {cycle}",
            )
            await wait_for(lambda c=count: len(sink.samples) > c, what=f"samples after replug {cycle}")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        dial.stop()
    seqs = [s.seq for s in sink.samples]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Every sample the firmware wrote to an open port arrived; the rest are counted, not hidden.
    written = {seq for seq, _, _ in sent.samples}
    assert set(seqs) <= written
    assert runner.decoder.lost_samples == (seqs[-1] - seqs[0] + 1) - len(seqs)
    assert sum(1 for e in sink.events if e.kind == "disconnect") == 100
    assert runner.resets == 0


async def test_a_port_that_is_not_there_yet_is_waited_for(tmp_path: Path) -> None:
    link = tmp_path / "dial0"
    sink = MemorySink()
    runner = DialRunner(lambda: SerialTransport(str(link)), "S9", "client", lambda key: sink, options=FAST)
    task = asyncio.create_task(runner.run())
    dial, _ = make_dial(link=link)
    try:
        await asyncio.sleep(0.3)
        assert not task.done()
        dial.start()
        await wait_for(lambda: len(sink.samples) > 10, what="samples once the dial appears")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        dial.stop()


def test_role_map_assigns_in_order_and_keeps_assignments() -> None:
    roles = RoleMap({"AA": DialEntry(role="client")}, default_role="therapist")
    assert roles.assign("bb") == ("therapist", None)
    assert roles.assign("CC") == ("dial1", None)
    assert roles.assign("aa") == ("client", None)
    assert roles.assign("BB") == ("therapist", None)
    assert set(roles.assignments) == {"AA", "BB", "CC"}


def test_settings_from_the_environment_take_a_qos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICRODIAL_DAEMON_QOS_SAMPLES", "0")
    assert load_settings(DaemonSettings, "daemon", {}).qos_samples == 0
    monkeypatch.setenv("MICRODIAL_DAEMON_QOS_SAMPLES", "3")
    with pytest.raises(ConfigError, match="qos_samples"):
        load_settings(DaemonSettings, "daemon", {})


async def test_a_daemon_with_three_dials_holds_one_broker_connection(session_code: str) -> None:
    """Counted by the broker itself ($SYS, published every second here): the three dials and
    control share one connection, and commands are still answered on it."""
    broker = MosquittoProcess(listener=["allow_anonymous true", "sys_interval 1"])
    broker.start()
    dials = [make_dial(seed=i)[0] for i in range(3)]
    paths = [dial.start() for dial in dials]
    publisher = MqttPublisher(broker.address, session_code, "test-daemon")
    runners = [
        DialRunner(
            lambda p=p: SerialTransport(p), session_code, f"dial{i}", mqtt_sinks(publisher), options=FAST
        )  # type: ignore[misc]
        for i, p in enumerate(paths)
    ]
    controller = Controller(publisher, session_code, runners)
    stop = asyncio.Event()
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port) as observer, publishing(publisher):
            daemon = asyncio.create_task(serve(runners, stop, scan_interval=0.05))
            control = asyncio.create_task(controller.run())
            await observer.subscribe("$SYS/broker/clients/connected")
            await observer.subscribe(reply_topic(session_code), qos=1)
            await wait_for(lambda: all(r.sink is not None and r.sink.published > 50 for r in runners))
            await asyncio.wait_for(controller.ready.wait(), 10)
            await observer.publish(
                command_topic(session_code),
                json.dumps({"id": "one", "command": "session", "action": "mark"}),
                qos=1,
            )
            counts, reply = [], None
            async with asyncio.timeout(10):
                async for message in observer.messages:
                    assert isinstance(message.payload, bytes)
                    if str(message.topic) == reply_topic(session_code):
                        reply = CommandReply.model_validate_json(message.payload)
                    else:
                        counts.append(int(message.payload))
                    if reply is not None and len(counts) >= 2:
                        break
            stop.set()
            await daemon
            control.cancel()
            await asyncio.gather(control, return_exceptions=True)
    finally:
        for dial in dials:
            dial.stop()
        broker.close()
    assert reply is not None and reply.ok and "3 dials" in reply.detail
    assert counts[-1] == 2  # the observer and the daemon
    assert publisher.connects == 1
