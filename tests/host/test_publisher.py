"""The daemon's one connection against a real Mosquitto: dials kept apart, in order, through restarts."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from microdial.daemon import publishing
from microdial.embedded_broker import MosquittoProcess
from microdial.model import DaemonStatus, DialStatus, Sample, parse_samples
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.sink import MqttOptions
from microdial.mqtt.spool import Spool
from microdial.mqtt.topics import daemon_topic, dial_topic, subscription
from microdial.recorder import Recorder
from microdial.web.live import LiveState
from tests.host.support import wait_for


def sample(dial: str, seq: int, value: int | None = None) -> Sample:
    return Sample(
        dial=dial,
        role=dial,
        session="S1",
        value=seq % 50 if value is None else value,
        seq=seq,
        device_time=seq / 100,
        host_time=1.8e9 + seq / 100,
        host_monotonic=seq / 100,
    )


class Subscriber:
    """A persistent QoS 1 subscriber on a thread of its own, stamping each sample's arrival."""

    def __init__(self, broker: MosquittoProcess) -> None:
        self.arrived: dict[str, list[tuple[int, float]]] = {}
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="test-subscriber", clean_session=False
        )
        self.client.on_connect = lambda client, *args: client.subscribe(subscription("S1", "samples"), qos=1)
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._message
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def _message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        with self.lock:
            for s in parse_samples(message.payload):
                self.arrived.setdefault(s.dial, []).append((s.seq, now))

    def seqs(self, dial: str) -> list[int]:
        with self.lock:
            return [seq for seq, _ in self.arrived.get(dial, [])]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def test_a_draining_spool_does_not_hold_back_another_dials_fresh_samples(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Dial A starts with 50 000 samples spooled by an earlier run; dial B's fresh samples, one
    change every 10 ms, reach a subscriber within BOUND of being put while A drains."""
    bound = 0.25  # seconds; measured on a shared, loaded 2-core machine: p50 5.8 ms, max 58 ms
    backlog = Spool(tmp_path / "A")
    backlog.append([sample("A", seq).model_dump_json().encode() for seq in range(50_000)])
    subscriber = Subscriber(mosquitto)
    put_at: dict[int, float] = {}
    try:
        assert subscriber.subscribed.wait(5)
        publisher = MqttPublisher(mosquitto.address, "S1", "test-daemon", MqttOptions())
        async with publishing(publisher):
            a = publisher.sink("A", backlog)
            b = publisher.sink("B")
            seq = 0
            while seq < 50 or len(subscriber.seqs("A")) < 50_000:
                put_at[seq] = time.monotonic()
                b.put_samples([sample("B", seq)])  # each one a change: sent at once
                seq += 1
                await asyncio.sleep(0.01)
                assert seq < 3000, "the spool did not drain in 30 s"
            assert await b.flush(10) and await a.flush(10)
        await wait_for(lambda: len(subscriber.seqs("B")) >= seq, what="dial B's samples")
    finally:
        subscriber.close()
    assert subscriber.seqs("A") == list(range(50_000))
    assert subscriber.seqs("B") == list(range(seq))
    delays = [arrived - put_at[s] for s, arrived in subscriber.arrived["B"]]
    print(
        f"dial B while A drained: p50 {statistics.median(delays) * 1e3:.1f} ms, max {max(delays) * 1e3:.1f} ms"
    )
    assert max(delays) < bound


async def test_three_dials_keep_order_and_lose_nothing_across_a_broker_restart(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    subscriber = Subscriber(mosquitto)
    dials = ("A", "B", "C")
    try:
        assert subscriber.subscribed.wait(5)
        options = MqttOptions(reconnect_min=0.05, reconnect_max=0.3)
        publisher = MqttPublisher(mosquitto.address, "S1", "test-daemon", options)
        async with publishing(publisher):
            sinks = {dial: publisher.sink(dial, Spool(tmp_path / dial)) for dial in dials}
            await wait_for(lambda: publisher.connected, what="the connection")
            seq = 0
            for step in range(300):
                if step == 100:
                    await asyncio.sleep(1.2)  # past one autosave: the broker keeps the subscriber's session
                    mosquitto.stop()
                if step == 200:
                    mosquitto.start()
                for dial, sink in sinks.items():
                    sink.put_samples([sample(dial, seq, value=(seq // 3) % 50)])  # changes and repeats
                seq += 1
                await asyncio.sleep(0.01)
            for sink in sinks.values():
                assert await sink.flush(20)
            assert publisher.connects >= 2
        await wait_for(lambda: all(seq - 1 in subscriber.seqs(d) for d in dials), 20, "the last samples")
    finally:
        subscriber.close()
    for dial in dials:
        unique = list(dict.fromkeys(subscriber.seqs(dial)))  # a batch in flight at the drop may repeat
        assert unique == list(range(seq)), dial


async def test_a_subscription_made_while_connected_is_made_at_once(mosquitto: MosquittoProcess) -> None:
    publisher = MqttPublisher(mosquitto.address, "S1", "test-daemon")
    async with publishing(publisher):
        await wait_for(lambda: publisher.connected, what="the connection")
        listener = publisher.listen("microdial/v1/S1/cmd", qos=0)
        await asyncio.wait_for(listener.ready.wait(), 5)
        await publisher.publish("microdial/v1/S1/cmd", b"hello", qos=1)
        assert await asyncio.wait_for(listener.messages.get(), 5) == b"hello"


def status(state: str = "online", daemon: str | None = "lab-pc-3") -> bytes:
    return (
        DialStatus(
            dial="AB12",
            role="client",
            session="S1",
            state=state,
            host_time=1.8e9,
            daemon=daemon,  # type: ignore[arg-type]
        )
        .model_dump_json()
        .encode()
    )


WILL = DaemonStatus(daemon="lab-pc-3", session="S1", state="offline").model_dump_json().encode()
BACK = (
    DaemonStatus(daemon="lab-pc-3", session="S1", state="online", host_time=1.8e9).model_dump_json().encode()
)


@pytest.mark.parametrize("will_first", [False, True], ids=["status-first", "will-first"])
def test_readers_take_a_dial_as_offline_while_its_daemon_is(tmp_path: Path, will_first: bool) -> None:
    """SPEC 3.2, as the recorder and the live view read it, whichever retained message comes first."""
    status_topic = dial_topic("S1", "AB12", "status")
    messages = [(status_topic, status()), (daemon_topic("S1", "lab-pc-3"), WILL)]
    recorder, live = Recorder(tmp_path), LiveState(None)
    for topic, payload in reversed(messages) if will_first else messages:
        recorder.handle(topic, payload)
        live.handle(topic, payload)
    assert recorder.sessions["S1"].dial("AB12", "client").meta.state == "offline"
    trace_status = live.dials["AB12"].status
    assert trace_status is not None and trace_status.state == "offline"
    # Back: the daemon says so first, then publishes its dials' statuses again.
    for topic, payload in [(daemon_topic("S1", "lab-pc-3"), BACK), (status_topic, status())]:
        recorder.handle(topic, payload)
        live.handle(topic, payload)
    assert recorder.sessions["S1"].dial("AB12", "client").meta.state == "online"
    trace_status = live.dials["AB12"].status
    assert trace_status is not None and trace_status.state == "online"
    # A dial of another daemon, or of none, is not touched by this daemon's will.
    live.handle(status_topic, status(daemon=None))
    live.handle(daemon_topic("S1", "lab-pc-3"), WILL)
    trace_status = live.dials["AB12"].status
    assert trace_status is not None and trace_status.state == "online"
    recorder.close()


async def test_a_clean_exit_delivers_then_marks_dials_then_the_daemon_offline(
    mosquitto: MosquittoProcess,
) -> None:
    publisher = MqttPublisher(mosquitto.address, "S1", "test-daemon")
    async with publishing(publisher):
        sink = publisher.sink("AB12")
        sink.put_status(DialStatus.model_validate_json(status()))
        sink.put_samples([sample("AB12", seq) for seq in range(10)])
        assert await sink.close(10)
    assert not publisher.connected
    retained: dict[str, str] = {}
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscriber.on_message = lambda client, userdata, message: retained.__setitem__(
        message.topic, json.loads(message.payload)["state"]
    )
    subscriber.connect("127.0.0.1", mosquitto.port)
    subscriber.subscribe(subscription("S1"), qos=1)
    subscriber.loop_start()
    try:
        await wait_for(lambda: len(retained) == 2, what="the retained statuses")
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()
    assert retained == {
        dial_topic("S1", "AB12", "status"): "offline",
        daemon_topic("S1", "test-daemon"): "offline",
    }
    assert sink.published == 10
