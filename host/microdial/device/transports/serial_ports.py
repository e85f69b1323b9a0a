"""Which serial ports are dials' data ports, on any OS: USB ids first, then the protocol's own handshake.

A CircuitPython dial shows two serial ports: the console (REPL) and the data port. Linux names
their USB interfaces ("CircuitPython CDC control", "CircuitPython CDC2 control"); Windows lists
both as "USB Serial Device (COMn)" and macOS as /dev/cu.usbmodem…, with no interface name. So:
candidates are the ports of CircuitPython boards (USB vendor id, serial number), and a candidate
whose interface does not say which it is becomes a data port only once it answers IDENT with an
ID record (protocol/SPEC.md §2). A console echoes the command or prints a REPL error; it never
sends a framed, checksummed ID, so it is never taken for a data port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import serial
import serial.tools.list_ports

from dialwire import Framer, encode

# CircuitPython's interface names, where the OS reports them (Linux).
DATA_INTERFACE = "CircuitPython CDC2"
CONSOLE_INTERFACE = "CircuitPython CDC control"

#: USB vendor ids of CircuitPython RP2040/RP2350 boards: Adafruit's 0x239A (also CircuitPython's
#: Raspberry Pi Pico, PID 0x80F4) and Raspberry Pi's 0x2E8A (Pico 2 and many RP2040 boards).
CIRCUITPYTHON_VIDS = frozenset({0x239A, 0x2E8A})

#: How long a candidate has to answer IDENT: the dial answers at once and sends an ID every 10 s anyway.
HANDSHAKE_S = 1.5


class PortInfo(Protocol):
    """The documented fields of pyserial's ListPortInfo that discovery reads."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    interface: str | None


ListPorts = Callable[[], Iterable[PortInfo]]
Handshake = Callable[[str], str | None]


def candidates(ports: Iterable[PortInfo], vids: frozenset[int] = CIRCUITPYTHON_VIDS) -> list[PortInfo]:
    """Ports that may be a dial's data port: a CircuitPython board's, and not its console where that is known."""
    return [port for port in ports if port.vid in vids and CONSOLE_INTERFACE not in (port.interface or "")]


def identify(device: str, timeout: float = HANDSHAKE_S) -> str | None:
    """The dial's device id if device answers IDENT with an ID record within timeout, else None."""
    try:
        port = serial.Serial(device, timeout=0.1, write_timeout=0.5, exclusive=True)
    except (serial.SerialException, OSError, ValueError):
        return None  # busy (our own runner has it), gone, or not a port
    framer = Framer()
    try:
        port.write(encode("IDENT"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for kind, fields in framer.feed(port.read(max(1, port.in_waiting))):
                if kind == "ID":
                    return str(fields[2])
    except (serial.SerialException, OSError):
        return None
    finally:
        port.close()
    return None


class DataPorts:
    """Data ports found so far (USB serial number, else path → path), with handshakes in threads.

    scan() never blocks: it starts a handshake for each new candidate and returns what is confirmed;
    a port that leaves the list is forgotten, so it is checked again when it returns.
    """

    def __init__(
        self,
        list_ports: ListPorts = serial.tools.list_ports.comports,
        handshake: Handshake = identify,
        vids: frozenset[int] = CIRCUITPYTHON_VIDS,
    ) -> None:
        self._list_ports = list_ports
        self._handshake = handshake
        self._vids = vids
        self._lock = threading.Lock()
        self._verdicts: dict[tuple[str, str | None], bool] = {}
        self._probes: dict[tuple[str, str | None], threading.Thread] = {}

    def scan(self) -> dict[str, str]:
        listed = candidates(self._list_ports(), self._vids)
        found: dict[str, str] = {}
        with self._lock:
            present = {(port.device, port.serial_number) for port in listed}
            for gone in set(self._verdicts) - present:
                del self._verdicts[gone]
            for port in listed:
                key = (port.device, port.serial_number)
                if DATA_INTERFACE in (port.interface or ""):
                    self._verdicts[key] = True  # the OS named it: no need to ask
                if self._verdicts.get(key):
                    found[port.serial_number or port.device] = port.device
                elif key not in self._verdicts and key not in self._probes:
                    probe = threading.Thread(
                        target=self._probe, args=(key,), name=f"probe-{port.device}", daemon=True
                    )
                    self._probes[key] = probe
                    probe.start()
        return found

    def _probe(self, key: tuple[str, str | None]) -> None:
        verdict = self._handshake(key[0]) is not None
        with self._lock:
            self._verdicts[key] = verdict
            del self._probes[key]

    def wait(self, timeout: float = HANDSHAKE_S + 1.0) -> None:
        """Until the handshakes started so far have ended (the first scan of a command that waits)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            probes = list(self._probes.values())
        for probe in probes:
            probe.join(max(0.0, deadline - time.monotonic()))


def data_ports() -> dict[str, str]:
    """Every connected dial data port now (handshakes included, so this takes up to a second or two)."""
    finder = DataPorts()
    finder.scan()
    finder.wait()
    return finder.scan()
