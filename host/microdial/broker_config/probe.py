"""How a running broker treats a recorder that is away: how many queued messages it keeps.

A persistent subscriber with a unique id subscribes and leaves; more QoS 1 messages than stock
Mosquitto queues (1000) are published to its topic; it returns and counts what the broker kept.
Its session is then ended, so the probe leaves nothing behind on the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from microdial.broker_config.access import PROBE_PREFIX
from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.client import ClientOptions, MqttClient, PublishRefused, SubscriptionRefused, mqtt_client

# Above stock Mosquitto's max_queued_messages (1000) plus its 20 in flight.
PROBE_MESSAGES = 1500
PUBLISH_CHUNK = 100
PUBLISH_TIMEOUT = 10.0
VERSION_TOPIC = "$SYS/broker/version"


@dataclass(frozen=True, slots=True)
class QueueProbe:
    sent: int
    kept: int
    version: str | None

    def problem(self) -> str | None:
        """What is wrong with the broker's queues, with the fix; None when it kept every message."""
        if self.kept == 0:
            # Mosquitto grants any subscription and filters what it delivers by the ACL.
            return (
                f"none of the probe's {self.sent} messages came back: the broker keeps no queue for an "
                f"absent subscriber, or its ACL keeps this user out of {PROBE_PREFIX}/<user>/# "
                "(the ACL of `microdial broker config --users` lets every user in)"
            )
        if self.kept >= self.sent:
            return None
        version = f" ({self.version})" if self.version else ""
        return (
            f"the broker{version} kept {self.kept} of {self.sent} messages queued for an absent "
            "subscriber: a recorder that is away for seconds loses samples; run it with the "
            "configuration `microdial broker config` writes"
        )


async def _refused(client: MqttClient, topic: str, qos: int) -> bool:
    """Whether the broker refused the subscription (an ACL without that topic)."""
    try:
        await client.subscribe(topic, qos=qos)
    except SubscriptionRefused:
        return True
    return False


async def _next_message(client: MqttClient, wait: float) -> Any | None:
    try:
        return await asyncio.wait_for(anext(aiter(client.messages)), wait)
    except TimeoutError:
        return None


async def broker_version(client: MqttClient, wait: float) -> str | None:
    """$SYS/broker/version (retained by Mosquitto), or None from a broker that does not publish it."""
    if await _refused(client, VERSION_TOPIC, 0):
        return None
    message = await _next_message(client, wait)
    if message is None or not isinstance(message.payload, bytes):
        return None
    return message.payload.decode(errors="replace")


async def probe_queue(
    address: BrokerAddress, count: int = PROBE_MESSAGES, timeout: float = 2.0
) -> QueueProbe:
    probe = uuid.uuid4().hex[:12]
    identifier = f"microdial-doctor-{probe}"
    topic = f"{PROBE_PREFIX}/{address.username or 'anonymous'}/{probe}"
    away = ClientOptions(identifier=identifier, persistent=True, session_expiry=300, timeout=timeout)
    try:
        async with mqtt_client(address, away) as subscriber:
            if await _refused(subscriber, topic, 1):
                return QueueProbe(count, 0, None)
        # Each publish waits behind up to a chunk of others for its acknowledgement: more than the
        # timeout for one answer on a busy machine.
        async with mqtt_client(address, ClientOptions(timeout=max(timeout, PUBLISH_TIMEOUT))) as publisher:
            version = await broker_version(publisher, timeout)
            try:
                for start in range(0, count, PUBLISH_CHUNK):
                    chunk = range(start, min(start + PUBLISH_CHUNK, count))
                    await asyncio.gather(*(publisher.publish(topic, str(i), qos=1) for i in chunk))
            except PublishRefused:
                return QueueProbe(count, 0, version)
        kept = 0
        async with mqtt_client(address, away) as subscriber:
            # The broker sends the queue right after the connection; a pause of timeout ends it.
            while kept < count and await _next_message(subscriber, timeout) is not None:
                kept += 1
    finally:
        with contextlib.suppress(Exception):
            # A clean start with no session expiry: the broker forgets the probe's session.
            async with mqtt_client(address, ClientOptions(identifier=identifier, timeout=timeout)):
                pass
    return QueueProbe(count, kept, version)
