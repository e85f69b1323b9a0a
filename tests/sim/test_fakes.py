"""The fakes of CircuitPython's modules themselves (microdial.sim.fakes), on a real pty:
they must behave like the board where the firmware could notice."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
import tty
from collections.abc import Iterator

import pytest

from microdial.sim import fakes


@pytest.fixture
def pty() -> Iterator[tuple[fakes.Serial, int]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(slave, False)
    yield fakes.Serial(master), slave
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_install_puts_every_module_in_place_once() -> None:
    first = fakes.install()
    assert set(first) == {
        "board",
        "rotaryio",
        "usb_cdc",
        "supervisor",
        "microcontroller",
        "digitalio",
        "keypad",
        "analogio",
        "neopixel",
        "usb_hid",
    }
    assert fakes.install()["usb_cdc"] is sys.modules["usb_cdc"] is first["usb_cdc"]
    import board
    import microcontroller

    assert board.GP2.name == "GP2" and not hasattr(board, "D13")
    assert bytes(microcontroller.cpu.uid).hex().upper() == "E6614103E7452D2F"


def test_importing_the_simulator_installs_nothing() -> None:
    """In a fresh interpreter (this one has the fakes installed by the firmware tests)."""
    probe = (
        "import sys\n"
        "import microdial.sim.runner, microdial.sim.fakes, microdial.apps.sim\n"
        f"print(sorted(set({fakes.MODULE_NAMES!r}) & set(sys.modules)), 'dialfw.app' in sys.modules)\n"
        "microdial.sim.runner.load_firmware()\n"
        f"print(sorted(set({fakes.MODULE_NAMES!r}) - set(sys.modules)), 'dialfw.app' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["[] False", "[] True"]


def test_install_from_many_threads_at_once_installs_one_set() -> None:
    probe = (
        "import sys, threading\n"
        "from microdial.sim import fakes\n"
        "got = []\n"
        "start = threading.Barrier(8)\n"
        "def run():\n"
        "    start.wait()\n"
        "    got.append(fakes.install()['usb_cdc'])\n"
        "threads = [threading.Thread(target=run) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(len({id(m) for m in got}), got[0] is sys.modules['usb_cdc'])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["1", "True"]


def test_peripherals_fail_as_on_the_board() -> None:
    encoder = fakes.IncrementalEncoder(fakes.Pin("GP2"), fakes.Pin("GP3"))
    encoder.deinit()
    with pytest.raises(ValueError, match="deinitialized"):
        encoder.position  # noqa: B018
    import analogio
    import digitalio

    with pytest.raises(ValueError, match="ADC"):
        analogio.AnalogIn(fakes.Pin("GP2"))
    io = digitalio.DigitalInOut(fakes.Pin("LED"))
    with pytest.raises(AttributeError, match="direction is input"):
        io.value = True
    io.switch_to_output()
    io.value = True
    assert io.value is True


def arrived(serial: fakes.Serial, count: int) -> None:
    """The pty hands bytes across asynchronously: wait (bounded) until they are there."""
    assert serial.fd is not None
    deadline = time.monotonic() + 2
    while serial.in_waiting < count and time.monotonic() < deadline:
        select.select([serial.fd], [], [], 0.01)


def test_serial_reads_what_is_there_without_waiting(pty: tuple[fakes.Serial, int]) -> None:
    serial, host = pty
    assert serial.in_waiting == 0 and serial.read(10) == b"" and serial.readline() is None
    os.write(host, b"one\ntwo\nthr")
    arrived(serial, 11)
    assert serial.in_waiting == 11
    assert serial.readline() == b"one\n"
    assert serial.in_waiting == 7
    assert serial.read(2) == b"tw"
    assert serial.readlines() == [b"o\n", b"thr"]
    os.write(host, b"abcdef")
    arrived(serial, 6)
    buf = bytearray(4)
    assert serial.readinto(buf) == 4 and buf == b"abcd"
    assert serial.read() == b"ef"


def test_serial_write_takes_what_fits_and_never_blocks(pty: tuple[fakes.Serial, int]) -> None:
    serial, host = pty
    seen: list[tuple[int, int]] = []
    serial.on_write = lambda data, written: seen.append((len(data), written))
    total = 0
    for _ in range(100):
        total += serial.write(b"x" * 1000)
    assert 1000 < total < 100_000
    assert seen[-1] == (1000, 0)  # full: nothing taken, at once
    assert len(os.read(host, 200_000)) > 0


def test_connected_follows_the_reader(pty: tuple[fakes.Serial, int]) -> None:
    serial, host = pty
    path = os.ttyname(host)
    assert serial.connected
    os.close(host)
    assert not serial.connected
    again = os.open(path, os.O_RDWR | os.O_NOCTTY)
    assert serial.connected
    os.close(again)
    serial.detach()
    assert not serial.connected
    assert serial.write(b"gone") == 4  # TinyUSB drops output silently with the port closed
    assert serial.read() == b""


def test_encoder_counts_whole_detents_of_its_divisor() -> None:
    enc = fakes.IncrementalEncoder(fakes.Pin("GP2"), fakes.Pin("GP3"), divisor=2)
    enc.step(3)
    assert enc.position == 1
    enc.step(-5)
    assert enc.position == -1
    enc.turn(-3)
    assert enc.position == -4


def test_supervisor_ticks_start_before_the_wrap_and_wrap() -> None:
    sup = fakes.Supervisor()
    assert fakes.TICKS_PERIOD - 70_000 < sup.ticks_ms() <= fakes.TICKS_PERIOD - 65_536 + 1000
    sup.source = lambda: fakes.TICKS_PERIOD + 5
    assert sup.ticks_ms() == 5


def test_keypad_queue_overflows_like_the_real_one() -> None:
    keys = fakes.Keys((fakes.Pin("GP4"),), value_when_pressed=False, max_events=2)
    for n in range(3):
        keys.press(timestamp=n)
    assert keys.events.overflowed and len(keys.events) == 2
    event = fakes.Event()
    assert keys.events.get_into(event) and event.timestamp == 1 and event.pressed
    keys.events.clear()
    assert not keys.events.overflowed and not keys.events


def test_hid_device_checks_report_length_and_keeps_only_the_last_out_report() -> None:
    dev = fakes.HidDevice(
        report_descriptor=b"\x06\x00\xff",
        usage_page=0xFF00,
        usage=1,
        report_ids=(0,),
        in_report_lengths=(64,),
        out_report_lengths=(64,),
    )
    with pytest.raises(ValueError):
        dev.send_report(bytes(10))
    dev.polling = False
    with pytest.raises(OSError, match="USB busy"):
        dev.send_report(bytes(64))
    dev.receive(b"\x01" + bytes(63))
    dev.receive(b"\x02" + bytes(63))
    assert dev.get_last_received_report() == b"\x02" + bytes(63)
    assert dev.get_last_received_report() is None
