"""The host's HID transport against the real firmware, over a fake USB bus.

No virtual HID device can exist in this environment (no uhid, no USB gadget), so hidapi's
device object is faked here (FakeHidapiDevice) and wired to the fake usb_hid.Device of
microdial.sim.fakes, behind which the real firmware (dialfw) runs in a thread on the real clock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from microdial.device.transports import hid as hid_transport
from microdial.device.transports.hid import HidTransport, find_hid_dials, pack_reports
from microdial.errors import TransportError
from microdial.sim import fakes
from tests.host.support import Chunks

fakes.install()

from dialfw import app, hid  # noqa: E402
from dialfw.clock import Clock  # noqa: E402
from dialfw.settings import load  # noqa: E402
from dialwire import Framer, encode  # noqa: E402

PATH = b"/dev/hidraw-fake0"


class FakeHidapiDevice:
    """hid.device() as hidapi gives it, for a dial whose reports travel over a fake bus."""

    def __init__(self, usb: Any) -> None:
        self.usb = usb
        self.gone = False
        self.closed = False
        self.writes: list[bytes] = []
        self._last_write = 0.0

    def open_path(self, path: bytes) -> None:
        if path != PATH:
            raise OSError("open failed")

    def read(self, max_length: int, timeout_ms: int = 0) -> list[int]:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if self.gone:
                raise OSError("read error")
            if self.usb.sent:
                return list(self.usb.sent.popleft())[:max_length]
            if time.monotonic() >= deadline:
                return []
            time.sleep(0.001)

    def write(self, buff: bytes) -> int:
        if self.gone:
            raise OSError("write error")
        data = bytes(buff)
        assert data[0] == 0, "report id 0: the dial's reports have none"
        # The interrupt OUT endpoint takes one report per 8 ms poll.
        wait = self._last_write + 0.008 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_write = time.monotonic()
        self.usb.receive(data[1:])
        self.writes.append(data)
        return len(data)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def usb_dial() -> Iterator[Any]:
    usb = hid.device()
    settings, problems = load({"MICRODIAL_USB_MODE": "hid"}.get)
    dial = app.build(settings, problems, clock=Clock(), uid=b"\xab\xcd", hid_device=usb)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            dial.step()
            time.sleep(app.IDLE_S)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield usb
    stop.set()
    thread.join()


@pytest.fixture
async def transport(usb_dial: Any) -> AsyncIterator[tuple[HidTransport, FakeHidapiDevice, Chunks]]:
    device, chunks = FakeHidapiDevice(usb_dial), Chunks()
    opened = HidTransport(PATH, device_factory=lambda: device)
    await opened.open(chunks)
    yield opened, device, chunks
    await opened.close()


async def next_record(chunks: Chunks, framer: Framer, kind: str, pending: list[Any]) -> list[Any]:
    async def find() -> list[Any]:
        while True:
            while pending:
                got = pending.pop(0)
                if got[0] == kind:
                    return list(got[1])
            pending.extend(framer.feed(await chunks.get()))

    return await asyncio.wait_for(find(), 3)


async def test_streams_and_answers_commands(transport: Any) -> None:
    t, _, chunks = transport
    framer, pending = Framer(), []
    assert (await next_record(chunks, framer, "ID", pending))[2:4] == ["ABCD", "encoder"]
    await next_record(chunks, framer, "S", pending)
    await t.write(encode("PING", (99,)))
    assert (await next_record(chunks, framer, "PONG", pending))[0] == 99
    await t.write(encode("RATE", (100,)))
    assert await next_record(chunks, framer, "ACK", pending) == ["RATE", "ok", "100"]
    assert framer.bad_records == 0


async def test_keepalives_go_out_without_any_command(usb_dial: Any) -> None:
    device = FakeHidapiDevice(usb_dial)
    t = HidTransport(PATH, device_factory=lambda: device, keepalive_s=0.05)
    await t.open(Chunks())
    try:
        assert device.writes == [hid_transport.KEEPALIVE]  # at once on open: the dial starts streaming
        for _ in range(100):
            if len(device.writes) >= 3:
                break
            await asyncio.sleep(0.01)
        assert device.writes[:3] == [hid_transport.KEEPALIVE] * 3
    finally:
        await t.close()
    assert device.closed


async def test_unplugged_dial_is_a_transport_error(transport: Any) -> None:
    t, device, chunks = transport
    framer, pending = Framer(), []
    await next_record(chunks, framer, "S", pending)
    device.gone = True
    with pytest.raises(TransportError, match="went away"):
        await asyncio.wait_for(next_record(chunks, framer, "never", pending), 3)
    with pytest.raises(TransportError, match="cannot write"):
        await t.write(encode("IDENT"))


async def test_open_failure_is_clear(usb_dial: Any) -> None:
    t = HidTransport(b"/dev/hidraw-missing", device_factory=lambda: FakeHidapiDevice(usb_dial))
    with pytest.raises(TransportError, match="cannot open HID dial /dev/hidraw-missing"):
        await t.open(Chunks())


def test_pack_reports_splits_long_data() -> None:
    data = bytes(range(100))
    reports = pack_reports(data)
    assert [len(r) for r in reports] == [65, 65]
    assert [r[1] for r in reports] == [63, 37]
    assert reports[0][2:65] + reports[1][2 : 2 + 37] == data


def test_finds_dials_by_usage_page(monkeypatch: Any) -> None:
    import hid as hidapi

    monkeypatch.setattr(
        hidapi,
        "enumerate",
        lambda *a: [
            {"path": b"/dev/hidraw3", "usage_page": 0xFF00, "usage": 1},
            {"path": b"/dev/hidraw1", "usage_page": 0x01, "usage": 6},  # a keyboard
            {"path": b"/dev/hidraw2", "usage_page": 0xFF00, "usage": 1},
        ],
    )
    assert find_hid_dials() == [b"/dev/hidraw2", b"/dev/hidraw3"]
