"""A private D-Bus session bus and the test's own MPRIS remote, for the MPRIS tests and the benchmark."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from typing import Any

from tests.players.support import shared_folder

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <!-- VLC runs as nobody (it refuses root), the tests as themselves: let both in. -->
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    """A dbus-daemon of the test's own, so nothing touches the user's session bus."""

    def __init__(self) -> None:
        self.folder = shared_folder()
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""

    def start(self) -> None:
        config = self.folder / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.folder / "socket"))
        self.process = subprocess.Popen(
            ["dbus-daemon", "--nofork", f"--config-file={config}", "--print-address=1"],
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().decode().strip()
        assert self.address.startswith("unix:"), self.address

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


class MprisRemote:
    """The test's own D-Bus connection, to drive the player and ask it its Position."""

    PLAYER = "org.mpris.MediaPlayer2.Player"

    def __init__(self, address: str, name: str) -> None:
        self.address = address
        self.name = name
        self.bus: Any = None

    async def connect(self) -> None:
        from dbus_fast.aio import MessageBus

        self.bus = await MessageBus(bus_address=self.address).connect()

    async def call(
        self, interface: str, member: str, signature: str = "", body: list[Any] | None = None
    ) -> Any:
        from dbus_fast import Message, MessageType

        reply = await self.bus.call(
            Message(
                destination=self.name,
                path="/org/mpris/MediaPlayer2",
                interface=interface,
                member=member,
                signature=signature,
                body=body or [],
            )
        )
        assert reply.message_type != MessageType.ERROR, reply.body
        return reply.body

    async def get(self, prop: str) -> Any:
        body = await self.call("org.freedesktop.DBus.Properties", "Get", "ss", [self.PLAYER, prop])
        return body[0].value

    async def set(self, prop: str, signature: str, value: Any) -> None:
        from dbus_fast import Variant

        body = [self.PLAYER, prop, Variant(signature, value)]
        await self.call("org.freedesktop.DBus.Properties", "Set", "ssv", body)

    async def player(self, member: str, signature: str = "", body: list[Any] | None = None) -> None:
        await self.call(self.PLAYER, member, signature, body)

    async def position(self) -> tuple[float, float]:
        before = time.monotonic()
        value = await self.get("Position")
        after = time.monotonic()
        return (before + after) / 2, value / 1e6

    async def fresh_position(self) -> tuple[float, float]:
        """Position right after the player refreshes it (VLC does so only every 250-500 ms)."""
        previous_at, previous = await self.position()
        while True:
            await asyncio.sleep(0.005)
            at, value = await self.position()
            if value != previous:
                return (previous_at + at) / 2, value
            previous_at = at

    def close(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()
