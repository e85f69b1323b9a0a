"""The MQTT client: the only module that knows paho-mqtt, and only through its public API.

paho does the protocol; this module runs it on the asyncio loop with paho's interface for an
external event loop (loop_read, loop_write, want_write, loop_misc, socket()): a reader on the
socket, a writer only while paho holds bytes the socket did not take, loop_misc once a second.

paho writes a packet to the socket as soon as it is queued when no socket_register_write
callback is set, so a publish from the loop is on the wire when send() returns: no writer
round trip per message. A packet queued inside a paho callback (an acknowledgement that sends
the next message) waits for the end of the read that called it, still in the same loop step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from microdial.mqtt.address import BrokerAddress, tls_context
from microdial.mqtt.interface import (
    ClientOptions,
    ConnectRefused,
    Delivery,
    DeliveryCallback,
    Inbox,
    Message,
    MqttError,
    MqttProtocol,
    Will,
)

# Callers import these from here, with the client.
__all__ = [
    "ClientOptions",
    "ConnectRefused",
    "Delivery",
    "DeliveryCallback",
    "Message",
    "MqttClient",
    "MqttError",
    "MqttProtocol",
    "Will",
    "mqtt_client",
]

log = logging.getLogger(__name__)

Payload = bytes | bytearray | str | None

# Packets one readable event takes at most: a backlog of thousands arrives over a few loop
# steps, so the tasks that consume it (the recorder writing and acknowledging) get their turn.
READ_BUDGET = 1000


class MqttClient:
    """One connection to a broker, entered with `async with`; leave and enter again to reconnect."""

    def __init__(self, address: BrokerAddress, options: ClientOptions) -> None:
        self._address = address
        self._options = options
        self._v5 = options.protocol == "5"
        paho = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=options.identifier,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            clean_session=None if self._v5 else not options.persistent,
            reconnect_on_failure=False,
        )
        paho.on_connect = self._on_connect
        paho.on_disconnect = self._on_disconnect
        paho.on_message = self._on_message
        paho.on_publish = self._on_publish
        paho.on_subscribe = self._on_subscribe
        paho.on_socket_close = self._on_socket_close
        paho.max_inflight_messages_set(options.max_inflight)
        paho.manual_ack_set(options.manual_ack)
        paho.connect_timeout = options.timeout
        if address.username is not None:
            paho.username_pw_set(address.username, address.password)
        context = tls_context(address, options.ca_file)
        if context is not None:
            paho.tls_set_context(context)
        if options.will is not None:
            will = options.will
            paho.will_set(will.topic, will.payload, will.qos, will.retain)
        self._paho = paho
        self._unacked: dict[int, Delivery] = {}
        self._subscribing: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._inbox = Inbox()
        self._connack: asyncio.Future[None] | None = None
        # Resolved (never with an exception: nobody might retrieve it) once the connection is gone.
        self._gone: asyncio.Future[None] | None = None
        self._error: MqttError | None = None
        self._closing = False
        self._fd = -1
        self._tls: ssl.SSLSocket | None = None
        self._writing = False
        self._in_paho = False  # inside a call into paho: its callbacks must not call it again
        self._progress = 0  # packets handled, to tell a read that took one from an empty one
        self._misc: asyncio.TimerHandle | None = None
        self._io: asyncio.AbstractEventLoop | None = None

    # -- connection -----------------------------------------------------------------------
    @property
    def protocol(self) -> MqttProtocol:
        return self._options.protocol

    async def __aenter__(self) -> Self:
        if self._gone is not None and not self._gone.done():
            raise MqttError("already connected: leave the `async with` before entering it again")
        io = self._io = asyncio.get_running_loop()
        self._connack, self._gone = io.create_future(), io.create_future()
        self._error, self._closing = None, False
        self._inbox.open()
        properties = None
        if self._v5 and self._options.persistent:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._options.session_expiry
        session: dict[str, Any] = {"clean_start": not self._options.persistent} if self._v5 else {}
        address = self._address
        try:
            # paho's connect blocks (DNS, TCP, TLS handshake): a worker thread takes it. paho
            # calls no callback of ours there; the reader is added below, on the loop.
            await io.run_in_executor(
                None,
                lambda: self._paho.connect(
                    address.host, address.port, self._options.keepalive, properties=properties, **session
                ),
            )
        except (OSError, ValueError) as err:
            self._gone.set_result(None)
            raise MqttError(f"cannot connect to {address.url}: {err}") from None
        self._attach()
        try:
            async with asyncio.timeout(self._options.timeout):
                await self._connack
        except BaseException as err:
            self._abandon()
            if isinstance(err, TimeoutError):
                raise MqttError(f"Operation timed out: {address.url} did not answer the CONNECT") from None
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        gone = self._gone
        if gone is None or gone.done():
            return
        self._closing = True
        self._call(self._paho.disconnect)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._options.timeout):
                    await asyncio.shield(gone)  # paho closes the socket once DISCONNECT is written
        finally:
            self._abandon()

    def _attach(self) -> None:
        sock = self._paho.socket()
        assert self._io is not None and sock is not None
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Samples are small and latency matters more than packets per second.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._tls = sock if isinstance(sock, ssl.SSLSocket) else None
        self._fd = sock.fileno()
        self._io.add_reader(self._fd, self._readable)
        self._misc = self._io.call_later(1.0, self._tick)
        self._flush()  # the CONNECT, should the socket not have taken it whole

    def _abandon(self) -> None:
        """Close the socket paho still holds (no answer to CONNECT or DISCONNECT) and settle everything."""
        sock = self._paho.socket()
        if sock is not None:
            self._on_socket_close(self._paho, None, sock)
            sock.close()
        self._lost(MqttError("Connection closed"))

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self._fd >= 0 and self._io is not None:
            self._io.remove_reader(self._fd)
            if self._writing:
                self._io.remove_writer(self._fd)
        self._fd, self._writing, self._tls = -1, False, None
        if self._misc is not None:
            self._misc.cancel()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self._progress += 1
        connack = self._connack
        if connack is None or connack.done():
            return
        if reason.is_failure:
            connack.set_exception(ConnectRefused(str(reason), reason.value))
        else:
            connack.set_result(None)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self._progress += 1
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(MqttError(f"the broker closed the connection at once ({reason})"))
        if self._closing:
            self._lost(MqttError("Disconnected"))
        else:
            self._lost(MqttError(f"Connection lost ({reason})"))

    def _lost(self, error: MqttError) -> None:
        """Once the connection is gone: everything waiting on it fails now, not at its timeout."""
        if self._gone is None or self._gone.done():
            return
        self._error = error
        self._gone.set_result(None)
        unacked, self._unacked = self._unacked, {}
        for delivery in unacked.values():
            delivery.fail(MqttError(f"{error}: the broker did not acknowledge the message"))
        subscribing, self._subscribing = self._subscribing, {}
        for future in subscribing.values():
            if not future.done():
                future.set_exception(error)
        self._inbox.close(error)

    # -- the socket -----------------------------------------------------------------------
    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Call into paho from our code (not from its callbacks), then write what it queued."""
        nested, self._in_paho = self._in_paho, True
        try:
            result = method(*args)
        finally:
            self._in_paho = nested
        if not nested:
            self._flush()
        return result

    def _readable(self) -> None:
        # paho reads one packet per loop_read (in two or three recv calls): go on while packets
        # keep coming, so one readable event takes a whole backlog, not one packet of it. A
        # packet that calls no callback (PINGRESP) ends the run early; the socket stays
        # readable for the next step. TLS may hold decrypted bytes the socket no longer shows.
        paho = self._paho
        self._in_paho = True
        try:
            for _ in range(READ_BUDGET):
                before = self._progress
                if paho.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
                if self._progress == before and (self._tls is None or not self._tls.pending()):
                    break
        finally:
            self._in_paho = False
        self._flush()

    def _flush(self) -> None:
        """Write what paho holds; a writer stays registered only while the socket takes no more."""
        paho = self._paho
        if self._in_paho or self._fd < 0:
            return
        if paho.want_write():
            self._in_paho = True
            try:
                paho.loop_write()
            finally:
                self._in_paho = False
            if self._fd < 0:  # the write found the connection gone (paho closed the socket)
                return
        waiting = paho.want_write()
        if waiting != self._writing:
            assert self._io is not None
            if waiting:
                self._io.add_writer(self._fd, self._flush)
            else:
                self._io.remove_writer(self._fd)
            self._writing = waiting

    def _tick(self) -> None:
        self._misc = None
        self._call(self._paho.loop_misc)  # keepalive pings, and the broker's silence noticed
        if self._fd >= 0 and self._io is not None:
            self._misc = self._io.call_later(1.0, self._tick)

    # -- publishing -----------------------------------------------------------------------
    def send(
        self,
        topic: str,
        payload: Payload = None,
        qos: int = 0,
        retain: bool = False,
        on_done: DeliveryCallback | None = None,
    ) -> Delivery:
        """Hand a message to the socket now, without leaving the caller's loop step.

        The message is on the wire, or in paho's queue when the socket is full, when this
        returns. delivered() then waits for the broker's acknowledgement; or on_done is called
        with it (or with the lost connection's error) from the step that read it, which spares
        a caller with a message in flight at all times a task wakeup per message.
        With QoS 0, on_done may be called before send() returns.
        """
        if self._gone is None or self._gone.done():
            raise MqttError(f"Connection lost ({self._error})" if self._error else "Not connected")
        info = self._call(self._paho.publish, topic, payload, qos, retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttError(f"Connection lost: could not publish ({mqtt.error_string(info.rc)})")
        assert self._io is not None
        delivery = Delivery(info.mid, None if on_done else self._io.create_future(), on_done)
        # Only QoS 0 can be done already (written whole above); is_published() takes a lock.
        if qos == 0 and info.is_published():
            delivery.set()
        else:
            self._unacked[info.mid] = delivery
        return delivery

    async def delivered(self, delivery: Delivery, timeout: float | None = None) -> None:
        """Wait until the broker acknowledged what send() handed over (QoS 0: until it was written)."""
        if delivery.future is None:
            raise ValueError("delivered() waits for a send() without on_done")
        try:
            async with asyncio.timeout(self._options.timeout if timeout is None else timeout):
                await delivery.future
        except TimeoutError:
            raise MqttError("Operation timed out: the broker did not acknowledge the message") from None
        finally:
            if self._unacked.get(delivery.mid) is delivery:
                del self._unacked[delivery.mid]

    async def publish(
        self,
        topic: str,
        payload: Payload = None,
        qos: int = 0,
        retain: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Send, then wait for the broker's acknowledgement on a plain future (no task per message)."""
        await self.delivered(self.send(topic, payload, qos, retain), timeout)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        self._progress += 1
        delivery = self._unacked.pop(mid, None)
        if delivery is not None:
            failed = reason.is_failure  # MQTT 5: e.g. not authorised to publish there
            delivery.fail(MqttError(f"the broker refused the message: {reason}") if failed else None)

    # -- receiving ------------------------------------------------------------------------
    async def subscribe(self, topic: str, qos: int = 0, timeout: float | None = None) -> None:
        """Subscribe and wait for the broker's answer; a refusal raises MqttError."""
        if self._gone is None or self._gone.done():
            raise MqttError("Not connected")
        rc, mid = self._call(self._paho.subscribe, topic, qos)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(f"could not subscribe to {topic}: {mqtt.error_string(rc)}")
        assert self._io is not None
        granted = self._subscribing[mid] = self._io.create_future()
        try:
            async with asyncio.timeout(self._options.timeout if timeout is None else timeout):
                reasons = await granted
        except TimeoutError:
            raise MqttError(f"Operation timed out: no answer to the subscription to {topic}") from None
        finally:
            self._subscribing.pop(mid, None)
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            raise MqttError(f"the broker refused the subscription to {topic}: {refused[0]}")

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Any
    ) -> None:
        self._progress += 1
        granted = self._subscribing.get(mid)
        if granted is not None and not granted.done():
            granted.set_result(reasons)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._progress += 1
        try:
            topic = message.topic
        except UnicodeDecodeError:
            log.warning("dropped a message whose topic is not UTF-8")
            if self._options.manual_ack:
                self._paho.ack(message.mid, message.qos)
            return
        payload = message.payload if isinstance(message.payload, bytes) else bytes(message.payload)
        self._inbox.put(Message(topic, payload, message.qos, message.retain, message.mid))

    @property
    def messages(self) -> Inbox:
        """The messages that arrived, as an async iterator; len() is how many wait already."""
        return self._inbox

    def queued_message(self) -> Message | None:
        """A message that has arrived already, without waiting (None when none has)."""
        return self._inbox.take()

    def ack(self, message: Message) -> None:
        """Acknowledge a message received with manual_ack: the broker may forget it now."""
        if self._fd >= 0:
            self._call(self._paho.ack, message.mid, message.qos)


def mqtt_client(address: BrokerAddress, options: ClientOptions | None = None) -> MqttClient:
    """A client for address, with its credentials and TLS, behaving as options say."""
    return MqttClient(address, options or ClientOptions())
