"""A broker when the lab has none running: a private Mosquitto process, else amqtt in-process."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from microdial.errors import BrokerUnreachable
from microdial.mqtt.address import BrokerAddress, reachable

log = logging.getLogger(__name__)


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
    def address(self) -> BrokerAddress:
        return BrokerAddress(host="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return self.address.url

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
