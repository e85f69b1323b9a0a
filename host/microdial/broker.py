"""Finding an MQTT broker, or starting one: a Mosquitto process, else amqtt in-process."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import random
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aiomqtt
import paho.mqtt.client as mqtt
from aiomqtt.exceptions import MqttCodeError
from aiomqtt.types import PahoSocket, PayloadType
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict

from microdial.errors import BrokerUnreachable, ConfigError

log = logging.getLogger(__name__)

DEFAULT_URL = "mqtt://127.0.0.1:1883"


class BrokerAddress(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    # None: unknown (clients try MQTT 5, then 3.1.1); False for brokers known to speak only 3.1.1.
    mqtt5: bool | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConfigError(f"broker URL {url!r}: use mqtt://HOST:PORT or mqtts://HOST:PORT")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as err:
            raise ConfigError(f"broker URL {url!r}: {err}") from None
        if not parts.hostname:
            raise ConfigError(f"broker URL {url!r} names no host: use mqtt://HOST:PORT")
        return cls(host=parts.hostname, port=port, tls=tls, username=parts.username, password=parts.password)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def tls_context(address: BrokerAddress, ca_file: Path | None = None) -> ssl.SSLContext | None:
    """For mqtts:// brokers: the system's CAs, or the lab's own CA file for a self-signed broker."""
    if not address.tls:
        return None
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


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


def mqtt_client(address: BrokerAddress, *, ca_file: Path | None = None, **options: Any) -> MqttClient:
    """An aiomqtt client for address, with its credentials and TLS; options go to aiomqtt.Client."""
    return MqttClient(
        address.host,
        address.port,
        username=address.username,
        password=address.password,
        tls_context=tls_context(address, ca_file),
        **options,
    )


def reachable(address: BrokerAddress, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at the broker's address."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range when there is room there.

    A client reconnecting again and again to a stopped broker on an ephemeral port is, once in
    some thousand tries, given that very port as its own source port and connects to itself
    (TCP simultaneous open); the broker then cannot bind its port when it comes back.
    """
    low = _ephemeral_ports()[0]
    candidates = random.sample(range(10_000, low), min(100, low - 10_000)) if low > 10_000 else []
    for port in [*candidates, 0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise BrokerUnreachable("no free TCP port on 127.0.0.1")


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _wait_listening(address: BrokerAddress, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerUnreachable(f"broker process exited with code {proc.returncode} while starting")
        if reachable(address, timeout=0.2):
            return
        time.sleep(0.02)
    raise BrokerUnreachable(f"no broker listening at {address.url} after {timeout:.0f} s")


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


class MosquittoProcess:
    """A private Mosquitto on a free loopback port, with a persistence file that survives restart()."""

    def __init__(
        self, port: int | None = None, persistence: bool = True, listener: list[str] | None = None
    ) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerUnreachable("mosquitto is not installed: apt-get install mosquitto")
        self.binary = binary
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="microdial-mosquitto-")
        self.config_path = Path(self._dir.name) / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            # TLS, password files and the like for this listener; anonymous by default.
            *(listener or ["allow_anonymous true"]),
            # The daemon and recorder batch and queue themselves; the broker must not drop a
            # persistent subscriber's backlog at the default 1000 messages.
            "max_queued_messages 100000",
            "set_tcp_nodelay true",
            f"persistence {'true' if persistence else 'false'}",
            # Sessions and queued messages reach disk within a second, so even a killed broker
            # comes back knowing its persistent subscribers (the recorder).
            "autosave_interval 1",
            f"persistence_location {self._dir.name}/",
            f"log_dest file {self._dir.name}/mosquitto.log",
            # Started as root, Mosquitto would switch to its own user and could not read or
            # write this private directory (persistence, certificates); stay who we are.
            f"user {getpass.getuser()}",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def directory(self) -> Path:
        return Path(self._dir.name)

    @property
    def address(self) -> BrokerAddress:
        return BrokerAddress(host="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return self.address.url

    @property
    def log_path(self) -> Path:
        return Path(self._dir.name) / "mosquitto.log"

    def start(self, timeout: float = 10.0) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_listening(self.address, self.process, timeout)

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> MosquittoProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@contextlib.asynccontextmanager
async def amqtt_broker(port: int | None = None) -> AsyncIterator[BrokerAddress]:
    """amqtt in this process: the fallback when no broker answers and Mosquitto is not installed."""
    from amqtt.broker import Broker

    address = BrokerAddress(host="127.0.0.1", port=port or free_port(), mqtt5=False)
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{address.host}:{address.port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    try:
        yield address
    finally:
        await broker.shutdown()


@contextlib.asynccontextmanager
async def broker_for(url: str) -> AsyncIterator[BrokerAddress]:
    """The broker at url if one answers there; otherwise an embedded one, for as long as the context."""
    address = BrokerAddress.parse(url)
    if await asyncio.to_thread(reachable, address):
        log.info("using the broker at %s", address.url)
        yield address
        return
    if mosquitto_binary() is not None:
        log.info("no broker at %s: starting Mosquitto on a free port", address.url)
        with MosquittoProcess(persistence=False) as mosquitto:
            yield mosquitto.address
        return
    log.info("no broker at %s and no Mosquitto installed: starting amqtt in-process", address.url)
    async with amqtt_broker() as embedded:
        yield embedded
