"""Discovery without sysfs: port lists as pyserial gives them on Windows, macOS and Linux (fixtures),
then the IDENT → ID handshake against simulated dials and a REPL-like console on real ptys."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from serial.tools.list_ports_common import ListPortInfo

from microdial.device.discovery import PortDiscovery
from microdial.device.transports.serial_ports import DataPorts, candidates, identify
from tests.host.support import make_dial

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "comports.json").read_text())
DIAL_SERIAL = "E6614103E7452D2F"


def recorded(system: str) -> list[ListPortInfo]:
    ports = []
    for fields in FIXTURES[system]:
        port = ListPortInfo(fields["device"], skip_link_detection=True)
        for name, value in fields.items():
            setattr(port, name, value)
        ports.append(port)
    return ports


@contextlib.contextmanager
def repl_console() -> Iterator[str]:
    """A pty that answers like CircuitPython's REPL: it echoes what it gets, then a Python error and a prompt."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    stop = threading.Event()

    def answer() -> None:
        line = b""
        while not stop.is_set():
            try:
                data = os.read(master, 256)
            except OSError:
                return
            os.write(master, data)  # the REPL echoes every character
            line += data
            if b"\n" in line:
                os.write(master, b'Traceback (most recent call last):\r\n  File "<stdin>", line 1\r\n'
                                 b"SyntaxError: invalid syntax\r\n>>> ")  # fmt: skip
                line = b""

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        os.close(slave)
        os.close(master)
        thread.join(2)


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("windows", ["COM3", "COM4"]),
        ("macos", ["/dev/cu.usbmodem14101", "/dev/cu.usbmodem14103"]),
        ("linux", ["/dev/ttyACM1"]),
    ],
)
def test_candidates_are_circuitpython_boards_ports_by_usb_id(system: str, expected: list[str]) -> None:
    # Windows and macOS name no interface, so both of the board's ports stay candidates; Linux's
    # interface name rules its console out at once.
    assert [port.device for port in candidates(recorded(system))] == expected


@pytest.mark.parametrize(
    ("system", "console", "data"),
    [("windows", "COM3", "COM4"), ("macos", "/dev/cu.usbmodem14101", "/dev/cu.usbmodem14103")],
)
def test_the_handshake_picks_the_data_port_and_never_the_console(
    system: str, console: str, data: str
) -> None:
    dial, _ = make_dial(rate_hz=50)
    with repl_console() as repl, dial:
        assert dial.path is not None
        on_pty = {console: repl, data: dial.path}
        asked: list[str] = []

        def handshake(device: str) -> str | None:
            asked.append(device)
            return identify(on_pty[device])

        ports = DataPorts(lambda: recorded(system), handshake)
        assert ports.scan() == {}  # the handshakes run in threads; scan never waits
        ports.wait()
        assert ports.scan() == {DIAL_SERIAL: data}
        assert sorted(asked) == sorted(on_pty)
        ports.scan()
        assert len(asked) == 2  # answered once, remembered while the port is listed


def test_linux_names_the_data_interface_so_nothing_is_asked() -> None:
    asked: list[str] = []
    ports = DataPorts(lambda: recorded("linux"), lambda device: asked.append(device) or None)
    assert ports.scan() == {DIAL_SERIAL: "/dev/ttyACM1"}
    assert asked == []


def test_a_port_that_leaves_is_asked_again_when_it_returns() -> None:
    listed = recorded("windows")
    answers = {"COM3": None, "COM4": "E6614103E7452D2F"}
    asked: list[str] = []

    def handshake(device: str) -> str | None:
        asked.append(device)
        return answers[device]

    ports = DataPorts(lambda: listed, handshake)
    ports.scan()
    ports.wait()
    assert ports.scan() == {DIAL_SERIAL: "COM4"}
    listed = []
    assert ports.scan() == {}
    listed = recorded("windows")
    ports.scan()
    ports.wait()
    assert ports.scan() == {DIAL_SERIAL: "COM4"} and asked.count("COM4") == 2


def test_port_auto_finds_the_dial_on_its_first_look(tmp_path: Path) -> None:
    dial, _ = make_dial(rate_hz=50)
    with repl_console() as repl, dial:
        on_pty = {"COM3": repl, "COM4": dial.path}
        discovery = PortDiscovery(
            "auto", data_ports=DataPorts(lambda: recorded("windows"), lambda d: identify(on_pty[d]))
        )
        found = discovery.scan()
        assert list(found) == [DIAL_SERIAL]
        assert found[DIAL_SERIAL]().location == "COM4"


def test_identify_reads_the_id_of_a_simulated_dial_and_nothing_from_a_console() -> None:
    dial, _ = make_dial(rate_hz=200)
    with repl_console() as repl, dial:
        assert dial.path is not None
        assert identify(dial.path) == dial.device_id
        assert identify(repl) is None
    assert identify("/dev/nonexistent-port") is None
