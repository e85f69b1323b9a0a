"""SerialTransport on real pseudo-terminals: reading, writing, a port that vanishes, a port that is missing."""

from __future__ import annotations

import contextlib
import os
import tty

import pytest

from microdial.daemon import check_ports
from microdial.device.discovery import PortDiscovery
from microdial.device.transports.serial import SerialTransport
from microdial.errors import ConfigError, TransportError
from tests.host.support import Chunks


@pytest.fixture
def pty_pair():  # type: ignore[no-untyped-def]
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    yield master, path
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)


async def test_reads_and_writes_bytes(pty_pair) -> None:  # type: ignore[no-untyped-def]
    master, path = pty_pair
    transport, chunks = SerialTransport(path), Chunks()
    await transport.open(chunks)
    try:
        os.write(master, b"$S,1,2,3*ABCD\r\n")
        received = b""
        while len(received) < 15:
            received += await chunks.get()
        assert received == b"$S,1,2,3*ABCD\r\n"
        await transport.write(b"$ZERO*BEFB\r\n")
        assert os.read(master, 100) == b"$ZERO*BEFB\r\n"
    finally:
        await transport.close()


async def test_port_that_goes_away_raises_transport_error(pty_pair) -> None:  # type: ignore[no-untyped-def]
    master, path = pty_pair
    transport, chunks = SerialTransport(path), Chunks()
    await transport.open(chunks)
    os.write(master, b"hello")
    assert await chunks.get() == b"hello"
    os.close(master)  # the far end closes, like a dial being unplugged
    with pytest.raises(TransportError, match="went away"):
        while True:
            await chunks.get()
    await transport.close()


async def test_missing_port_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TransportError, match="plugged in"):
        await SerialTransport(str(tmp_path / "ttyACM9")).open(Chunks())
    with pytest.raises(TransportError, match="--port"):
        check_ports(str(tmp_path / "ttyACM9"))


def test_auto_finds_no_dial_on_a_machine_without_one() -> None:
    # This machine has no CircuitPython board attached (only pseudo-terminals): auto finds nothing.
    assert PortDiscovery("auto").scan() == {}


def test_hid_discovery_finds_no_dial_here_and_wants_auto() -> None:
    # Real hidapi enumeration: no HID dial is attached to this machine.
    assert PortDiscovery("auto", "hid").scan() == {}
    with pytest.raises(ConfigError, match="--port auto"):
        PortDiscovery("/dev/hidraw0", "hid")


def test_glob_discovery_follows_links_appearing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    discovery = PortDiscovery(str(tmp_path / "dial*"))
    assert discovery.scan() == {}
    (tmp_path / "dial1").symlink_to("/dev/null")
    (tmp_path / "dial2").symlink_to("/dev/null")
    assert sorted(discovery.scan()) == [str(tmp_path / "dial1"), str(tmp_path / "dial2")]
