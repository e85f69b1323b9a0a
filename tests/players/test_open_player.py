from __future__ import annotations

from pathlib import Path

import pytest

from microdial.errors import ConfigError
from microdial.players import open_player
from microdial.players.freerun import FreeRunClock
from microdial.players.mpv import MpvClock


def test_none_is_no_clock() -> None:
    assert open_player("none") is None


def test_free_and_mpv() -> None:
    assert isinstance(open_player("free"), FreeRunClock)
    clock = open_player("mpv:/tmp/mpv.sock")
    assert isinstance(clock, MpvClock)
    assert clock.socket_path == Path("/tmp/mpv.sock")


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "nonsense",
        "mpv",
        "mpv:",
        "free:3",
        "browser:http",
        "browser:70000",
        "vlc:",
        "vlc:ftp://x",
        "mpris:a b",
    ],
)
def test_bad_specs_say_what_to_write(spec: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_player(spec)
    message = str(caught.value)
    assert "\n" not in message
    assert "--player" in message


def test_video_only_for_browser(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="browser"):
        open_player("mpv:/tmp/x.sock", video=tmp_path / "v.mp4")
