"""Stopping on every OS: signal handlers where the loop has none (as on Windows), and a daemon that
still delivers every sample when Ctrl-C comes.

What runs here is the fallback (signal.signal + call_soon_threadsafe) on Linux's signals. Not
verifiable here: Windows' own delivery of Ctrl-Break and of the console's close button as
SIGBREAK, and the five seconds Windows allows after a close.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from microdial.embedded_broker import MosquittoProcess
from microdial.shutdown import catch_stop_signals, on_stop_signal, stop_signals
from tests.host.support import csv_rows, make_dial
from tests.ports.loops import WindowsLikeLoop

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def test_ctrl_c_reaches_the_loop_without_add_signal_handler() -> None:
    loop = WindowsLikeLoop()
    before = signal.getsignal(signal.SIGINT)

    async def scenario() -> None:
        stopped = asyncio.Event()
        with on_stop_signal(stopped.set):
            assert signal.getsignal(signal.SIGINT) is not before
            loop.call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
            await asyncio.wait_for(stopped.wait(), 5)

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_handler_left_behind_by_a_closed_loop_hands_the_signal_back() -> None:
    loop = WindowsLikeLoop()
    before = signal.getsignal(signal.SIGTERM)
    seen: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:

        async def install() -> None:
            catch_stop_signals(lambda: None)  # never undone, as the daemon does

        loop.run_until_complete(install())
        loop.close()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, before)


def test_windows_stop_signals_include_ctrl_break_there_only() -> None:
    assert (signal.SIGINT in stop_signals()) and (signal.SIGTERM in stop_signals())
    assert (getattr(signal, "SIGBREAK", None) in stop_signals()) == (sys.platform == "win32")


@pytest.mark.parametrize("launcher", ["tests.ports.windows_like", "microdial"])
def test_ctrl_c_to_a_daemon_on_a_windows_like_loop_delivers_every_sample(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path, launcher: str
) -> None:
    out = tmp_path / "rec"
    dial, sent = make_dial(rate_hz=100)
    path = dial.start()
    recorder = subprocess.Popen(
        [sys.executable, "-m", "microdial", "record", "--broker", mosquitto.url, "--out", str(out), "--session", session_code],
        env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    daemon = subprocess.Popen(
        [sys.executable, "-m", launcher, "daemon", "--port", path, "--broker", mosquitto.url,
         "--session", session_code, "--rater", "client", "--no-status", "--spool-dir", str(tmp_path / "spool")],
        env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        folder = out / session_code
        deadline = time.monotonic() + 30
        while not (
            any(folder.glob("*.samples.csv")) and len(csv_rows(next(folder.glob("*.samples.csv")))) > 100
        ):
            assert time.monotonic() < deadline, "no samples recorded"
            assert daemon.poll() is None, daemon.communicate()
            time.sleep(0.2)
        dial.halt()  # the port stays open: everything written is still to be read
        time.sleep(0.3)
        daemon.send_signal(signal.SIGINT)
        assert daemon.wait(20) == 0, daemon.communicate()
        print("TAIL", sent.samples[-6:])
        # What the dial wrote in the moment the port was opened, before the daemon knew it, is not
        # its to deliver; from the first recorded sample on, everything up to the last one must be there.
        expected = [seq for seq, _, _ in sent.samples]
        deadline = time.monotonic() + 10
        while True:
            recorded = [int(row["seq"]) for row in csv_rows(next(folder.glob("*.samples.csv")))]
            if recorded and recorded[-1] == expected[-1]:
                break
            assert time.monotonic() < deadline, f"last recorded {recorded[-1:]}, last sent {expected[-1]}"
            time.sleep(0.2)
        assert recorded == expected[expected.index(recorded[0]) :]
    finally:
        dial.stop()
        for process in (daemon, recorder):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(20)


def test_ctrl_c_ends_a_run_until_signalled_command_on_a_windows_like_loop(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    recorder = subprocess.Popen(
        [sys.executable, "-m", "tests.ports.windows_like", "record", "--broker", mosquitto.url,
         "--out", str(tmp_path), "--session", session_code],
        env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(2.0)
        assert recorder.poll() is None, recorder.communicate()
        recorder.send_signal(signal.SIGINT)
        _, err = recorder.communicate(timeout=15)
        assert recorder.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
