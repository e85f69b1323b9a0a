"""USB HID mode: the same wire stream, carried in 64-byte vendor-defined HID reports.

For hosts where a serial port is awkward (no driver, locked-down machines). Each report is
[count, count bytes of the wire stream, zero padding]; several records share a report, since
the host polls the endpoint only every 8 ms (~125 reports/s, about 7.8 kB/s: enough for 50 Hz
and well beyond, not for 1000 Hz). The host sends reports the same way; an empty one is its
keep-alive. usb_hid.Device.send_report() waits up to 2 s for the host to take the previous
report, so the port sends at most one report per poll interval, and only while the host has
shown it is there (any report within the last KEEPALIVE_US); a slow send marks the host gone.
"""

from dialfw.link import Link

USAGE_PAGE = 0xFF00
USAGE = 0x01
REPORT_LENGTH = 64
PAYLOAD = REPORT_LENGTH - 1

REPORT_DESCRIPTOR = bytes(
    (
        0x06, 0x00, 0xFF,  # Usage Page (Vendor Defined 0xFF00)
        0x09, 0x01,  # Usage (0x01)
        0xA1, 0x01,  # Collection (Application)
        0x09, 0x02,  #   Usage (0x02): device -> host stream
        0x15, 0x00,  #   Logical Minimum (0)
        0x26, 0xFF, 0x00,  #   Logical Maximum (255)
        0x75, 0x08,  #   Report Size (8)
        0x95, REPORT_LENGTH,  #   Report Count (64)
        0x81, 0x02,  #   Input (Data, Variable, Absolute)
        0x09, 0x03,  #   Usage (0x03): host -> device stream
        0x15, 0x00,  #   Logical Minimum (0)
        0x26, 0xFF, 0x00,  #   Logical Maximum (255)
        0x75, 0x08,  #   Report Size (8)
        0x95, REPORT_LENGTH,  #   Report Count (64)
        0x91, 0x02,  #   Output (Data, Variable, Absolute)
        0xC0,  # End Collection
    )
)  # fmt: skip

POLL_US = 8000
KEEPALIVE_US = 5000000
# A send_report that takes this long was waiting for a host that stopped polling.
SLOW_SEND_US = 50000
BUFFER = 512


def device():
    """The usb_hid.Device for boot.py (report id 0: reports carry no id byte)."""
    import usb_hid

    return usb_hid.Device(
        report_descriptor=REPORT_DESCRIPTOR,
        usage_page=USAGE_PAGE,
        usage=USAGE,
        report_ids=(0,),
        in_report_lengths=(REPORT_LENGTH,),
        out_report_lengths=(REPORT_LENGTH,),
    )


def find_device(devices):
    for candidate in devices:
        if candidate.usage_page == USAGE_PAGE and candidate.usage == USAGE:
            return candidate
    return None


class HidPort:
    """What dialfw.link.Link needs from usb_cdc.Serial, over a HID device; pump() sends reports."""

    def __init__(self, hid_device, now_us):
        self.device = hid_device
        self.now_us = now_us
        self.timeout = 0
        self.write_timeout = 0
        self._out = bytearray(BUFFER)
        self._fill = 0
        self._report = bytearray(REPORT_LENGTH)
        self._in = b""
        self._heard_at = None
        self._sent_at = None
        self.reports_sent = 0
        self.slow_sends = 0

    @property
    def connected(self):
        heard = self._heard_at
        return heard is not None and self.now_us() - heard < KEEPALIVE_US

    def _receive(self):
        report = self.device.get_last_received_report()
        if report is None:
            return
        self._heard_at = self.now_us()
        count = report[0]
        if 0 < count <= PAYLOAD:
            self._in = self._in + bytes(report[1 : 1 + count])

    @property
    def in_waiting(self):
        self._receive()
        return len(self._in)

    def read(self, size=-1):
        if size < 0 or size >= len(self._in):
            data, self._in = self._in, b""
        else:
            data, self._in = self._in[:size], self._in[size:]
        return data

    def write(self, data):
        room = BUFFER - self._fill
        count = len(data) if len(data) <= room else room
        self._out[self._fill : self._fill + count] = data[:count]
        self._fill += count
        return count

    def pump(self):
        """Send one report if one is due: at most one per host poll interval."""
        if not self._fill:
            return
        now = self.now_us()
        if self._sent_at is not None and now - self._sent_at < POLL_US:
            return
        if not self.connected:
            self._fill = 0
            return
        count = self._fill if self._fill <= PAYLOAD else PAYLOAD
        report = self._report
        report[0] = count
        report[1 : 1 + count] = self._out[:count]
        for i in range(1 + count, REPORT_LENGTH):
            report[i] = 0
        try:
            self.device.send_report(report)
        except OSError:
            self._host_gone()
            return
        self._sent_at = self.now_us()
        if self._sent_at - now > SLOW_SEND_US:
            self.slow_sends += 1
            self._host_gone()
            return
        self.reports_sent += 1
        self._out[: self._fill - count] = self._out[count : self._fill]
        self._fill -= count

    def _host_gone(self):
        self._heard_at = None
        self._fill = 0


class HidLink(Link):
    """The wire link over HID: bytes the report buffer could not take count as dropped."""

    def pump(self):
        self.serial.pump()
