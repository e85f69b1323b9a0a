"""Many dials in one daemon: discovery with hot-plug, role mapping, isolation of faults, replug cycles.

Dials are the firmware simulator on pseudo-terminals, found through their --link symlinks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from microdial.config import load_settings
from microdial.daemon import DaemonSettings, discoverer, serve
from microdial.device.discovery import PortDiscovery
from microdial.device.roles import DialEntry, RoleMap
from microdial.device.runner import DialRunner, RunnerOptions
from microdial.device.stamp import DialKey
from microdial.device.transports.base import Receiver, Transport
from microdial.device.transports.serial import SerialTransport
from microdial.errors import ConfigError
from microdial.model import Sample
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
