"""SimulatedDial: the real firmware (dialfw) on a pseudo-terminal, driven by a simulated rater.

The firmware loop runs in a background thread under the fakes of CircuitPython's modules
(microdial.sim.fakes). Its usb_cdc.data is the master side of a pty; a reader opens the slave
path exactly as it would open /dev/ttyACM1. The device clock is the host's monotonic clock
with a chosen offset and drift, so clock-mapping tests know the truth (host_monotonic_of).
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dialwire import MAX_DEVICE_ID, VALUE_MAX, VALUE_MIN, Framer
from microdial.errors import ConfigError
from microdial.sim import fakes
from microdial.sim.rater import Hand, Rater

#: on_write(kind, fields, host_monotonic_after_write), called in the firmware thread: keep it short.
WriteCallback = Callable[[str, list[int | str], float], None]

# With --ticks-ms the device's ticks_ms starts this close to its 2**29 ms wrap, so a demo crosses it.
TICKS_BEFORE_WRAP_MS = 5_000


def load_firmware() -> Any:
    """The firmware's dialfw.app, imported only once the fakes of CircuitPython's modules are in
    sys.modules (its modules import board, rotaryio... at the top, as they do on the board)."""
    fakes.install()
    from dialfw import app

    return app


def random_device_id(seed: int, role: str = "") -> str:
    """A made-up 64-bit chip id: the same for the same seed and role, different across roles."""
    return f"{random.Random(f'device-{seed}-{role}').getrandbits(64):016X}"


class SimulatedDial:
    """One simulated dial. Typical use:

        dial = SimulatedDial(RandomRater("client", seed=1), seed=1, link=Path("/tmp/dial0"))
        path = dial.start()        # open path (or the link) like a serial port
        dial.set_value(20)         # turn the knob now; set_value(None) hands back to the rater
        dial.unplug(); dial.replug(); dial.reset(); dial.stop()

    Every method is safe to call from any thread.
    """

    def __init__(
        self,
        rater: Rater,
        *,
        device_id: str | None = None,
        rate_hz: int = 50,
        clock_offset: float = 0.0,
        clock_drift_ppm: float = 0.0,
        link: Path | None = None,
        ticks_ms: bool = False,
        seed: int = 0,
        on_write: WriteCallback | None = None,
        settings_toml: str = "",
        circuitpython: int = 9,
        port: Any = None,
    ) -> None:
        """port: a LoopbackPort (device/transports/loopback.py) to run on instead of a pty (Windows has none)."""
        role = str(getattr(rater, "role", ""))
        self.device_id = (device_id or random_device_id(seed, role)).upper()
        try:
            self._uid = bytes.fromhex(self.device_id)
        except ValueError:
            raise ConfigError(f"device id {device_id!r} is not hexadecimal") from None
        if not 1 <= len(self._uid) <= MAX_DEVICE_ID // 2:
            raise ConfigError(f"device id must be 1..{MAX_DEVICE_ID // 2} bytes in hex")
        if not 1 <= rate_hz <= 1000:
            raise ConfigError(f"rate {rate_hz} Hz is out of range 1..1000")
        self.rater = rater
        self.rate_hz = rate_hz
        # The dial's settings.toml, read through os.getenv as that CircuitPython version does.
        # rate_hz goes first, so it wins over a MICRODIAL_RATE_HZ line in the text.
        self.settings = fakes.SettingsToml(f"MICRODIAL_RATE_HZ = {rate_hz}\n{settings_toml}", circuitpython)
        self.clock_offset = clock_offset
        self.clock_drift_ppm = clock_drift_ppm
        self.link = link
        self.ticks_ms = ticks_ms
        self.on_write = on_write
        self._seed = seed
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loopback: str | None = None if port is None else str(port.location)
        self._serial = port if port is not None else fakes.Serial()
        self._serial.on_write = self._written
        self._framer = Framer()
        self._master = -1
        self._path: str | None = None
        self._override: int | None = None
        self._release_at: float | None = None
        self._last_sent: tuple[int, int, int] | None = None
        self._boot_ns = 0
        self._session_start = 0.0
        self._dial: Any = None
        self._hand = Hand(rater, f"hand-{seed}-{role}")
        self.boots = 0

    # -- the device clock (what the firmware's Clock reads)

    def _device_ns(self) -> int:
        elapsed = time.monotonic_ns() - self._boot_ns
        return int(self.clock_offset * 1e9) + int(elapsed * (1 + self.clock_drift_ppm * 1e-6))

    def _device_ticks(self) -> int:
        return (fakes.TICKS_PERIOD - TICKS_BEFORE_WRAP_MS + self._device_ns() // 1_000_000) & fakes.TICKS_MASK

    def host_monotonic_of(self, t_us: int) -> float:
        """The true host time.monotonic() at which the current boot's device clock read t_us."""
        since_boot_ns = (t_us * 1000 - int(self.clock_offset * 1e9)) / (1 + self.clock_drift_ppm * 1e-6)
        return (self._boot_ns + since_boot_ns) / 1e9

    def _boot(self) -> None:
        """Power the firmware up: a fresh Dial, clock and sequence from zero, as after a reset."""
        app = load_firmware()
        self._boot_ns = time.monotonic_ns()
        if self.ticks_ms:
            clock = app.Clock(
                ticks_source=self._device_ticks, origin=fakes.TICKS_PERIOD - TICKS_BEFORE_WRAP_MS
            )
        else:
            clock = app.Clock(ns_source=self._device_ns, ticks_source=self._device_ticks, origin=0)
        settings, problems = app.load(self.settings.getenv)
        self._dial = app.build(settings, problems, serial=self._serial, clock=clock, uid=self._uid)
        self.boots += 1

    # -- the pty

    def _open_pty(self) -> str:
        if self._loopback is not None:
            self._path = self._loopback
            return self._path
        import tty  # POSIX only: the loopback port needs none of it

        master, slave = os.openpty()
        tty.setraw(slave)
        path = os.ttyname(slave)
        # Only the reader holds the slave open, so the fake port sees it come and go (DTR-like).
        os.close(slave)
        self._master = master
        self._serial.attach(master)
        self._path = path
        if self.link is not None:
            # Made aside and renamed over the old one, so a reader never sees the link missing.
            tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
            try:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                tmp.symlink_to(path)
                os.replace(tmp, self.link)
            except OSError as err:
                self._close_pty()
                raise ConfigError(f"cannot make the link {self.link}: {err.strerror}") from None
        return path

    def _close_pty(self) -> None:
        self._serial.detach()
        if self._master >= 0:
            os.close(self._master)
            self._master = -1
        self._path = None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    # -- life cycle

    def start(self) -> str:
        """Boot the firmware on a new pty; returns the slave path (the link points at it)."""
        if self._thread is not None:
            raise RuntimeError("simulated dial already started")
        with self._lock:
            path = self._open_pty()
            self._session_start = time.monotonic()
            self._boot()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"dial-{self.device_id}", daemon=True)
        self._thread.start()
        return path

    def halt(self) -> None:
        """The firmware stops and writes nothing more, but the port stays open for the reader to drain.

        Closing a pty discards what its reader has not read yet, so a test that must account for
        every sample halts first, waits for the reader, and only then stops.
        """
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def stop(self) -> None:
        self.halt()
        with self._lock:
            self._close_pty()

    def unplug(self) -> None:
        """The port vanishes: readers get EIO/EOF, the path and the link disappear. The firmware keeps running."""
        with self._lock:
            self._close_pty()

    def replug(self) -> str:
        """A new pty (usually a new path); the link is re-pointed; the firmware keeps its state."""
        with self._lock:
            if self._master >= 0:
                self._close_pty()
            return self._open_pty()

    def reset(self) -> None:
        """Restart the device: clock and seq start again from 0, the value from 0, a new boot nonce."""
        with self._lock:
            self._boot()

    def __enter__(self) -> SimulatedDial:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the firmware does

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def boot(self) -> str:
        """The firmware's boot nonce, drawn anew at every start and reset (the ID record's last field)."""
        nonce: str = self._dial.boot
        return nonce

    @property
    def value(self) -> int:
        """The value the firmware holds now."""
        shown: int = self._dial.input.value
        return shown

    @property
    def last_sent(self) -> tuple[int, int, int] | None:
        """(seq, t_us, value) of the last sample fully written to the port."""
        return self._last_sent

    @property
    def firmware(self) -> Any:
        """The firmware's Dial object (counters: link.dropped_records, errors, ...)."""
        return self._dial

    def set_value(self, value: int | None) -> None:
        """Turn the knob to value at once (a fast spin), holding it there; None hands back to the rater."""
        self._override = None if value is None else max(VALUE_MIN, min(VALUE_MAX, value))
        self._wake.set()

    def press(self, held_s: float = 0.1) -> None:
        """Press the encoder's button now and release it held_s later (0.8 s or more is a long press)."""
        with self._lock:
            self._dial.button.keys.press(timestamp=self._device_ticks())
            self._release_at = time.monotonic() + held_s
        self._wake.set()

    def _written(self, data: bytes, written: int) -> None:
        after = time.monotonic()
        if written <= 0:
            return
        for kind, fields in self._framer.feed(data[:written]):
            if kind == "S":
                seq, t_us, value = (int(f) for f in fields)
                self._last_sent = (seq, t_us, value)
            if self.on_write is not None:
                self.on_write(kind, fields, after)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                dial = self._dial
                encoder = dial.input.encoder
                override = self._override
                if override is not None:
                    turn = override - dial.input.value
                else:
                    turn = self._hand.tick(time.monotonic() - self._session_start, dial.input.value)
                if turn:
                    encoder.turn(turn * dial.input.direction)
                if self._release_at is not None and time.monotonic() >= self._release_at:
                    dial.button.keys.release(timestamp=self._device_ticks())
                    self._release_at = None
                wait = dial.step()
            # The firmware's own idle sleep, but woken at once by set_value for latency measurements.
            if self._release_at is not None:
                wait = max(0.0, min(wait, self._release_at - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
