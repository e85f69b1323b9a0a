"""Fake of CircuitPython's `usb_hid` (no microcontroller, and no USB host, exists here): the test is
the host, taking IN reports from `sent` and delivering OUT reports with receive()."""

from __future__ import annotations

import errno
import types
from collections import deque
from collections.abc import Sequence

from microdial.sim.fakes.board import module


class HidDevice:
    """usb_hid.Device. The host side is the test's: it sets `polling` (whether the host polls the
    IN endpoint) and takes reports from `sent`; it delivers OUT reports with receive()."""

    def __init__(
        self,
        *,
        report_descriptor: bytes,
        usage_page: int,
        usage: int,
        report_ids: Sequence[int],
        in_report_lengths: Sequence[int],
        out_report_lengths: Sequence[int],
    ) -> None:
        self.report_descriptor = bytes(report_descriptor)
        self.usage_page = usage_page
        self.usage = usage
        self.report_ids = tuple(report_ids)
        self.in_report_lengths = tuple(in_report_lengths)
        self.out_report_lengths = tuple(out_report_lengths)
        self.sent: deque[bytes] = deque(maxlen=4096)
        self.polling = True
        self._last_out: bytes | None = None

    def _index(self, report_id: int | None) -> int:
        return self.report_ids.index(self.report_ids[0] if report_id is None else report_id)

    def send_report(self, report: bytes | bytearray, report_id: int | None = None) -> None:
        expected = self.in_report_lengths[self._index(report_id)]
        if len(report) != expected:
            raise ValueError(f"report length must be {expected}")
        if not self.polling:
            # What CircuitPython raises after waiting 2 s for a host that does not poll.
            raise OSError(errno.EIO, "USB busy")
        self.sent.append(bytes(report))

    def receive(self, report: bytes) -> None:
        """An OUT report from the host; like the real device, only the latest one is kept."""
        if len(report) != self.out_report_lengths[0]:
            raise ValueError("wrong OUT report length")
        self._last_out = bytes(report)

    def get_last_received_report(self, report_id: int | None = None) -> bytes | None:
        self._index(report_id)
        report, self._last_out = self._last_out, None
        return report


def usb_hid_module() -> types.ModuleType:
    """usb_hid: `devices` holds what boot.py enabled."""
    made = module("usb_hid", Device=HidDevice, devices=())

    def enable(devices: Sequence[HidDevice], boot_device: int = 0) -> None:
        made.__dict__["devices"] = tuple(devices)

    def disable() -> None:
        made.__dict__["devices"] = ()

    made.__dict__["enable"] = enable
    made.__dict__["disable"] = disable
    return made
