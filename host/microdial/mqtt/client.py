"""The MQTT client: the only module that knows aiomqtt and paho."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import aiomqtt
import paho.mqtt.client as mqtt
from aiomqtt.exceptions import MqttCodeError, MqttConnectError
from aiomqtt.types import PahoSocket, PayloadType
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field

from microdial.mqtt.address import BrokerAddress, tls_context


class MqttClient(aiomqtt.Client):
    """aiomqtt.Client that sends what is published on the event loop without a writer round trip.

    aiomqtt answers every packet paho queues by registering a socket writer from a thread-safe
    callback: a self-pipe wakeup, an epoll change to add the writer, one send, an epoll change to
    remove it. At 64 dials that was a fifth of the daemon's CPU. Published from the loop itself,
    the socket almost always has room: send at once from publish(), or on the loop's next step
    for packets paho queues by itself (acknowledgements, pings), and register a writer only for
    what did not fit.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._publishing = False
        self._write_deferred = False
        self._writer_registered = False

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        # aiomqtt leaves a publish waiting for its acknowledgement until the timeout when the
        # connection drops; fail it at once, so a sink spools instead of waiting seconds.
        self._disconnected.add_done_callback(self._fail_pending)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            # The call that failed has reported a lost connection already; taking the exception
            # here keeps asyncio from logging it again as "never retrieved" when it is collected.
            if self._disconnected.done() and not self._disconnected.cancelled():
                self._disconnected.exception()

    def manual_ack(self) -> None:
        # aiomqtt has no switch for this; its paho client does.
        self._client.manual_ack_set(True)

    def ack(self, message: Message) -> None:
        """Acknowledge a message received with manual_ack: the broker may forget it now."""
        self._client.ack(message.mid, message.qos)

    def queued_message(self) -> Message | None:
        """A message that has arrived already, without waiting (None when none has)."""
        return self._queue.get_nowait() if len(self.messages) else None

    def _fail_pending(self, disconnected: asyncio.Future[None]) -> None:
        for pending in list(self._pending_publishes.values()):
            if isinstance(pending, Delivery):
                pending.fail(aiomqtt.MqttError("Connection lost before the broker acknowledged"))

    async def publish(
        self,
        /,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        """As aiomqtt's publish, waiting for the broker's acknowledgement on a plain future.

        aiomqtt waits on an asyncio.Event through asyncio.wait_for, which on Python 3.11 starts a
        task per message; asyncio.timeout around a future does the same job without one.
        """
        if args or kwargs or self._outgoing_calls_sem is not None:
            await super().publish(topic, payload, qos, retain, properties, *args, timeout=timeout, **kwargs)
            return
        await self.delivered(self.send(topic, payload, qos, retain, properties), timeout)

    def send(
        self,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        on_done: DeliveryCallback | None = None,
    ) -> Delivery:
        """Hand a message to the socket now, without leaving the caller's loop step.

        For a caller on the event loop that must not wait a step before the message leaves (the
        daemon's sinks): the message is on the wire, or in paho's queue when the socket is full,
        when this returns. delivered() then waits for the broker's acknowledgement; or on_done is
        called with it (or with the lost connection's error) from the step that read it, which
        spares a caller with a message in flight at all times a task wakeup per message.
        With QoS 0, on_done may be called before send() returns.
        """
        if self._disconnected.done():
            raise aiomqtt.MqttError("Connection lost")
        self._publishing = True
        try:
            info = self._client.publish(topic, payload, qos, retain, properties)
        finally:
            self._publishing = False
        if self._write_deferred:
            # Outside paho's publish (it holds its message lock there), and without a loop step.
            self._write_deferred = False
            self._write_queued(self._client, None, self._client.socket())
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise MqttCodeError(info.rc, "Could not publish message")
        delivery = Delivery(info.mid, None if on_done else self._loop.create_future(), on_done)
        # Only QoS 0 can be done already (written whole above); is_published() takes a lock.
        if qos == 0 and info.is_published():
            delivery.set()
        else:
            self._pending_publishes[info.mid] = delivery  # type: ignore[assignment]
        return delivery

    async def delivered(self, delivery: Delivery, timeout: float | None = None) -> None:
        """Wait until the broker acknowledged what send() handed over (QoS 0: until it was written)."""
        if delivery.future is None:
            raise ValueError("delivered() waits for a send() without on_done")
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                await delivery.future
        except TimeoutError:
            raise aiomqtt.MqttError("Operation timed out") from None
        finally:
            self._pending_publishes.pop(delivery.mid, None)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: PahoSocket) -> None:
        # paho reads every packet with two or three recv calls (type, length, body) and aiomqtt
        # reads one packet per readable event; aiomqtt keeps reading while the socket reports
        # pending() bytes (meant for TLS), so a buffering socket lets one event take them all.
        plain = client._sock
        if isinstance(plain, socket.socket) and not isinstance(plain, ssl.SSLSocket) and plain is sock:
            buffered = _ReadAheadSocket(plain)
            client._sock = buffered
            sock = buffered
        super()._on_socket_open(client, userdata, sock)

    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: PahoSocket) -> None:
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False  # paho's connect runs in an executor thread
        if on_loop and self._publishing:
            self._write_deferred = True  # publish() sends it as soon as paho returns
        elif on_loop:
            self._loop.call_soon(self._write_queued, client, userdata, sock)
        else:
            self._loop.call_soon_threadsafe(self._write_queued, client, userdata, sock)

    def _write_queued(self, client: mqtt.Client, userdata: Any, sock: PahoSocket) -> None:
        # A read in the step before may have found the connection gone and closed this socket
        # (paho has reported that); a writer for it would only make the loop log a bad descriptor.
        current = client.socket()
        if current is None or current is not sock:
            return
        fileno = current.fileno()
        try:
            client.loop_write()
        except Exception as err:
            # As aiomqtt's own writer does: a failing write means the connection broke.
            if not self._disconnected.done():
                self._disconnected.set_exception(err)
            return
        if client.want_write() and client.socket() is sock:
            # What did not fit waits for the socket to drain; registered now, on the loop, while
            # the socket is known to be open (paho's unregister callback removes it).
            self._loop.add_writer(fileno, self._write_queued, client, userdata, sock)
            self._writer_registered = True

    def _on_socket_unregister_write(self, client: mqtt.Client, userdata: Any, sock: PahoSocket) -> None:
        # paho asks after every write that emptied its queue; most of those never needed a writer.
        if self._writer_registered:
            self._writer_registered = False
            super()._on_socket_unregister_write(client, userdata, sock)


class _ReadAheadSocket:
    """A plain TCP socket whose recv takes what the kernel has (up to 64 KiB) at once and hands
    it out in the small pieces paho asks for; everything else goes to the socket itself."""

    __slots__ = ("_data", "_offset", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._data = b""
        self._offset = 0

    def recv(self, size: int) -> bytes:
        if self._offset >= len(self._data):
            data = self._sock.recv(max(size, 65536))  # BlockingIOError when nothing is there
            if len(data) <= size:
                return data
            self._data, self._offset = data, 0
        start = self._offset
        self._offset = min(start + size, len(self._data))
        return self._data[start : self._offset]

    def pending(self) -> int:
        return len(self._data) - self._offset

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


DeliveryCallback = Callable[["Delivery", Exception | None], None]


class Delivery:
    """A message MqttClient.send() handed over: acknowledged by the broker, or lost with the connection.

    Either its future completes then, or its on_done is called. It stands where aiomqtt keeps an
    asyncio.Event per pending publish: aiomqtt's on_publish calls set().
    """

    __slots__ = ("future", "mid", "on_done")

    def __init__(
        self, mid: int, future: asyncio.Future[None] | None, on_done: DeliveryCallback | None
    ) -> None:
        self.mid = mid
        self.future = future
        self.on_done = on_done

    def set(self) -> None:
        self._done(None)

    def fail(self, error: Exception) -> None:
        self._done(error)

    def _done(self, error: Exception | None) -> None:
        future, on_done = self.future, self.on_done
        self.on_done = None  # once: a connection lost after the acknowledgement changes nothing
        if on_done is not None:
            on_done(self, error)
        elif future is not None and not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


MqttProtocol = Literal["3.1.1", "5"]

# What callers catch and read: the names are ours, so callers never import the MQTT library.
MqttError = aiomqtt.MqttError
ConnectRefused = MqttConnectError
Message = aiomqtt.Message


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
    protocol: MqttProtocol = "5"
    # The broker keeps subscriptions and queued messages while the client is away: 3.1.1 with
    # clean_session off, 5 with clean_start off and a session expiry.
    persistent: bool = False
    session_expiry: int = Field(3600, ge=0)
    keepalive: int = Field(10, ge=1)
    will: Will | None = None
    ca_file: Path | None = None
    # Seconds to wait for the broker: connecting, acknowledgements.
    timeout: float = Field(10.0, gt=0)
    # Messages are acknowledged by ack(), not on arrival (the recorder, once they are written).
    manual_ack: bool = False
    max_inflight: int = Field(20, ge=1)


def mqtt_client(address: BrokerAddress, options: ClientOptions | None = None) -> MqttClient:
    """A client for address, with its credentials and TLS, behaving as options say."""
    options = options or ClientOptions()
    session: dict[str, Any]
    if options.protocol == "3.1.1":
        session = {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": not options.persistent}
    else:
        properties = None
        if options.persistent:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = options.session_expiry
        session = {
            "protocol": aiomqtt.ProtocolVersion.V5,
            "clean_start": not options.persistent,
            "properties": properties,
        }
    will = options.will
    client = MqttClient(
        address.host,
        address.port,
        username=address.username,
        password=address.password,
        tls_context=tls_context(address, options.ca_file),
        identifier=options.identifier or None,
        will=None if will is None else aiomqtt.Will(will.topic, will.payload, will.qos, will.retain),
        keepalive=options.keepalive,
        timeout=options.timeout,
        max_inflight_messages=options.max_inflight,
        **session,
    )
    if options.manual_ack:
        client.manual_ack()
    return client
