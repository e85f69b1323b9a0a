"""--io: which reader each setting takes, on which loop; the state folder's platform default."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

from microdial.daemon import DaemonSettings, default_state_dir
from microdial.device.discovery import PortDiscovery
from microdial.device.transports.serial import SerialTransport, platform_io
from microdial.errors import TransportError
from tests.host.support import Chunks
from tests.ports.loops import WindowsLikeLoop


@contextlib.contextmanager
def pty() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield master, os.ttyname(slave)
    finally:
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def reader_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("serial-")]


def on_windows_like_loop(scenario):  # type: ignore[no-untyped-def]
    loop = WindowsLikeLoop()
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_auto_reads_in_a_thread_on_a_loop_that_cannot_watch_the_port() -> None:
    with pty() as (master, path):

        async def scenario() -> None:
            transport, chunks = SerialTransport(path), Chunks()
            await transport.open(chunks)
            assert reader_threads() == [f"serial-{path}"]
            os.write(master, b"$S,1,2,3*ABCD\r\n")
            assert await asyncio.wait_for(chunks.get(), 5) == b"$S,1,2,3*ABCD\r\n"
            await transport.write(b"$ZERO*BEFB\r\n")
            assert os.read(master, 100) == b"$ZERO*BEFB\r\n"
            started = time.monotonic()
            await transport.close()
            assert time.monotonic() - started < 0.3  # cancel_read cut the blocking read short
            assert reader_threads() == []

        on_windows_like_loop(scenario)


def test_forced_selector_on_such_a_loop_says_to_use_thread() -> None:
    with pty() as (_, path):

        async def scenario() -> None:
            with pytest.raises(TransportError, match="--io thread"):
                await SerialTransport(path, io="selector").open(Chunks())

        on_windows_like_loop(scenario)


async def test_forced_thread_on_linux_reads_in_a_thread_and_selector_in_none() -> None:
    with pty() as (master, path):
        for io, threads in (("thread", [f"serial-{path}"]), ("selector", [])):
            transport, chunks = SerialTransport(path, io=io), Chunks()  # type: ignore[arg-type]
            await transport.open(chunks)
            try:
                assert reader_threads() == threads
                os.write(master, b"x")
                assert await asyncio.wait_for(chunks.get(), 5) == b"x"
            finally:
                await transport.close()


def test_io_is_a_setting_and_reaches_every_port_discovery_opens(tmp_path: Path) -> None:
    assert DaemonSettings(io="thread").io == "thread"
    (tmp_path / "dial1").touch()
    transport = PortDiscovery(str(tmp_path / "dial*"), io="thread").scan()[str(tmp_path / "dial1")]()
    assert isinstance(transport, SerialTransport) and transport.io == "thread"
    assert platform_io() == "selector"  # Linux here; "thread" on win32 and darwin


def test_state_folder_is_the_platforms_unless_the_old_one_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    assert default_state_dir() == platformdirs.user_state_path("microdial", appauthor=False)
    old = tmp_path / ".local" / "state" / "microdial"
    old.mkdir(parents=True)
    assert default_state_dir() == old


def test_config_file_is_also_looked_for_in_the_platforms_settings_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from microdial.config import config_file

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("MICRODIAL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert config_file(None) is None
    user = platformdirs.user_config_path("microdial", appauthor=False) / "microdial.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[daemon]\n")
    assert config_file(None) == user
    (tmp_path / "microdial.toml").write_text("[daemon]\n")
    assert config_file(None) == Path("microdial.toml")  # the folder's own file still comes first


def test_pyserials_portable_read_takes_the_first_byte_then_the_rest() -> None:
    # The read Windows' reader thread does (POSIX waits in select() instead), here on a real pty.
    import serial

    from microdial.device.transports.serial import read_available

    with pty() as (master, path):
        port = serial.Serial(path, timeout=0.2)
        try:
            assert read_available(port) == b""  # the timeout passed with nothing
            os.write(master, b"$S,1,2,3*ABCD\r\n")
            assert read_available(port) == b"$S,1,2,3*ABCD\r\n"
        finally:
            port.close()
