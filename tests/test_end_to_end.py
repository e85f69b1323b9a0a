"""End to end with real parts: firmware sim on a pty → daemon → Mosquitto → recorder files / subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from microdial.daemon import mqtt_sinks, publishing, serve
from microdial.device.runner import DialRunner, RunnerOptions
from microdial.device.transports.serial import SerialTransport
from microdial.embedded_broker import MosquittoProcess
from microdial.model import DaemonStatus, DialStatus, parse_samples
from microdial.mqtt.presence import Presence
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.sink import MqttOptions
from microdial.mqtt.topics import dial_topic, parse_daemon_topic, subscription
from microdial.recorder import RecorderSettings, record
from microdial.store.format import SessionMeta, samples_file
from tests.host.support import csv_rows, make_dial, wait_for

FAST = RunnerOptions(reopen_min=0.05, reopen_max=0.2, status_interval=0.3)


async def serve_on(publisher: MqttPublisher, runners: list[DialRunner], stop: asyncio.Event) -> None:
    """serve() with the runners' sinks on publisher's connection, closed after them, as the daemon does."""
    async with publishing(publisher):
        await serve(runners, stop)


class Collector:
    """A persistent QoS 1 subscriber that survives broker restarts, like a real recorder."""

    def __init__(self, broker: MosquittoProcess, session: str) -> None:
        self.broker = broker
        self.session = session
        self.seqs: dict[str, list[int]] = {}
        self.values: dict[str, dict[int, int]] = {}
        self.statuses: list[DialStatus] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.broker.port, identifier=f"collector-{self.session}", clean_session=False
                ) as client:
                    await client.subscribe(subscription(self.session), qos=1)
                    self.ready.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        if str(message.topic).endswith("/status"):
                            self.statuses.append(DialStatus.model_validate_json(message.payload))
                            continue
                        if not str(message.topic).endswith("/samples"):
                            continue
                        for sample in parse_samples(message.payload):
                            self.seqs.setdefault(sample.role, []).append(sample.seq)
                            self.values.setdefault(sample.role, {})[sample.seq] = sample.value
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)


async def test_sim_daemon_mosquitto_recorder_every_sample_once_in_order(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    out = tmp_path / "recordings"
    ready = asyncio.Event()
    recorder = asyncio.create_task(
        record(RecorderSettings(broker=mosquitto.url, out=out, session=session_code), ready=ready)
    )
    await asyncio.wait_for(ready.wait(), 10)
    dials = {role: make_dial(role, seed=i, rate_hz=100) for i, role in enumerate(("client", "therapist"))}
    runners = []
    publisher = MqttPublisher(mosquitto.address, session_code, "test-daemon")
    for role, (dial, _) in dials.items():
        path = dial.start()
        runners.append(
            DialRunner(
                lambda path=path: SerialTransport(path),
                session_code,
                role,  # type: ignore[misc]
                mqtt_sinks(publisher),
                options=FAST,
            )
        )
    stop = asyncio.Event()
    daemon = asyncio.create_task(serve_on(publisher, runners, stop))
    try:
        await wait_for(lambda: all(r.decoder.samples >= 300 for r in runners), 20, "300 samples per dial")
        for runner, (dial, sent) in zip(runners, dials.values(), strict=True):
            dial.halt()
            await wait_for(
                lambda r=runner, s=sent: r.decoder.last_seq == s.samples[-1][0],  # type: ignore[misc]
                10,
                "the daemon to read the last sample",
            )
        for dial, _ in dials.values():
            dial.halt()  # no more samples: what was sent is final, and the daemon can still read it all
        stop.set()
        await asyncio.wait_for(daemon, 20)
        folder = out / session_code
        for runner in runners:
            assert runner.key is not None
            path = folder / samples_file(runner.key.dial)
            await wait_for(
                lambda path=path, runner=runner: (
                    path.exists()  # type: ignore[misc]
                    and len(csv_rows(path)) >= runner.decoder.samples
                ),
                10,
                f"recorder to catch up: {runner.decoder.samples} {runner.sink.published if runner.sink else None} {len(csv_rows(path)) if path.exists() else None}",
            )
    finally:
        recorder.cancel()
        await asyncio.gather(recorder, return_exceptions=True)
        for dial, _ in dials.values():
            dial.stop()

    meta = SessionMeta.load(folder)
    assert {m.role for m in meta.dials.values()} == {"client", "therapist"}
    for runner in runners:
        assert runner.key is not None
        _, sent = dials[runner.role]
        rows = csv_rows(folder / samples_file(runner.key.dial))
        recorded = [(int(r["seq"]), int(r["value"])) for r in rows]
        first = recorded[0][0]
        assert recorded == [(seq, value) for seq, _, value in sent.samples if seq >= first]
        assert all(r["role"] == runner.role and r["session"] == session_code for r in rows)
        assert all(r["sync_uncertainty"] != "" for r in rows[50:])
        assert meta.dials[runner.key.dial].firmware is not None


@pytest.mark.parametrize("kill", [False, True], ids=["terminated", "killed"])
async def test_broker_restart_mid_session_loses_nothing_and_keeps_order(
    mosquitto: MosquittoProcess, session_code: str, kill: bool
) -> None:
    collector = Collector(mosquitto, session_code)
    collecting = asyncio.create_task(collector.run())
    await asyncio.wait_for(collector.ready.wait(), 10)
    dial, sent = make_dial("client", rate_hz=100)
    path = dial.start()
    publisher = MqttPublisher(
        mosquitto.address, session_code, "test-daemon", MqttOptions(reconnect_min=0.05, reconnect_max=0.3)
    )
    runner = DialRunner(
        lambda: SerialTransport(path), session_code, "client", mqtt_sinks(publisher), options=FAST
    )
    stop = asyncio.Event()
    daemon = asyncio.create_task(serve_on(publisher, [runner], stop))
    try:
        await wait_for(lambda: len(collector.seqs.get("client", [])) >= 100, 15, "samples before the restart")
        await asyncio.sleep(1.2)  # past one autosave, so the broker has the collector's session on disk
        mosquitto.stop(kill=kill)
        await asyncio.sleep(1.0)  # about 100 samples are taken while the broker is down
        assert runner.sink is not None and runner.sink.queued > 0
        mosquitto.start()
        dial.halt()
        await wait_for(
            lambda: runner.decoder.last_seq == sent.samples[-1][0], 10, "the daemon to read the last sample"
        )
        await wait_for(lambda: runner.sink is not None and runner.sink.queued == 0, 20, "queue drained")
        stop.set()
        await asyncio.wait_for(daemon, 20)
        last = sent.samples[-1][0]
        await wait_for(lambda: last in collector.values.get("client", {}), 20, "the last sample")
    finally:
        dial.stop()
        collecting.cancel()
        await asyncio.gather(collecting, return_exceptions=True)
    seqs = collector.seqs["client"]
    unique = list(dict.fromkeys(seqs))  # redelivery may repeat a batch; subscribers de-duplicate by seq
    assert unique == sorted(unique)
    assert unique == list(range(unique[0], last + 1))
    assert {seq: v for seq, _, v in sent.samples if seq >= unique[0]} == collector.values["client"]
    assert runner.sink is not None and runner.sink.dropped == 0


async def test_status_is_retained_and_the_last_will_marks_the_dial_offline(
    mosquitto: MosquittoProcess, session_code: str
) -> None:
    """The daemon is killed (no goodbye): the broker publishes its will."""
    dial, _ = make_dial("therapist")
    link = Path(os.environ.get("TMPDIR", "/tmp")) / f"{session_code}.dial"
    dial.link = link
    dial.start()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "microdial",
            "daemon",
            "--port",
            str(link),
            "--broker",
            mosquitto.url,
            "--session",
            session_code,
            "--rater",
            "therapist",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        topic = dial_topic(session_code, dial.device_id, "status")

        async def retained_state() -> str:
            """The dial's state as a reader takes it from what the broker retains (SPEC 3.2):
            its own status, offline while the daemon that carries it is."""
            presence = Presence()
            state = "unknown"
            async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
                await client.subscribe(subscription(session_code), qos=1)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.3):
                        async for message in client.messages:
                            assert isinstance(message.payload, bytes)
                            if parse_daemon_topic(str(message.topic)) is not None:
                                for status in presence.daemon(
                                    DaemonStatus.model_validate_json(message.payload)
                                ):
                                    state = status.state
                            elif str(message.topic) == topic:
                                status = presence.status(DialStatus.model_validate_json(message.payload))
                                assert status.daemon is not None
                                state = status.state
            return state

        for _ in range(100):
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(retained_state(), 1.0) == "online":
                    break
        else:
            raise AssertionError("no retained online status")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        # Keepalive is 10 s: the broker notices the dead connection within 1.5 × keepalive.
        for _ in range(40):
            if await asyncio.wait_for(retained_state(), 5) == "offline":
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the will did not mark the dial offline")
    finally:
        if daemon.poll() is None:
            daemon.kill()
        dial.stop()
