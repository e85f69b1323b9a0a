"""HID mode of the firmware under the fake usb_hid of microdial.sim.fakes (a fake of
CircuitPython's own module; no virtual USB HID device can exist in this environment), and
boot.py choosing the USB mode."""

from __future__ import annotations

import itertools
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest

from microdial.sim import fakes

fakes.install()


from dialfw import app, hid  # noqa: E402
from dialfw.clock import Clock  # noqa: E402
from dialfw.settings import load  # noqa: E402
from dialwire import Framer, encode  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KEEPALIVE = bytes(64)


class HidDial:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.now_ns = 0
        self.clock = Clock(ns_source=lambda: self.now_ns, ticks_source=lambda: fakes.TICKS_START, origin=0)
        self.device = hid.device()
        settings, problems = load({"MICRODIAL_USB_MODE": "hid", **(env or {})}.get)
        self.dial: Any = app.build(
            settings, problems, clock=self.clock, uid=b"\x01\x02", hid_device=self.device
        )
        self.framer = Framer()
        self.reports: list[bytes] = []

    def run(self, ms: float, every_ms: float = 1.0) -> None:
        for _ in range(int(ms / every_ms)):
            self.now_ns += int(every_ms * 1e6)
            self.dial.step()

    def host_sends(self, data: bytes) -> None:
        self.device.receive(bytes([len(data)]) + data + bytes(63 - len(data)))

    def records(self) -> list[tuple[str, list[Any]]]:
        out = []
        while self.device.sent:
            report = self.device.sent.popleft()
            self.reports.append(report)
            assert len(report) == 64 and report[0] <= 63
            out += self.framer.feed(report[1 : 1 + report[0]])
        return out


def test_descriptor_declares_vendor_page_and_64_byte_reports() -> None:
    d = hid.REPORT_DESCRIPTOR
    assert d[:3] == bytes((0x06, 0x00, 0xFF)) and d[-1] == 0xC0
    assert d.count(bytes((0x95, 64))) == 2
    assert bytes((0x81, 0x02)) in d and bytes((0x91, 0x02)) in d
    device = hid.device()
    assert (device.usage_page, device.usage, device.report_ids) == (0xFF00, 1, (0,))
    assert device.in_report_lengths == (64,) and device.out_report_lengths == (64,)


def test_silent_until_the_host_speaks_then_streams() -> None:
    dial = HidDial()
    dial.run(1000)
    assert dial.records() == []
    assert dial.dial.link.dropped_records == 0
    dial.host_sends(b"")  # keep-alive
    dial.run(1000)
    got = dial.records()
    kinds = [k for k, _ in got]
    assert kinds.count("ID") == 1 and 45 <= kinds.count("S") <= 51
    assert dial.framer.bad_records == 0 and dial.framer.skipped_bytes == 0


def test_reports_pack_several_records_at_most_one_per_poll_interval() -> None:
    dial = HidDial({"MICRODIAL_RATE_HZ": "200"})
    dial.host_sends(b"")
    dial.run(1000)
    got = dial.records()
    assert len(dial.reports) <= 126
    assert max(r[0] for r in dial.reports) == 63  # full reports carry parts of several records
    seqs = [f[0] for k, f in got if k == "S"]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # 200 Hz fits: nothing lost
    assert len(seqs) >= 190
    assert dial.dial.link.dropped_records == 0


def test_commands_in_out_reports() -> None:
    dial = HidDial()
    dial.host_sends(b"")
    dial.run(300)
    dial.records()
    dial.host_sends(encode("PING", (12,)))
    dial.run(20)
    assert ("PONG", [12, 301_000]) in dial.records()
    dial.host_sends(encode("RATE", (1000,)))
    dial.run(20)
    assert ("ACK", ["RATE", "ok", "1000"]) in dial.records()


def test_too_fast_for_hid_counts_drops_and_never_blocks() -> None:
    dial = HidDial()
    dial.host_sends(b"")
    dial.host_sends(b"")
    dial.run(5)
    dial.host_sends(encode("RATE", (1000,)))
    got = []
    for _ in range(4):
        dial.run(1000)
        dial.host_sends(b"")
        got += dial.records()
    link = dial.dial.link
    assert link.dropped_records > 1000
    seqs = [f[0] for k, f in got if k == "S"]
    assert len(seqs) < 4 * 400  # what 125 reports/s can carry
    lost = sum(b - a - 1 for a, b in itertools.pairwise(seqs))
    assert lost > 1000  # the host sees the drops as sequence gaps
    assert dial.framer.bad_records == 0  # whole records are dropped, never parts


def test_host_that_stops_polling_or_goes_quiet_stops_the_stream() -> None:
    dial = HidDial()
    dial.host_sends(b"")
    dial.run(500)
    dial.records()
    dial.device.polling = False
    dial.run(100)
    assert not dial.dial.link.connected
    dial.device.polling = True
    dial.run(100)
    assert dial.records() == []
    dial.host_sends(b"")
    dial.run(300)
    assert dial.records()
    dial.run(6000)  # no keep-alive for more than 5 s
    dial.records()
    assert not dial.dial.link.connected
    dial.run(500)
    assert dial.records() == []


@pytest.mark.parametrize(("mode", "data", "hid_devices"), [("serial", True, 0), ("hid", False, 1)])
def test_boot_py_enables_the_chosen_usb_mode(
    monkeypatch: Any, mode: str, data: bool, hid_devices: int
) -> None:
    monkeypatch.setenv("MICRODIAL_USB_MODE", mode)
    usb_cdc, usb_hid = sys.modules["usb_cdc"], sys.modules["usb_hid"]
    monkeypatch.setattr(usb_cdc, "data", None)
    monkeypatch.setattr(usb_hid, "devices", ())
    monkeypatch.setenv("MICRODIAL_LABEL", "client 2")
    runpy.run_path(str(ROOT / "firmware/boot.py"))
    assert sys.modules["supervisor"].state.usb_identification["product"] == "microdial client 2"
    assert usb_cdc.enabled == {"console": True, "data": data}
    assert (usb_cdc.data is not None) == data
    assert len(usb_hid.devices) == hid_devices
    if hid_devices:
        assert hid.find_device(usb_hid.devices) is usb_hid.devices[0]
        found = app.build_link(load()[0], None, None, Clock(ns_source=lambda: 0))
        assert isinstance(found, hid.HidLink)
