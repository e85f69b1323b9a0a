"""A dial's channel on the daemon's connection against real brokers: MQTT 5 on Mosquitto, 3.1.1 on amqtt,
TLS with a lab CA and passwords."""

from __future__ import annotations

import asyncio
import queue
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt
import paho.mqtt.client as mqtt

from microdial.embedded_broker import MosquittoProcess, amqtt_broker
from microdial.model import Confirmation, ReplayRequest, Sample, parse_batch, parse_samples
from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.sink import MqttOptions, MqttSink
from microdial.mqtt.topics import confirmed_topic, dial_topic, replay_topic


def sample(seq: int) -> Sample:
    return Sample(
        dial="AB12",
        role="client",
        session="S1",
        value=seq % 50,
        seq=seq,
        device_time=seq / 100,
        host_time=1.8e9 + seq / 100,
        host_monotonic=seq / 100,
    )


@asynccontextmanager
async def channel(
    address: BrokerAddress, options: MqttOptions
) -> AsyncIterator[tuple[MqttPublisher, MqttSink]]:
    """Dial AB12's channel on a publisher's connection, kept while inside."""
    publisher = MqttPublisher(address, "S1", "test-daemon", options)
    task = asyncio.create_task(publisher.run())
    try:
        yield publisher, publisher.sink("AB12")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def deliver(
    address: BrokerAddress, options: MqttOptions, count: int = 20
) -> tuple[MqttPublisher, MqttSink]:
    async with channel(address, options) as (publisher, sink):
        for seq in range(count):
            sink.put_samples([sample(seq)])
        assert await sink.flush(15)
    return publisher, sink


async def test_mosquitto_gets_mqtt_5(mosquitto: MosquittoProcess) -> None:
    publisher, sink = await deliver(mosquitto.address, MqttOptions())
    assert (publisher.protocol, sink.published) == ("5", 20)


async def test_qos_0_samples_leave_without_acknowledgements(mosquitto: MosquittoProcess) -> None:
    _, sink = await deliver(mosquitto.address, MqttOptions(qos_samples=0, batch_window=0), count=50)
    assert (sink.published, sink.queued) == (50, 0)


async def test_a_batch_the_broker_leaves_unacknowledged_goes_again_after_reconnecting(
    mosquitto: MosquittoProcess,
) -> None:
    """A hung broker (stopped, its socket still open) never acknowledges; the sink gives up on the
    batch after publish_timeout, reconnects once the broker answers again, and sends it anew."""
    assert mosquitto.process is not None
    options = MqttOptions(publish_timeout=0.5, reconnect_min=0.05, reconnect_max=0.2)
    received: list[int] = []
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as subscriber:
        await subscriber.subscribe(dial_topic("S1", "AB12", "samples"), qos=1)
        async with channel(mosquitto.address, options) as (publisher, sink):
            sink.put_samples([sample(0)])
            assert await sink.flush(5)
            mosquitto.process.send_signal(signal.SIGSTOP)
            try:
                sink.put_samples([sample(1), sample(2)])
                await asyncio.sleep(1.5)
                assert (sink.published, sink.queued) == (1, 2)
            finally:
                mosquitto.process.send_signal(signal.SIGCONT)
            assert await sink.flush(10)
            assert publisher.connects >= 2
            async for message in subscriber.messages:
                assert isinstance(message.payload, bytes)
                received += [s.seq for s in parse_samples(message.payload)]
                if set(received) >= {0, 1, 2}:
                    break
    assert list(dict.fromkeys(received)) == [0, 1, 2]  # a batch sent twice may arrive twice


async def test_amqtt_falls_back_to_3_1_1_even_when_not_told() -> None:
    async with amqtt_broker() as embedded:
        unknown = BrokerAddress(host=embedded.host, port=embedded.port)  # as if it were someone else's broker
        publisher, sink = await deliver(unknown, MqttOptions(publish_timeout=1.0))
    assert (publisher.protocol, sink.published) == ("3.1.1", 20)


async def test_tls_with_a_lab_ca_and_a_password(tls_broker) -> None:  # type: ignore[no-untyped-def]
    broker, ca = tls_broker
    address = BrokerAddress.parse(f"mqtts://lab:dial-s3cret@127.0.0.1:{broker.port}")
    address = address.model_copy(update={"ca_file": ca})
    received: list[Sample] = []
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username="lab", password="dial-s3cret", tls_context=context
    ) as client:
        await client.subscribe(dial_topic("S1", "AB12", "samples"), qos=1)
        _, sink = await deliver(address, MqttOptions())
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            received += parse_samples(message.payload)
            if len(received) >= 20:
                break
    assert [s.seq for s in received] == list(range(20))
    assert sink.published == 20


async def test_wrong_password_keeps_samples_queued(tls_broker) -> None:  # type: ignore[no-untyped-def]
    broker, ca = tls_broker
    # The broker's CA travels with its address, as for every command that connects.
    address = BrokerAddress.parse(f"mqtts://lab:wrong@127.0.0.1:{broker.port}").model_copy(
        update={"ca_file": ca}
    )
    options = MqttOptions(reconnect_min=0.05, reconnect_max=0.1)
    async with channel(address, options) as (_, sink):
        sink.put_samples([sample(0)])
        assert not await sink.flush(1.5)
        assert (sink.queued, sink.published, sink.connected) == (1, 0, False)


async def test_a_change_leaves_in_the_step_that_read_it(mosquitto: MosquittoProcess) -> None:
    """A changed value is on the wire when put_samples returns; a repeat waits for its window.

    The event loop is kept blocked after put_samples, so no task of the sink can run meanwhile;
    a subscriber on a thread of its own (paho's network loop) receives the change all the same.
    """
    received: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.on_message = lambda client, userdata, message: received.put(message.payload)
    subscriber.connect("127.0.0.1", mosquitto.port)
    subscriber.subscribe(dial_topic("S1", "AB12", "samples"), qos=1)
    subscriber.loop_start()
    try:
        async with channel(mosquitto.address, MqttOptions(batch_window=0.02)) as (_, sink):
            assert subscribed.wait(5)
            sink.put_samples([sample(1)])
            assert await sink.flush(5)
            assert [s.seq for s in parse_samples(received.get(timeout=5))] == [1]
            sink.put_samples([sample(2).model_copy(update={"value": sample(1).value})])
            time.sleep(0.2)  # blocks the loop: the repeat waits for its window
            assert received.empty()
            sink.put_samples([sample(3), sample(4)])  # a change: all three leave together, at once
            batch = received.get(timeout=1.0)  # blocks the loop too
            assert [s.seq for s in parse_samples(batch)] == [2, 3, 4]
            assert await sink.flush(5)
            assert sink.published == 4
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()


async def test_the_journal_keeps_what_the_broker_took_until_the_recorder_confirms_and_replays_a_range(
    mosquitto: MosquittoProcess,
) -> None:
    """Acknowledged by the broker is not confirmed: the samples stay until the recorder's
    confirmation, and a replay request gets exactly the range asked for, in a batch that says where."""
    options = MqttOptions(recorders=("r1",), batch_window=0)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as recorder:
        await recorder.subscribe(dial_topic("S1", "AB12", "samples"), qos=1)
        async with channel(mosquitto.address, options) as (_, sink):
            sink.put_samples([sample(seq) for seq in range(100)])
            assert await sink.flush(10)
            assert sink.queued == 100
            journal = sink.journal.ident
            confirmation = Confirmation(
                recorder="r1", session="S1", dial="AB12", journals={journal: 60}, host_time=time.time()
            )
            await recorder.publish(
                confirmed_topic("S1", "AB12", "r1"), confirmation.model_dump_json(), qos=1, retain=True
            )
            for _ in range(100):
                if sink.queued == 40:
                    break
                await asyncio.sleep(0.05)
            assert sink.queued == 40
            request = ReplayRequest(
                recorder="r1", session="S1", dial="AB12", journal=journal, start=70, stop=80
            )
            await recorder.publish(replay_topic("S1", "AB12", "r1"), request.model_dump_json(), qos=1)
            async with asyncio.timeout(10):
                async for message in recorder.messages:
                    assert isinstance(message.payload, bytes)
                    batch = parse_batch(message.payload)
                    if batch.first == 70:
                        break
            assert [s.seq for s in batch.samples] == list(range(70, 80))
            assert (batch.journal, batch.head) == (journal, 60)
            await recorder.publish(confirmed_topic("S1", "AB12", "r1"), b"", qos=1, retain=True)


async def test_a_sample_of_a_protocol_1_dial_has_no_boot_and_the_batch_no_place_without_a_journal() -> None:
    """What a publisher without a journal sends still parses: no journal, no first, no head."""
    batch = parse_batch(b'{"samples": [' + sample(1).model_dump_json().encode() + b"]}")
    assert batch.samples[0].boot is None and batch.journal is None and batch.first is None
