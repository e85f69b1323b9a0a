"""microdial's MQTT client (paho's public API on the asyncio loop) against a real Mosquitto."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from microdial.embedded_broker import MosquittoProcess, _ephemeral_ports, amqtt_broker, free_port
from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.client import ClientOptions, ConnectRefused, Delivery, MqttError, mqtt_client


async def collect(mosquitto: MosquittoProcess, topic: str, count: int, into: list[bytes]) -> None:
    # microdial's client on the receiving side too: it reads many packets per readable event.
    async with mqtt_client(mosquitto.address) as subscriber:
        await subscriber.subscribe(topic, qos=1)
        into.append(b"subscribed")
        async for message in subscriber.messages:
            into.append(message.payload)
            if len(into) > count:
                return


async def test_concurrent_acknowledged_publishes_arrive_in_order(mosquitto: MosquittoProcess) -> None:
    received: list[bytes] = []
    collecting = asyncio.create_task(collect(mosquitto, "order/#", 300, received))
    while not received:
        await asyncio.sleep(0.01)
    async with mqtt_client(mosquitto.address) as client:
        # Each publish waits for its own PUBACK on a future; more than max_inflight wait in paho.
        await asyncio.gather(*(client.publish("order/a", str(i).encode(), qos=1) for i in range(300)))
    await asyncio.wait_for(collecting, 10)
    assert received[1:] == [str(i).encode() for i in range(300)]


async def test_a_delivery_completes_once_from_the_step_that_reads_the_acknowledgement(
    mosquitto: MosquittoProcess,
) -> None:
    done: list[tuple[Delivery, Exception | None]] = []
    async with mqtt_client(mosquitto.address) as client:
        deliveries = [
            client.send("acks", b"%d" % i, 1, on_done=lambda d, e: done.append((d, e))) for i in range(50)
        ]
        assert done == []  # QoS 1: nothing is acknowledged before the broker answers
        while len(done) < 50:
            await asyncio.sleep(0.01)
        waited = client.send("acks", b"last", 1)
        assert waited.future is not None and not waited.future.done()
        await client.delivered(waited, timeout=5)
    assert [d for d, _ in done] == deliveries and all(e is None for _, e in done)
    assert len({d.mid for d in deliveries}) == 50


async def test_a_send_is_on_the_wire_when_it_returns(
    mosquitto: MosquittoProcess, threaded_subscriber: Callable[[int, str], queue.Queue[bytes]]
) -> None:
    """No loop step between send() and the socket: a subscriber on a thread of its own (paho's
    network loop) receives the message while this loop is kept blocked."""
    received = threaded_subscriber(mosquitto.port, "wire/#")
    async with mqtt_client(mosquitto.address) as client:
        for i in range(3):
            client.send("wire/a", b"%d" % i, 1, on_done=lambda d, e: None)
            assert received.get(timeout=2) == b"%d" % i  # blocks the loop


async def test_qos_0_is_done_once_written(mosquitto: MosquittoProcess) -> None:
    calls: list[Exception | None] = []
    async with mqtt_client(mosquitto.address) as client:
        delivery = client.send("q0", b"x", 0)
        assert delivery.future is not None and delivery.future.done()
        client.send("q0", b"y", 0, on_done=lambda d, e: calls.append(e))
        assert calls == [None]  # on the wire before send() returned
        await client.publish("q0", b"z", qos=0)


async def test_payload_larger_than_the_socket_buffer(mosquitto: MosquittoProcess) -> None:
    """What one send cannot take goes out through a registered writer, completely."""
    received: list[bytes] = []
    collecting = asyncio.create_task(collect(mosquitto, "big", 1, received))
    while not received:
        await asyncio.sleep(0.01)
    payload = os.urandom(8 * 1024 * 1024)
    async with mqtt_client(mosquitto.address) as client:
        await client.publish("big", payload, qos=1)
    await asyncio.wait_for(collecting, 20)
    assert received[1] == payload


async def test_unanswered_publish_times_out_as_an_mqtt_error(mosquitto: MosquittoProcess) -> None:
    assert mosquitto.process is not None
    async with mqtt_client(mosquitto.address, ClientOptions(timeout=0.5)) as client:
        await client.publish("alive", b"1", qos=1)
        mosquitto.process.send_signal(signal.SIGSTOP)  # a hung broker: connected, never answering
        try:
            with pytest.raises(MqttError, match="timed out"):
                await client.publish("alive", b"2", qos=1)
        finally:
            mosquitto.process.send_signal(signal.SIGCONT)
        # The late acknowledgement finds nobody waiting; the connection goes on.
        await client.publish("alive", b"3", qos=1, timeout=5)


async def test_a_broker_that_never_answers_the_connect_times_out(
    mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    assert mosquitto.process is not None
    mosquitto.process.send_signal(signal.SIGSTOP)  # the kernel still accepts the TCP connection
    try:
        with pytest.raises(MqttError, match="timed out"):
            async with mqtt_client(mosquitto.address, ClientOptions(timeout=0.5, protocol="auto")):
                pass
    finally:
        mosquitto.process.send_signal(signal.SIGCONT)
    async with mqtt_client(mosquitto.address) as client:  # and the next attempt works
        await client.publish("alive", b"1", qos=1)
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


async def publish_until_the_loss_shows(mosquitto: MosquittoProcess) -> str:
    try:
        async with mqtt_client(mosquitto.address, ClientOptions(timeout=30)) as client:
            await client.publish("alive", b"1", qos=1)
            mosquitto.stop(kill=True)
            for _ in range(200):  # until paho notices the closed socket
                await client.publish("alive", b"2", qos=1)
                await asyncio.sleep(0.05)
    except MqttError as err:
        return str(err)
    return "no error"


async def test_publish_on_a_lost_connection_fails_at_once(mosquitto: MosquittoProcess) -> None:
    """A dropped connection fails the waiting publish well before the timeout, so a sink spools."""
    started = time.monotonic()
    assert "Connection lost" in await publish_until_the_loss_shows(mosquitto)
    assert time.monotonic() - started < 10


async def test_sends_in_flight_fail_when_the_connection_drops(mosquitto: MosquittoProcess) -> None:
    assert mosquitto.process is not None
    errors: list[Exception | None] = []
    async with mqtt_client(mosquitto.address, ClientOptions(timeout=30)) as client:
        mosquitto.process.send_signal(signal.SIGSTOP)  # nothing gets acknowledged from now on
        for i in range(10):
            client.send("lost", b"%d" % i, 1, on_done=lambda d, e: errors.append(e))
        waiting = client.send("lost", b"w", 1)
        started = time.monotonic()
        mosquitto.process.kill()  # the socket closes; SIGKILL needs no SIGCONT
        with pytest.raises(MqttError, match="Connection lost"):
            await client.delivered(waiting)
        assert time.monotonic() - started < 5
        assert len(errors) == 10 and all(isinstance(e, MqttError) for e in errors)
        with pytest.raises(MqttError, match="Connection lost"):
            client.send("lost", b"after", 1)


async def test_a_backlog_of_small_messages_is_read_whole_and_in_order(mosquitto: MosquittoProcess) -> None:
    """Thousands of queued packets arrive in few reads; none may be cut, lost or reordered."""
    options = ClientOptions(identifier="backlog-reader", persistent=True)
    async with mqtt_client(mosquitto.address, options) as reader:
        await reader.subscribe("backlog", qos=1)
    async with mqtt_client(mosquitto.address) as writer:
        await asyncio.gather(*(writer.publish("backlog", b"%05d" % i, qos=1) for i in range(5000)))
    received: list[bytes] = []
    largest_batch = 0
    async with mqtt_client(mosquitto.address, options) as reader:
        async for message in reader.messages:
            # What one readable event took waits in the queue at once.
            largest_batch = max(largest_batch, len(reader.messages) + 1)
            received.append(message.payload)
            if len(received) == 5000:
                break
    assert received == [b"%05d" % i for i in range(5000)]
    assert largest_batch >= 500


async def test_a_message_not_acknowledged_comes_again_after_reconnecting(mosquitto: MosquittoProcess) -> None:
    options = ClientOptions(identifier="manual-acker", protocol="3.1.1", persistent=True, manual_ack=True)
    async with mqtt_client(mosquitto.address, options) as reader:
        await reader.subscribe("manual/#", qos=1)
        async with mqtt_client(mosquitto.address) as writer:
            await writer.publish("manual/a", b"acked", qos=1)
            await writer.publish("manual/b", b"not acked", qos=1)
        first = await asyncio.wait_for(anext(reader.messages), 5)
        second = await asyncio.wait_for(anext(reader.messages), 5)
        assert (first.payload, second.payload) == (b"acked", b"not acked")
        reader.ack(first)
        await asyncio.sleep(0.2)  # the acknowledgement reaches the broker before the goodbye
    async with mqtt_client(mosquitto.address, options) as reader:
        again = await asyncio.wait_for(anext(reader.messages), 5)
        assert again.payload == b"not acked"
        reader.ack(again)
        await asyncio.sleep(0.5)
        assert reader.queued_message() is None  # the acknowledged one is not redelivered


async def test_the_same_client_entered_again_holds_no_stale_unacknowledged_message(
    mosquitto: MosquittoProcess,
) -> None:
    """What arrived on the last connection and was never taken comes again from the broker, once."""
    options = ClientOptions(identifier="re-enter", protocol="3.1.1", persistent=True, manual_ack=True)
    reader = mqtt_client(mosquitto.address, options)
    async with reader:
        await reader.subscribe("again/#", qos=1)
        async with mqtt_client(mosquitto.address) as writer:
            await writer.publish("again/a", b"untaken", qos=1)
        while len(reader.messages) == 0:
            await asyncio.sleep(0.01)
    async with reader:
        message = await asyncio.wait_for(anext(reader.messages), 5)
        assert message.payload == b"untaken"
        reader.ack(message)
        await asyncio.sleep(0.3)
        assert reader.queued_message() is None


async def test_tls_with_a_lab_ca(tls_broker: tuple[MosquittoProcess, Path]) -> None:
    broker, ca = tls_broker
    address = BrokerAddress.parse(f"mqtts://lab:dial-s3cret@127.0.0.1:{broker.port}")
    async with mqtt_client(address, ClientOptions(ca_file=ca)) as client:
        await client.subscribe("tls/#", qos=1)
        for i in range(200):
            client.send("tls/a", b"%d" % i, 1, on_done=lambda d, e: None)
        received = [m.payload async for m in _take(client.messages, 200)]
    assert received == [b"%d" % i for i in range(200)]


async def _take(messages, count: int):  # type: ignore[no-untyped-def]
    async for message in messages:
        yield message
        count -= 1
        if count == 0:
            return


async def test_a_wrong_password_is_refused_with_the_reason(tls_broker: tuple[MosquittoProcess, Path]) -> None:
    broker, ca = tls_broker
    address = BrokerAddress.parse(f"mqtts://lab:wrong@127.0.0.1:{broker.port}")
    for protocol in ("5", "3.1.1"):
        # Mosquitto answers a wrong password with "not authorized" (0x87; 5 in 3.1.1 terms).
        with pytest.raises(ConnectRefused, match="refused the connection: Not authorized") as refused:
            async with mqtt_client(address, ClientOptions(ca_file=ca, protocol=protocol)):  # type: ignore[arg-type]
                pass
        assert refused.value.code == 0x87


async def test_an_unknown_ca_fails_as_an_mqtt_error(tls_broker: tuple[MosquittoProcess, Path]) -> None:
    broker, _ = tls_broker
    address = BrokerAddress.parse(f"mqtts://lab:dial-s3cret@127.0.0.1:{broker.port}")
    with pytest.raises(MqttError, match=r"(?i)certificate"):
        async with mqtt_client(address):  # the system's CAs never signed the lab's certificate
            pass


async def test_auto_falls_back_to_3_1_1_where_the_broker_refuses_mqtt_5() -> None:
    async with amqtt_broker() as embedded:
        unknown = BrokerAddress(host=embedded.host, port=embedded.port)  # as if it were someone else's
        with pytest.raises(ConnectRefused, match="Unsupported protocol version"):
            async with mqtt_client(unknown, ClientOptions(protocol="5")):
                pass
        client = mqtt_client(unknown, ClientOptions(protocol="auto"))
        async with client:
            assert client.protocol == "3.1.1"
            await client.subscribe("auto/#", qos=1)
            await client.publish("auto/a", b"hello", qos=1)
            assert (await asyncio.wait_for(anext(client.messages), 5)).payload == b"hello"


def test_broker_ports_stay_out_of_the_ephemeral_range() -> None:
    """So a client reconnecting to a stopped test broker can never be handed its port (self-connect)."""
    low, high = _ephemeral_ports()
    ports = {free_port() for _ in range(20)}
    assert all(port < low or port > high for port in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


async def test_a_broker_that_stops_mid_flow_leaves_no_loop_error(
    mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """A subscriber's acknowledgement is queued in the same read that finds the broker gone.

    The read closes the socket; registering a writer for the closed socket afterwards made the
    event loop log "Exception in callback ... add_writer(-1 ...)" on every broker restart.
    """
    received = 0

    async def flood() -> None:
        async with mqtt_client(mosquitto.address) as publisher:
            while True:
                # Nothing waits for these acknowledgements: a callback takes them, or the loss.
                publisher.send("flood/a", b"x" * 200, qos=1, on_done=lambda delivery, error: None)
                await asyncio.sleep(0)

    with pytest.raises(MqttError):
        async with mqtt_client(mosquitto.address) as subscriber:
            await subscriber.subscribe("flood/#", qos=1)
            flooding = asyncio.create_task(flood())
            try:
                async for _ in subscriber.messages:
                    received += 1
                    if received == 2000:
                        mosquitto.stop()
            finally:
                flooding.cancel()
                await asyncio.gather(flooding, return_exceptions=True)
    await asyncio.sleep(0.2)  # a writer registration scheduled from the failure runs meanwhile
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
