"""mpv over its JSON IPC socket (`mpv --input-ipc-server=PATH`).

mpv pushes property changes; they carry no timestamp, so each is stamped on arrival. With an audio
track the anchor is `audio-pts`, which mpv reports once per frame and which moves continuously with
the audio clock that video is synced to; `time-pos` is the pts of the frame handed to the video output,
which runs up to one frame ahead of what is shown, so it anchors files without audio. While paused
audio-pts means nothing (it includes the audio output's buffer, e.g. 0.17 s short after a paused seek),
so then time-pos, the frame on screen, anchors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from microdial.players.base import AnchoredClock, PlayerGone

OBSERVED = ("time-pos", "audio-pts", "pause", "speed", "seeking", "path", "media-title", "duration")


#: mpv on Windows serves its IPC on a named pipe, `--input-ipc-server=\\.\pipe\NAME`.
PIPE_PREFIX = "\\\\.\\pipe\\"


async def open_ipc(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """mpv's IPC as a stream pair: a Unix socket, or on Windows a named pipe; the same JSON lines either way."""
    if not address.startswith(PIPE_PREFIX):
        return await asyncio.open_unix_connection(address)
    loop = asyncio.get_running_loop()
    # Only Windows' Proactor loop opens named pipes (the Selector loop has no such method).
    connect = getattr(loop, "create_pipe_connection", None)
    if connect is None:
        raise PlayerGone(f"mpv's named pipe {address} needs asyncio's Proactor event loop (Windows)")
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await connect(lambda: protocol, address)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class MpvClock(AnchoredClock):
    name = "mpv"

    def __init__(self, socket_path: Path | str, now: Callable[[], float] = time.monotonic) -> None:
        super().__init__(now)
        # As given: pathlib would end a Windows pipe name (\\.\pipe\NAME) with a backslash.
        self.address = str(socket_path)
        self.socket_path = Path(socket_path)
        self._props: dict[str, Any] = {}
        self._audio = False
        self._writer: asyncio.StreamWriter | None = None
        self._request_ids: dict[int, str] = {}
        self._next_id = 1

    async def _follow(self) -> None:
        reader, writer = await open_ipc(self.address)
        self._writer = writer
        self._props = {}
        self._audio = False
        try:
            for number, prop in enumerate(OBSERVED, start=1):
                self._send(["observe_property", number, prop])
            await writer.drain()
            self._on_online()
            while True:
                line = await reader.readline()
                if not line:
                    raise PlayerGone("mpv closed the IPC socket")
                host = self.now()
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(message, dict):
                    self._handle(message, host)
        finally:
            self._writer = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _send(self, command: list[Any], asks: str | None = None) -> None:
        if self._writer is None:
            return
        request: dict[str, Any] = {"command": command}
        if asks is not None:
            request["request_id"] = self._next_id
            self._request_ids[self._next_id] = asks
            self._next_id += 1
        self.queries += 1
        self._writer.write(json.dumps(request).encode() + b"\n")

    def _ask_position(self) -> None:
        self._send(["get_property", "time-pos"], asks="time-pos")

    def _handle(self, message: dict[str, Any], host: float) -> None:
        event = message.get("event")
        if event == "property-change":
            self._property(str(message.get("name")), message.get("data"), host)
        elif "request_id" in message:
            prop = self._request_ids.pop(int(message["request_id"]), None)
            if prop is not None and message.get("error") == "success":
                self._property(prop, message.get("data"), host)
        elif event == "seek":
            self._on_seeking(True)
        elif event == "playback-restart":
            self._on_seeking(False)
            self._ask_position()
        elif event in ("end-file", "file-loaded"):
            # The next file may have no audio track.
            self._audio = False

    def _property(self, name: str, value: Any, host: float) -> None:
        self._props[name] = value
        if name == "pause":
            self._on_playing(not value, host)
            self._ask_position()
        elif name == "speed" and isinstance(value, int | float):
            # mpv stands still for ~0.2 s while it rebuilds its audio chain at the new speed.
            self._on_rate(float(value), host, hold=True)
        elif name == "seeking":
            self._on_seeking(bool(value))
        elif name in ("path", "media-title", "duration"):
            media = self._props.get("path") or self._props.get("media-title")
            duration = self._props.get("duration")
            self._on_media(media, float(duration) if isinstance(duration, int | float) else None)
            if self._props.get("path") is None:
                self._on_position(None, host)
        elif name == "audio-pts":
            if isinstance(value, int | float):
                self._audio = True
                if self.playing and not self.seeking:
                    self._on_position(float(value), host)
        elif name == "time-pos":
            if not isinstance(value, int | float):
                self._on_position(None, host)
            elif not (self._audio and self.playing and not self.seeking):
                self._on_position(float(value), host)
