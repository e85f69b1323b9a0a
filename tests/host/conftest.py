"""The host tests that read real ptys run three ways: the selector path, `--io thread`, and on a
loop without add_reader/add_signal_handler for ttys (as Windows'), so every path runs for real."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from microdial.device.transports import serial as serial_transport
from tests.ports.loops import IO_MODES, WindowsLikePolicy

PTY_MODULES = {"test_daemon", "test_pipeline", "test_serial_transport", "test_control"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in PTY_MODULES and inspect.iscoroutinefunction(metafunc.function):
        metafunc.parametrize("io_mode", IO_MODES, indirect=True)


@pytest.fixture(autouse=True)
def io_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    mode: str = getattr(request, "param", "selector")
    if mode == "thread":
        monkeypatch.setattr(serial_transport, "platform_io", lambda: "thread")
    return mode


@pytest.fixture
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("io_mode") == "windows-loop":
        return WindowsLikePolicy()
    return asyncio.DefaultEventLoopPolicy()
