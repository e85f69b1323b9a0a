"""microdial's aiomqtt client (direct writes, read-ahead, acknowledgement on a future) against a
real Mosquitto."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

import aiomqtt
import pytest

from microdial.embedded_broker import MosquittoProcess, _ephemeral_ports, free_port
from microdial.mqtt.client import ClientOptions, mqtt_client


async def collect(mosquitto: MosquittoProcess, topic: str, count: int, into: list[bytes]) -> None:
    # microdial's client on the receiving side too: its read-ahead socket takes many packets
    # (and parts of packets) per read.
    async with mqtt_client(mosquitto.address) as subscriber:
        await subscriber.subscribe(topic, qos=1)
        into.append(b"subscribed")
        async for message in subscriber.messages:
            assert isinstance(message.payload, bytes)
            into.append(message.payload)
            if len(into) > count:
                return


async def test_concurrent_acknowledged_publishes_arrive_in_order(mosquitto: MosquittoProcess) -> None:
    received: list[bytes] = []
    collecting = asyncio.create_task(collect(mosquitto, "order/#", 300, received))
    while not received:
        await asyncio.sleep(0.01)
    async with mqtt_client(mosquitto.address) as client:
        # Many publishes queued in one loop step go out in one write; each still waits for its PUBACK.
        await asyncio.gather(*(client.publish("order/a", str(i).encode(), qos=1) for i in range(300)))
        assert not client._pending_publishes
    await asyncio.wait_for(collecting, 10)
    assert received[1:] == [str(i).encode() for i in range(300)]


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
            with pytest.raises(aiomqtt.MqttError, match="timed out"):
                await client.publish("alive", b"2", qos=1)
            assert not client._pending_publishes
        finally:
            mosquitto.process.send_signal(signal.SIGCONT)


async def publish_until_the_loss_shows(mosquitto: MosquittoProcess) -> str:
    try:
        async with mqtt_client(mosquitto.address, ClientOptions(timeout=30)) as client:
            await client.publish("alive", b"1", qos=1)
            mosquitto.stop(kill=True)
            for _ in range(200):  # until paho notices the closed socket
                await client.publish("alive", b"2", qos=1)
                await asyncio.sleep(0.05)
    except aiomqtt.MqttError as err:
        return str(err)
    return "no error"


async def test_publish_on_a_lost_connection_fails_at_once(mosquitto: MosquittoProcess) -> None:
    """A dropped connection fails the waiting publish well before the timeout, so a sink spools."""
    started = time.monotonic()
    assert "Connection lost" in await publish_until_the_loss_shows(mosquitto)
    assert time.monotonic() - started < 10


async def test_a_backlog_of_small_messages_is_read_whole_and_in_order(mosquitto: MosquittoProcess) -> None:
    """Thousands of queued packets arrive in few reads; none may be cut, lost or reordered."""
    options = ClientOptions(identifier="backlog-reader", persistent=True)
    async with mqtt_client(mosquitto.address, options) as reader:
        await reader.subscribe("backlog", qos=1)
    async with mqtt_client(mosquitto.address) as writer:
        await asyncio.gather(*(writer.publish("backlog", b"%05d" % i, qos=1) for i in range(5000)))
    received: list[bytes] = []
    async with mqtt_client(mosquitto.address, options) as reader:
        assert type(reader._client._sock).__name__ == "_ReadAheadSocket"
        async for message in reader.messages:
            assert isinstance(message.payload, bytes)
            received.append(message.payload)
            if len(received) == 5000:
                break
    assert received == [b"%05d" % i for i in range(5000)]


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

    with pytest.raises(aiomqtt.MqttError):
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
