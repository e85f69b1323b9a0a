"""Diagnostics that tell the truth (issue 13): a --port that cannot be opened, or a glob that matches
nothing, is said at the default level, again while it lasts, and shown in the status line."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import pytest

from microdial import daemon
from microdial.daemon import discoverer
from microdial.device.discovery import PortDiscovery
from microdial.device.roles import RoleMap
from microdial.device.runner import DialRunner, RunnerOptions
from microdial.device.transports.serial import SerialTransport
from microdial.sinks.memory import MemorySink
from microdial.statusline import StatusLine, describe

QUICK = RunnerOptions(reopen_min=0.02, reopen_max=0.05, warn_interval=0.3)


def unopenable(kind: str, tmp_path: Path) -> str:
    if kind == "directory":
        return str(tmp_path)
    if kind == "plain file":
        path = tmp_path / "not-a-port"
        path.write_text("hello\n")
        return str(path)
    return "/dev/null"


@pytest.mark.parametrize("kind", ["directory", "/dev/null", "plain file"])
async def test_a_port_that_cannot_be_opened_is_said_again_and_shown(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = unopenable(kind, tmp_path)
    runner = DialRunner(
        lambda: SerialTransport(path), "S9", "client", lambda key: MemorySink(), options=QUICK
    )
    caplog.set_level(logging.WARNING)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.sleep(0.8)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and path in r.getMessage()]
    # Said at once and again every warn_interval, not at every attempt (about 20 here).
    assert 2 <= len(warnings) <= 4, [r.getMessage() for r in warnings]
    assert runner.waiting is not None and f"cannot open {path}" in runner.waiting
    assert runner.waiting in describe(runner, 0.0)


async def test_a_glob_that_matches_nothing_is_said_again_and_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon, "NO_PORT_WARN_INTERVAL", 0.2)
    spec = str(tmp_path / "dials" / "*")
    discover = discoverer(
        PortDiscovery(spec), "S9", RoleMap({}, "client"), lambda key: MemorySink(), None, RunnerOptions()
    )
    caplog.set_level(logging.WARNING)
    for _ in range(5):
        assert discover() == []
        await asyncio.sleep(0.1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert 2 <= len(warnings) <= 3 and all(f"no dial port matches --port {spec}" in w for w in warnings)

    out = io.StringIO()
    task = asyncio.create_task(StatusLine([], out, interval=0.05, idle=daemon.no_port(spec)).run())
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert f"no dial port matches --port {spec}" in out.getvalue()
