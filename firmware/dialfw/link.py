"""The wire link over usb_cdc.data: records out without ever blocking, commands in.

With write_timeout = 0 a write takes what fits in the USB buffer and returns at once; what did
not fit is counted (DIAG) instead of stalling the loop while the host is not reading.
"""

from dialwire import Framer, encode

READ_CHUNK = 64


class Link:
    def __init__(self, serial):
        self.serial = serial
        serial.timeout = 0
        serial.write_timeout = 0
        self.framer = Framer()
        self.sent_records = 0
        self.dropped_records = 0
        self.dropped_bytes = 0
        # The last write did not fit: the host has the port open but is not reading.
        self.stalled = False

    def send(self, kind, fields=()):
        """True when the whole record went out. Nothing is written while no host has the port
        open (DTR low): the bytes would only pile up as a stale burst for the next reader."""
        if not self.serial.connected:
            return False
        data = encode(kind, fields)
        try:
            written = self.serial.write(data) or 0
        except OSError:
            written = 0
        if written < len(data):
            self.dropped_records += 1
            self.dropped_bytes += len(data) - written
            self.stalled = True
            return False
        self.sent_records += 1
        self.stalled = False
        return True

    def receive(self):
        """Records that arrived since the last call; empty when none (never waits)."""
        waiting = self.serial.in_waiting
        if not waiting:
            return ()
        return self.framer.feed(self.serial.read(min(waiting, READ_CHUNK)))

    def pump(self):
        """Nothing to do: the USB stack drains a CDC port by itself (HID needs dialfw.hid.HidLink)."""

    @property
    def connected(self):
        return self.serial.connected
