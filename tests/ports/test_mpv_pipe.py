"""mpv's Windows named pipe: the connection branch, run here over a Unix socket standing in for the pipe.

Only Windows' Proactor loop has create_pipe_connection; this loop's version opens a Unix socket
instead, so the branch (and the same JSON-lines client code after it) runs for real on Linux.
What is not run here: the Proactor's own pipe I/O.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from microdial.players.base import PlayerGone
from microdial.players.mpv import PIPE_PREFIX, MpvClock, open_ipc


class PipeLoop(asyncio.SelectorEventLoop):
    """A loop with the Proactor's create_pipe_connection, a pipe name mapped to a Unix socket."""

    def __init__(self, sockets: Path) -> None:
        super().__init__()
        self.sockets = sockets
        self.opened: list[str] = []

    async def create_pipe_connection(
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], address: str
    ) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
        assert address.startswith(PIPE_PREFIX)
        self.opened.append(address)
        return await self.create_unix_connection(
            protocol_factory, str(self.sockets / address[len(PIPE_PREFIX) :])
        )


def test_a_pipe_name_is_opened_through_create_pipe_connection(tmp_path: Path) -> None:
    loop = PipeLoop(tmp_path)
    requests: list[Any] = []

    async def fake_mpv(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            requests.append(json.loads(line))
            if len(requests) == 3:
                writer.write(b'{"event":"property-change","id":3,"name":"pause","data":false}\n')
                await writer.drain()

    async def scenario() -> None:
        server = await asyncio.start_unix_server(fake_mpv, str(tmp_path / "mpv"))
        clock = MpvClock(PIPE_PREFIX + "mpv")
        follow = asyncio.create_task(clock.run())
        try:
            async with asyncio.timeout(5):
                while not clock.playing:
                    await asyncio.sleep(0.01)
        finally:
            follow.cancel()
            await asyncio.gather(follow, return_exceptions=True)
            server.close()

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert loop.opened == [PIPE_PREFIX + "mpv"]
    assert [r["command"][0] for r in requests[:3]] == ["observe_property"] * 3


def test_a_loop_without_pipes_says_what_it_needs() -> None:
    async def scenario() -> None:
        with pytest.raises(PlayerGone, match="Proactor"):
            await open_ipc(PIPE_PREFIX + "mpv")

    asyncio.run(scenario())


def test_the_pipe_name_survives_as_given() -> None:
    assert MpvClock(PIPE_PREFIX + "mpv").address == "\\\\.\\pipe\\mpv"
