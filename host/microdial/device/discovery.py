"""Which dials are there: what each transport finds (serial ports, HID devices, given paths), followed across hot-plug."""

from __future__ import annotations

import glob
from collections.abc import Callable
from typing import Literal

from microdial.device.transports.base import Receiver, Transport
from microdial.device.transports.serial import IoMode, SerialTransport
from microdial.device.transports.serial_ports import DataPorts
from microdial.errors import ConfigError, TransportError

TransportFactory = Callable[[], Transport]


class PortDiscovery:
    """Turns the --port setting into the dial connections present now, called again to follow hot-plug.

    - `auto`: every CircuitPython data port (transports/serial_ports.py: USB ids, then the IDENT
      handshake), keyed by its USB serial number, so a dial that comes back under another
      /dev/ttyACM or COM name is the same connection;
    - a glob such as `/tmp/dials/*`: every matching path (simulated dials with --link);
    - comma-separated paths: exactly those, even while missing (their runners wait for them).
    """

    def __init__(
        self,
        spec: str,
        transport: Literal["serial", "hid"] = "serial",
        io: IoMode = "auto",
        data_ports: DataPorts | None = None,
    ) -> None:
        if transport == "hid" and spec != "auto":
            raise ConfigError(
                "with --transport hid, give --port auto: HID dials are found by their usage page"
            )
        self.spec = spec
        self.transport = transport
        self.io = io
        self._auto_paths: dict[str, str] = {}
        self.data_ports = data_ports or DataPorts()

    def scan(self) -> dict[str, TransportFactory]:
        if self.transport == "hid":
            return self._scan_hid()
        if self.spec == "auto":
            return self._scan_auto()
        found: dict[str, TransportFactory] = {}
        for part in (p.strip() for p in self.spec.split(",") if p.strip()):
            paths = sorted(glob.glob(part)) if glob.has_magic(part) else [part]
            for path in paths:
                found[path] = _serial_factory(path, self.io)
        return found

    def _scan_auto(self) -> dict[str, TransportFactory]:
        if not self._auto_paths:
            # The first look waits for the handshakes it starts (a second or so, before any dial
            # runs), so a command that starts with its dials plugged in finds them at once.
            self.data_ports.scan()
            self.data_ports.wait()
        self._auto_paths.update(self.data_ports.scan())
        return {key: self._follow(key) for key in self._auto_paths}

    def _scan_hid(self) -> dict[str, TransportFactory]:
        from microdial.device.transports.hid import find_hid_dials

        return {path.decode(errors="replace"): _hid_factory(path) for path in find_hid_dials()}

    def _follow(self, key: str) -> TransportFactory:
        def open_current() -> Transport:
            path = self.data_ports.scan().get(key)
            return _Absent(self._auto_paths.get(key, key)) if path is None else SerialTransport(path, self.io)

        return open_current


def _serial_factory(path: str, io: IoMode) -> TransportFactory:
    return lambda: SerialTransport(path, io)


def _hid_factory(path: bytes) -> TransportFactory:
    from microdial.device.transports.hid import HidTransport

    return lambda: HidTransport(path)


class _Absent(SerialTransport):
    """The port of a dial that is unplugged now: opening it fails until it returns."""

    async def open(self, receiver: Receiver) -> None:
        raise TransportError(f"{self.location} is unplugged")
