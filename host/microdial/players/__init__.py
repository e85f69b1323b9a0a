"""Player clocks: `open_player(spec)` turns a `--player` spec into the adapter that follows that player.

Specs: `mpv:/path/to/ipc.sock`, `vlc:http://[:PASSWORD@]127.0.0.1:PORT`, `mpris[:NAME]`,
`browser[:PORT]`, `free`, `none`. Backends are imported only when chosen (a table of name →
"module:Class"), so a missing optional library only breaks the player that needs it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from microdial.errors import ConfigError
from microdial.players.base import MediaStamp, PlayerClock

__all__ = ["BACKENDS", "MediaStamp", "PlayerClock", "open_player"]

BACKENDS: dict[str, str] = {
    "mpv": "microdial.players.mpv:MpvClock",
    "vlc": "microdial.players.vlc:VlcClock",
    "mpris": "microdial.players.mpris:MprisClock",
    "browser": "microdial.players.browser:BrowserClock",
    "free": "microdial.players.freerun:FreeRunClock",
}

HINT = (
    "write --player mpv:/path/to/ipc.sock, vlc:http://:PASSWORD@127.0.0.1:PORT, mpris[:NAME], "
    "browser[:PORT], free or none"
)


def _backend(kind: str) -> type[PlayerClock]:
    module_name, _, class_name = BACKENDS[kind].partition(":")
    cls: type[PlayerClock] = getattr(importlib.import_module(module_name), class_name)
    return cls


def open_player(
    spec: str, *, video: Path | None = None, vlc_password: str | None = None
) -> PlayerClock | None:
    """The clock for spec; None for `none`. video: the browser player serves it in this process."""
    kind, sep, where = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "none" and not sep:
        return None
    if kind not in BACKENDS:
        raise ConfigError(f"unknown player {spec!r}: {HINT}")
    options: dict[str, Any] = {}
    try:
        options = _parse(kind, where if sep else None)
    except ValueError as err:
        raise ConfigError(f"player {spec!r}: {err}; {HINT}") from None
    if kind == "vlc" and vlc_password is not None:
        options["password"] = vlc_password
    if kind == "browser" and video is not None:
        options["video"] = video
    if kind != "browser" and video is not None:
        raise ConfigError(f"--video is for the browser player only; with {kind} open the video in the player")
    return _backend(kind)(**options)


def _parse(kind: str, where: str | None) -> dict[str, Any]:
    if kind == "free":
        if where is not None:
            raise ValueError("free takes no argument")
        return {}
    if kind == "mpv":
        if not where:
            raise ValueError("mpv needs the IPC socket path given to mpv --input-ipc-server")
        return {"socket_path": where}  # a str: a Windows pipe name is no path
    if kind == "vlc":
        from microdial.players.vlc import parse_vlc_url

        if not where:
            raise ValueError("vlc needs the HTTP interface URL")
        return parse_vlc_url(where)
    if kind == "mpris":
        if where is not None and not where.replace(".", "").replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"{where!r} is not an MPRIS player name")
        return {} if not where else {"player_name": where}
    # browser
    if where is None:
        return {}
    if not where.isdigit() or not 0 < int(where) < 65536:
        raise ValueError(f"{where!r} is not a port number")
    return {"port": int(where)}
