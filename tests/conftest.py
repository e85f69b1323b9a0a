"""Shared fixtures: a real Mosquitto per test, on a free port, started and stopped by the suite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from microdial.embedded_broker import MosquittoProcess, mosquitto_binary

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def mosquitto() -> Iterator[MosquittoProcess]:
    if mosquitto_binary() is None:
        # scripts/test installs Debian's mosquitto; without it the suite must not pretend.
        pytest.fail("mosquitto is not installed: run scripts/test, which installs it")
    broker = MosquittoProcess()
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def session_code() -> str:
    """A unique session code per test, so retained messages never leak between tests."""
    return f"T{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read a developer's own microdial.toml or MICRODIAL_* variables."""
    for key in list(os.environ):
        if key.startswith("MICRODIAL_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    # The daemon's spool and other state go under the test's own folder, for child processes too.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
