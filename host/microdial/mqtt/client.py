"""The MQTT client: the only module that knows paho-mqtt (with paho_loop.py, its I/O half), and
only through paho's public API. Callers see ClientOptions, Message, Delivery and the errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
    ProtocolChoice,
    PublishRefused,
    SubscriptionRefused,
    Will,
)
from microdial.mqtt.paho_loop import PahoLoop

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
    "ProtocolChoice",
    "PublishRefused",
    "SubscriptionRefused",
    "Will",
    "mqtt_client",
]

log = logging.getLogger(__name__)

Payload = bytes | bytearray | str | None
# CONNACK "Unsupported protocol version" (paho reports 3.1.1's code 1 as this too).
UNSUPPORTED_PROTOCOL = 0x84


class MqttClient:
    """One connection to a broker, entered with `async with`; leave and enter again to reconnect."""

    def __init__(self, address: BrokerAddress, options: ClientOptions) -> None:
        self._address = address
        self._options = options
        self._protocol: MqttProtocol = "3.1.1" if options.protocol == "3.1.1" else "5"
        self._io = PahoLoop(self._paho_client())
        self._unacked: dict[int, Delivery] = {}
        self._subscribing: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._inbox = Inbox()
        self._connack: asyncio.Future[None] | None = None
        # Resolved (never with an exception: nobody might retrieve it) once the connection is gone.
        self._gone: asyncio.Future[None] | None = None
        self._error: MqttError | None = None
        self._closing = False
        self._hung_up = False  # the broker closed the connection before answering the CONNECT

    def _paho_client(self) -> mqtt.Client:
        options, address, v5 = self._options, self._address, self._protocol == "5"
        paho = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=options.identifier,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else not options.persistent,
            reconnect_on_failure=False,
        )
        paho.on_connect = self._on_connect
        paho.on_disconnect = self._on_disconnect
        paho.on_message = self._on_message
        paho.on_publish = self._on_publish
        paho.on_subscribe = self._on_subscribe
        # paho's own log ("failed to receive on socket" at ERROR on every broker stop) is detail
        # for -v: the failure itself reaches the caller as an MqttError, which says it in our words.
        if log.isEnabledFor(logging.DEBUG):
            paho.on_log = _paho_log
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
        return paho

    # -- connection -----------------------------------------------------------------------
    @property
    def protocol(self) -> MqttProtocol:
        """The MQTT version spoken: 3.1.1 once a broker refused MQTT 5 to an "auto" client."""
        return self._protocol

    async def __aenter__(self) -> Self:
        if self._gone is not None and not self._gone.done():
            raise MqttError("already connected: leave the `async with` before entering it again")
        try:
            await self._connect()
        except MqttError as err:
            # amqtt and older brokers refuse MQTT 5 ("unsupported protocol version") or hang up.
            unsupported = isinstance(err, ConnectRefused) and err.code == UNSUPPORTED_PROTOCOL
            if (
                self._options.protocol != "auto"
                or self._protocol != "5"
                or not (unsupported or self._hung_up)
            ):
                raise
            log.info("%s does not speak MQTT 5 (%s): using 3.1.1", self._address.url, err)
            self._protocol = "3.1.1"
            self._io = PahoLoop(self._paho_client())
            await self._connect()
        return self

    async def _connect(self) -> None:
        io = asyncio.get_running_loop()
        self._connack, self._gone = io.create_future(), io.create_future()
        self._error, self._closing, self._hung_up = None, False, False
        self._inbox.open(keep=not self._options.manual_ack)
        v5, options, address = self._protocol == "5", self._options, self._address
        properties = None
        if v5 and options.persistent:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = options.session_expiry
        session: dict[str, Any] = {"clean_start": not options.persistent} if v5 else {}
        paho = self._io.paho
        # paho's connect blocks (DNS, TCP, TLS handshake): a worker thread takes it. paho calls
        # no callback of ours there; the socket is served from the loop below.
        connecting = io.run_in_executor(
            None,
            lambda: paho.connect(
                address.host, address.port, options.keepalive, properties=properties, **session
            ),
        )
        try:
            await asyncio.shield(connecting)
        except asyncio.CancelledError:
            # The thread connects all the same: close what it opens rather than leave it to GC.
            connecting.add_done_callback(self._close_late)
            self._lost(MqttError("Connection cancelled"))
            raise
        except (OSError, ValueError) as err:
            self._lost(MqttError(f"cannot connect to {address.url}: {err}"))
            raise MqttError(f"cannot connect to {address.url}: {err}") from None
        self._io.attach()
        try:
            async with asyncio.timeout(options.timeout):
                await self._connack
        except BaseException as err:
            self._io.close()
            self._lost(MqttError("Connection closed"))
            if isinstance(err, TimeoutError):
                raise MqttError(f"Operation timed out: {address.url} did not answer the CONNECT") from None
            raise

    def _close_late(self, connecting: asyncio.Future[Any]) -> None:
        if not connecting.cancelled():
            connecting.exception()  # nobody waits for this connection any more, nor its failure
        self._io.close()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        gone = self._gone
        if gone is None or gone.done():
            return
        self._closing = True
        self._io.call(self._io.paho.disconnect)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._options.timeout):
                    await asyncio.shield(gone)  # paho closes the socket once DISCONNECT is written
        finally:
            self._io.close()
            self._lost(MqttError("Connection closed"))

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self._io.progress += 1
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
        self._io.progress += 1
        if self._connack is not None and not self._connack.done():
            self._hung_up = True
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
        info = self._io.call(self._io.paho.publish, topic, payload, qos, retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttError(f"Connection lost: could not publish ({mqtt.error_string(info.rc)})")
        future = None if on_done else asyncio.get_running_loop().create_future()
        delivery = Delivery(info.mid, future, on_done)
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
        self._io.progress += 1
        delivery = self._unacked.pop(mid, None)
        if delivery is not None:
            failed = reason.is_failure  # MQTT 5: e.g. not authorised to publish there
            delivery.fail(PublishRefused(f"the broker refused the message: {reason}") if failed else None)

    # -- receiving ------------------------------------------------------------------------
    async def subscribe(self, topic: str, qos: int = 0, timeout: float | None = None) -> None:
        """Subscribe and wait for the broker's answer; a refusal raises MqttError."""
        if self._gone is None or self._gone.done():
            raise MqttError("Not connected")
        rc, mid = self._io.call(self._io.paho.subscribe, topic, qos)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(f"could not subscribe to {topic}: {mqtt.error_string(rc)}")
        granted = self._subscribing[mid] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self._options.timeout if timeout is None else timeout):
                reasons = await granted
        except TimeoutError:
            raise MqttError(f"Operation timed out: no answer to the subscription to {topic}") from None
        finally:
            self._subscribing.pop(mid, None)
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            raise SubscriptionRefused(f"the broker refused the subscription to {topic}: {refused[0]}")

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Any
    ) -> None:
        self._io.progress += 1
        granted = self._subscribing.get(mid)
        if granted is not None and not granted.done():
            granted.set_result(reasons)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._io.progress += 1
        try:
            topic = message.topic
        except UnicodeDecodeError:
            log.warning("dropped a message whose topic is not UTF-8")
            if self._options.manual_ack:
                client.ack(message.mid, message.qos)
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
        if self._io.open:
            self._io.call(self._io.paho.ack, message.mid, message.qos)


def _paho_log(client: mqtt.Client, userdata: Any, level: int, message: str) -> None:
    log.debug("paho: %s", message)


def mqtt_client(address: BrokerAddress, options: ClientOptions | None = None) -> MqttClient:
    """A client for address, with its credentials and TLS, behaving as options say."""
    return MqttClient(address, options or ClientOptions())
