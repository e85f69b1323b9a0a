"""The dial: one loop that reads the input, answers commands and streams records.

Every part is passed in, so code.py builds it from settings.toml on the board and the
simulator builds it around fakes of CircuitPython's modules.
"""

import os
import time

from dialfw import VERSION, hid, light
from dialfw.button import Button
from dialfw.clock import Clock
from dialfw.encoder import EncoderInput
from dialfw.link import Link
from dialfw.pot import PotInput
from dialfw.settings import load
from dialwire import BOOT_DIGITS, PROTOCOL_VERSION, clean_text, seq_next

HEARTBEAT_US = 1000000
IDENT_US = 10000000
CONNECT_IDENT_US = 200000
# An error that repeats every loop must not flood the wire: at most one ERR per interval.
ERR_INTERVAL_US = 100000
# Room for the rest of an ERR record within dialwire.MAX_RECORD (160 bytes): "$ERR," a t of up
# to 20 digits, a code of up to 8 characters, the separators and "*CCCC\r\n" take 42.
MAX_MESSAGE = 100
# The longest the loop sleeps: how late a turn of the knob or a command can be noticed.
IDLE_US = 1000
IDLE_S = IDLE_US / 1000000
# Periodic samples keep to a grid of planned times, so the rate does not sag by the loop's own
# time. After a stall (a slow write, garbage collection) up to this many missed slots are caught
# up, one per loop step; beyond that they are skipped rather than sent as a burst.
MAX_BACKLOG = 4
ERROR_SHOW_US = 3000000


def hex_upper(data):
    """Bytes as upper-case hex: how the device id (the chip's uid) and the boot nonce are sent."""
    return "".join("%02X" % b for b in data)


def boot_nonce():
    """A fresh nonce for this boot (protocol/SPEC.md 1.2): samples of different boots of one dial
    differ by it, though their sequence numbers repeat. CircuitPython's os.urandom on the RP2040
    draws on the ring oscillator's random bit, so it differs after every reset."""
    return hex_upper(os.urandom(BOOT_DIGITS // 2))


class Dial:
    def __init__(
        self, link, inp, clock, device, rate_hz=50, problems=(), button=None, status_light=None, boot=None
    ):
        self.link = link
        self.input = inp
        self.button = button
        self.light = status_light
        self._error_at = None
        self._presses = []
        self._overflows = 0
        self.clock = clock
        self.device = device
        self.boot = boot_nonce() if boot is None else boot
        self.seq = 0
        self.last_seq = -1
        self.bad_commands = 0
        self.errors = 0
        self.loop_max_us = 0
        self.rate_hz = rate_hz
        self.period_us = 1000000 // rate_hz
        now = clock.now_us()
        self._was_connected = link.connected
        self._last_err_us = now - ERR_INTERVAL_US
        self.send_ident()
        for problem in problems:
            # Not rate limited: each bad entry must reach the user.
            self.errors += 1
            self._error_at = now
            self.link.send("ERR", (now, "settings", clean_text(problem, MAX_MESSAGE)))
        self.send_sample(now)
        self._next_heartbeat = now + HEARTBEAT_US
        self._next_ident = now + IDENT_US

    # -- records out

    def send_ident(self):
        inp = self.input
        self.link.send(
            "ID",
            (
                PROTOCOL_VERSION,
                VERSION,
                self.device,
                inp.kind,
                self.rate_hz,
                inp.steps_per_detent,
                inp.value,
                self.boot,
            ),
        )

    def send_diag(self, now):
        link = self.link
        self.link.send(
            "DIAG",
            (
                now,
                link.dropped_records,
                link.dropped_bytes,
                self.bad_commands + link.framer.bad_records,
                self.loop_max_us,
                self.errors,
            ),
        )

    def _emit_sample(self, now):
        self.link.send("S", (self.seq, now, self.input.value))
        self.last_seq = self.seq
        self.seq = seq_next(self.seq)

    def send_sample(self, now):
        """A sample at once (a change, a recentre): the next periodic one a full period later."""
        self._emit_sample(now)
        self._next_sample = now + self.period_us

    def _send_periodic(self, now):
        self._emit_sample(now)
        due = self._next_sample + self.period_us
        if now - due >= MAX_BACKLOG * self.period_us:
            due = now + self.period_us
        self._next_sample = due

    def idle_s(self, now):
        """How long the loop may sleep: until the next planned sample, at most IDLE_S."""
        wait = self._next_sample - now
        if wait <= 0:
            return 0
        if wait >= IDLE_US:
            return IDLE_S
        return wait / 1000000

    def report(self, now, code, err):
        """ERR on the wire (rate limited); the dial keeps running."""
        self.errors += 1
        self._error_at = now
        if now - self._last_err_us < ERR_INTERVAL_US:
            return
        self._last_err_us = now
        if isinstance(err, Exception):
            text = type(err).__name__ + ": " + str(err)
        else:
            text = str(err)
        self.link.send("ERR", (now, code, clean_text(text, MAX_MESSAGE)))

    # -- commands in

    def handle(self, kind, values, now):
        if kind == "PING":
            self.link.send("PONG", (values[0], now))
        elif kind == "IDENT":
            self.send_ident()
            self.send_diag(now)
            self.link.send("ACK", ("IDENT", "ok", ""))
        elif kind == "ZERO":
            if self.input.zero():
                self.send_sample(now)
                self.link.send("ACK", ("ZERO", "ok", ""))
            else:
                self.link.send("ACK", ("ZERO", "err", "absolute input"))
        elif kind == "RATE":
            hz = values[0]
            if 1 <= hz <= 1000:
                self.rate_hz = hz
                self.period_us = 1000000 // hz
                self._next_sample = now + self.period_us
                self.link.send("ACK", ("RATE", "ok", str(hz)))
            else:
                self.bad_commands += 1
                self.link.send("ACK", ("RATE", "err", "range"))
        else:
            # A device -> host kind echoed back: a confused host or a loopback.
            self.bad_commands += 1

    # -- the loop

    def step(self):
        """One pass of the loop; returns how long to sleep before the next (seconds)."""
        start = self.clock.now_us()
        try:
            self._step(start)
        except Exception as err:  # reported on the wire and counted in DIAG, never silent
            self.report(start, "loop", err)
        end = self.clock.now_us()
        if end - start > self.loop_max_us:
            self.loop_max_us = end - start
        return self.idle_s(end)

    def _step(self, now):
        self.link.pump()
        connected = self.link.connected
        if connected and not self._was_connected:
            # A host just opened the port: tell it soon who it is talking to. Not at once: hosts
            # (pyserial among them) flush their input right after opening.
            self._next_ident = now + CONNECT_IDENT_US
        self._was_connected = connected
        records = self.link.receive()
        if records:
            # Read right after the bytes arrived: the PONG time is as close to the PING as the loop allows.
            now = self.clock.now_us()
            for kind, values in records:
                self.handle(kind, values, now)
        if self.button is not None:
            self._poll_button(now)
        if self.input.poll():
            self.send_sample(now)
        elif now >= self._next_sample:
            self._send_periodic(now)
        if now >= self._next_heartbeat:
            self.link.send("HB", (now, self.last_seq, self.input.value))
            self._next_heartbeat = now + HEARTBEAT_US
        if now >= self._next_ident:
            self.send_ident()
            self.send_diag(now)
            self._next_ident = now + IDENT_US
        if self.light is not None:
            self.light.update(now, self.status(now))

    def status(self, now):
        """What the light shows (dialfw.light states)."""
        if self._error_at is not None and now - self._error_at < ERROR_SHOW_US:
            return light.ERROR
        if not self.link.connected:
            return light.NOT_CONNECTED
        if self.link.stalled:
            return light.STALLED
        return light.STREAMING

    def _poll_button(self, now):
        presses = self.button.poll(self._presses)
        last_stamp = None
        t = 0
        for kind, stamp in presses:
            if stamp != last_stamp:
                # One conversion per stamp: an up and its mark carry the very same time.
                t = self.clock.from_ticks(stamp)
                last_stamp = stamp
            self.link.send("BTN", (t, kind))
            if kind == "long" and self.input.zero():
                self.send_sample(now)
        del presses[:]
        if self.button.overflowed != self._overflows:
            self._overflows = self.button.overflowed
            self.report(now, "button", "key events overflowed")

    def run(self):
        while True:
            time.sleep(self.step())


def _pin(settings, board, key):
    name = settings[key]
    found = getattr(board, name, None)
    if found is None:
        raise ValueError(key + "=" + name + ": no such pin on this board")
    return found


def build_input(settings, board):
    if settings["MICRODIAL_INPUT"] == "pot":
        return PotInput(_pin(settings, board, "MICRODIAL_PIN_POT"), settings["MICRODIAL_DIRECTION"])
    return EncoderInput(
        _pin(settings, board, "MICRODIAL_PIN_A"),
        _pin(settings, board, "MICRODIAL_PIN_B"),
        settings["MICRODIAL_STEPS_PER_DETENT"],
        settings["MICRODIAL_DIRECTION"],
    )


def build_light(settings, board, problems):
    """The status light, or None (with a problem to report): a dial without a light still rates."""
    key = "MICRODIAL_PIN_LIGHT"
    try:
        pin = _pin(settings, board, key)
        if settings[key] == "NEOPIXEL":
            return light.Light(light.PixelDriver(pin))
        return light.Light(light.LedDriver(pin))
    except (ValueError, ImportError, RuntimeError) as err:
        problems.append(str(err) + "; no status light")
        return None


def build_link(settings, serial, hid_device, clock):
    if settings["MICRODIAL_USB_MODE"] == "hid":
        if hid_device is None:
            import usb_hid

            hid_device = hid.find_device(usb_hid.devices)
            if hid_device is None:
                raise RuntimeError(
                    "no microdial HID device: boot.py enables it; reset the board after changing MICRODIAL_USB_MODE"
                )
        return hid.HidLink(hid.HidPort(hid_device, clock.now_us))
    if serial is None:
        import usb_cdc

        serial = usb_cdc.data
        if serial is None:
            raise RuntimeError(
                "usb_cdc.data is off: boot.py enables it; reset the board after changing MICRODIAL_USB_MODE"
            )
    return Link(serial)


def build(settings, problems=(), serial=None, clock=None, uid=None, board=None, hid_device=None, boot=None):
    """A Dial from settings; the parts not given come from the board's own modules (boot: a fixed
    nonce for tests; by default each Dial draws its own)."""
    if uid is None:
        import microcontroller

        uid = microcontroller.cpu.uid
    if board is None:
        import board
    if clock is None:
        clock = Clock()
    problems = list(problems)
    link = build_link(settings, serial, hid_device, clock)
    inp = build_input(settings, board)
    button = Button(_pin(settings, board, "MICRODIAL_PIN_BUTTON"), settings["MICRODIAL_LONG_PRESS_MS"])
    status_light = build_light(settings, board, problems)
    return Dial(
        link,
        inp,
        clock,
        hex_upper(uid),
        settings["MICRODIAL_RATE_HZ"],
        problems,
        button,
        status_light,
        boot,
    )


SETUP_RETRY_S = 2


def report_setup_error(err, serial, clock):
    """Say why the dial cannot start, on the console and (if it is up) the data port."""
    text = clean_text(type(err).__name__ + ": " + str(err), MAX_MESSAGE)
    print("microdial cannot start:", text)
    if serial is not None:
        Link(serial).send("ERR", (clock.now_us(), "setup", text))


def main():
    settings, problems = load()
    try:
        dial = build(settings, problems)
    except (ValueError, RuntimeError) as err:
        # A wrong pin in settings.toml: keep saying so (a host may open the port any time).
        import usb_cdc

        clock = Clock()
        while True:
            report_setup_error(err, usb_cdc.data, clock)
            time.sleep(SETUP_RETRY_S)
    dial.run()
