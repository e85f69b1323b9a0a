"""The demo, and every dial whose role was given, rate without the "to fix its role add ..." warning
(issue 13: the demo said so for roles it had given itself); a role made up still says how to fix it."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from microdial.apps.demo import DemoSettings, demo
from microdial.device.roles import DialEntry, RoleMap
from microdial.embedded_broker import free_port

FIX = "to fix its role"


def test_only_a_made_up_role_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    fixed = RoleMap.fixed("client")
    # Whichever dial is on the port: a second device on it does not become dial1.
    assert fixed.assign("aa") == ("client", None) and fixed.assign("bb") == ("client", None)
    given = RoleMap({"AA": DialEntry(role="therapist")}, default_role="client")
    assert given.assign("aa") == ("therapist", None) and given.assign("bb") == ("client", None)
    assert FIX not in caplog.text
    assert given.assign("cc") == ("dial1", None)
    assert caplog.text.count(FIX) == 1 and "dial CC rates as dial1" in caplog.text


async def test_the_demo_gives_its_dials_their_roles_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    settings = DemoSettings(
        broker=f"mqtt://127.0.0.1:{free_port()}", out=tmp_path, session="ROLES", duration=2
    )
    assert await demo(settings, io.StringIO()) == 0
    assert FIX not in caplog.text
