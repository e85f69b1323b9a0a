"""What callers of the MQTT client see: options, messages, deliveries, errors. No MQTT library here."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

MqttProtocol = Literal["3.1.1", "5"]
# auto: MQTT 5, or 3.1.1 from a broker that refuses 5 (amqtt, older brokers).
ProtocolChoice = MqttProtocol | Literal["auto"]
DeliveryCallback = Callable[["Delivery", Exception | None], None]


class MqttError(Exception):
    """Whatever went wrong with the connection or an operation on it."""


class PublishRefused(MqttError):
    """The broker refused a message (MQTT 5: e.g. its ACL does not let this user publish there)."""


class SubscriptionRefused(MqttError):
    """The broker refused a subscription (e.g. its ACL does not grant the topic)."""


class ConnectRefused(MqttError):
    """The broker answered the CONNECT with a refusal; reason says why (e.g. bad user name or password)."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(f"the broker refused the connection: {reason} (reason code {code:#04x})")
        self.reason = reason
        self.code = code


@dataclass(frozen=True, slots=True)
class Message:
    """A message the broker delivered; mid and qos are what ack() needs."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for a client whose connection drops without a goodbye."""

    topic: str
    payload: bytes | str
    qos: int = 1
    retain: bool = True


class ClientOptions(BaseModel):
    """How one connection behaves; the broker's address and credentials come from BrokerAddress."""

    model_config = ConfigDict(frozen=True)

    # Empty: a random one (only for clients whose session need not outlive them).
    identifier: str = ""
    protocol: ProtocolChoice = "5"
    # The broker keeps subscriptions and queued messages while the client is away: 3.1.1 with
    # clean_session off, 5 with clean_start off and a session expiry.
    persistent: bool = False
    session_expiry: int = Field(3600, ge=0)
    keepalive: int = Field(10, ge=1)
    will: Will | None = None
    # The CA to trust for this client alone; the address's own TLS files (BrokerAddress: CA,
    # client certificate) are what every command's settings give.
    ca_file: Path | None = None
    # Seconds to wait for the broker: connecting, acknowledgements.
    timeout: float = Field(10.0, gt=0)
    # Messages are acknowledged by ack(), not on arrival (the recorder, once they are written).
    manual_ack: bool = False
    max_inflight: int = Field(20, ge=1)


class Delivery:
    """A message send() handed over: acknowledged by the broker, or lost with the connection.

    Either its future completes then, or its on_done is called (once).
    """

    __slots__ = ("future", "mid", "on_done")

    def __init__(
        self, mid: int, future: asyncio.Future[None] | None, on_done: DeliveryCallback | None
    ) -> None:
        self.mid = mid
        self.future = future
        self.on_done = on_done

    def set(self) -> None:
        self.fail(None)

    def fail(self, error: Exception | None) -> None:
        future, on_done = self.future, self.on_done
        self.on_done = None  # a connection lost after the acknowledgement changes nothing
        if on_done is not None:
            try:
                on_done(self, error)
            except Exception:
                # Raised into paho it would tear down the connection for every other delivery.
                log.exception("a delivery callback failed")
        elif future is not None and not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


class Inbox:
    """The messages that arrived, in order, as an async iterator; len() is how many wait already.

    Waiting costs no task, and cancelling a wait loses nothing: a message leaves only when returned.
    """

    def __init__(self) -> None:
        self._messages: deque[Message] = deque()
        self._waiters: list[asyncio.Future[None]] = []
        self._closed: MqttError | None = MqttError("Not connected")

    def open(self, keep: bool = True) -> None:
        """A new connection: keep=False forgets what arrived on the last one (unacknowledged
        messages, which the broker delivers again and which could not be acknowledged anyway)."""
        self._closed = None
        if not keep:
            self._messages.clear()

    def close(self, error: MqttError) -> None:
        """The connection is gone: waits end with error once what arrived before is taken."""
        self._closed = error
        self._wake()

    def put(self, message: Message) -> None:
        self._messages.append(message)
        if self._waiters:
            self._wake()

    def take(self) -> Message | None:
        return self._messages.popleft() if self._messages else None

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        while not self._messages:
            if self._closed is not None:
                raise MqttError(f"Disconnected during message iteration ({self._closed})")
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        return self._messages.popleft()

    def __len__(self) -> int:
        return len(self._messages)
