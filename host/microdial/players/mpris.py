"""Any MPRIS2 player over D-Bus (VLC with `--control dbus`, mpv with mpv-mpris, browsers, ...).

`Position` (µs) has no change signal, so it is polled; `Rate`, `PlaybackStatus` and `Metadata` come
by PropertiesChanged, seeks by the `Seeked` signal. Between reads the position is interpolated with
Rate while Playing. Some players (VLC) refresh Position only every 250-500 ms: when a read differs
from the previous one by a step that continuous playback cannot explain, the new value is placed
at the midpoint between the two reads (the step happened somewhere between them), and the anchor
is a line fit through those points, as for VLC's HTTP interface. Such a player also leaves
Position where its last refresh put it when it pauses, up to ~0.5 s behind the frame on screen:
a pause is anchored where the line was, and a paused read is taken only when it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from microdial.players.base import JUMP_TOLERANCE, AnchoredClock, LineFit, PlayerGone

PREFIX = "org.mpris.MediaPlayer2."
PATH = "/org/mpris/MediaPlayer2"
PLAYER = "org.mpris.MediaPlayer2.Player"
PROPERTIES = "org.freedesktop.DBus.Properties"
POLL_INTERVAL = 0.02
MICROSECOND = 1e-6


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Variant) else value


class MprisClock(AnchoredClock):
    name = "mpris"
    # The Seeked signal and the polled Position race: a jump seen first in a poll is a seek too.
    jump_cause = "seek"

    def __init__(
        self,
        player_name: str | None = None,
        bus_address: str | None = None,
        now: Callable[[], float] = time.monotonic,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        super().__init__(now)
        self.player_name = None if player_name is None else self._full_name(player_name)
        self.bus_address = bus_address
        self.poll_interval = poll_interval
        self._fit = LineFit()
        self._last: tuple[float, float] | None = None
        self.bus_name: str | None = None

    @staticmethod
    def _full_name(name: str) -> str:
        return name if name.startswith(PREFIX) else PREFIX + name

    async def _follow(self) -> None:
        bus = MessageBus(bus_address=self.bus_address, bus_type=BusType.SESSION)
        try:
            await bus.connect()
        except (OSError, ValueError, DBusError) as err:
            raise PlayerGone(f"no D-Bus session bus: {err}") from None
        try:
            await self._follow_on(bus)
        except DBusError as err:
            raise PlayerGone(f"{self.bus_name}: {err}") from None
        finally:
            bus.disconnect()

    async def _follow_on(self, bus: MessageBus) -> None:
        name = await self._find_player(bus)
        owner = str((await self._call(bus, "GetNameOwner", "s", [name])).body[0])
        self.bus_name = name
        gone = asyncio.get_running_loop().create_future()

        def on_message(message: Message) -> None:
            if message.message_type != MessageType.SIGNAL:
                return
            if message.member == "NameOwnerChanged" and message.body[0] == name and message.body[2] != owner:
                if not gone.done():
                    gone.set_result(None)
            elif message.sender == owner and message.member == "Seeked":
                self._seeked(int(message.body[0]) * MICROSECOND, self.now())
            elif (
                message.sender == owner
                and message.member == "PropertiesChanged"
                and message.body[0] == PLAYER
            ):
                self._properties({key: _plain(value) for key, value in message.body[1].items()}, self.now())

        bus.add_message_handler(on_message)
        await self._call(bus, "AddMatch", "s", [f"type='signal',sender='{owner}',path='{PATH}'"])
        rule = f"type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='{name}'"
        await self._call(bus, "AddMatch", "s", [rule])
        before = self.now()
        everything = await self._player_call(bus, name, "GetAll", "s", [PLAYER])
        after = self.now()
        self._fit.clear()
        self._last = None
        self._on_online()
        self._properties(
            {key: _plain(value) for key, value in everything.body[0].items()}, (before + after) / 2
        )
        poller = asyncio.create_task(self._poll(bus, name))
        try:
            await asyncio.wait([poller, gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, DBusError, PlayerGone):
                await poller
            bus.remove_message_handler(on_message)
        if poller.done() and not poller.cancelled() and poller.exception() is not None:
            raise PlayerGone(f"{name}: {poller.exception()}")
        raise PlayerGone(f"{name} left the bus")

    async def _find_player(self, bus: MessageBus) -> str:
        names = [str(name) for name in (await self._call(bus, "ListNames", "", [])).body[0]]
        if self.player_name is not None:
            if self.player_name in names:
                return self.player_name
            raise PlayerGone(f"{self.player_name} is not on the bus")
        players = sorted(name for name in names if name.startswith(PREFIX))
        if not players:
            raise PlayerGone("no MPRIS player on the bus")
        return players[0]

    @staticmethod
    async def _call(bus: MessageBus, member: str, signature: str, body: list[Any]) -> Message:
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member=member,
                signature=signature,
                body=body,
            )
        )
        return MprisClock._checked(reply)

    async def _player_call(
        self, bus: MessageBus, name: str, member: str, signature: str, body: list[Any]
    ) -> Message:
        self.queries += 1
        reply = await bus.call(
            Message(
                destination=name,
                path=PATH,
                interface=PROPERTIES,
                member=member,
                signature=signature,
                body=body,
            )
        )
        return self._checked(reply)

    @staticmethod
    def _checked(reply: Message | None) -> Message:
        if reply is None:
            raise PlayerGone("no reply on the bus")
        if reply.message_type == MessageType.ERROR:
            raise DBusError(reply.error_name or "org.freedesktop.DBus.Error.Failed", str(reply.body))
        return reply

    async def _poll(self, bus: MessageBus, name: str) -> None:
        while True:
            before = self.now()
            reply = await self._player_call(bus, name, "Get", "ss", [PLAYER, "Position"])
            after = self.now()
            self._read_position(int(_plain(reply.body[0])) * MICROSECOND, (before + after) / 2)
            await asyncio.sleep(max(0.0, self.poll_interval - (self.now() - before)))

    # -- what the player says ----------------------------------------------------------------------
    def _properties(self, changed: dict[str, Any], host: float) -> None:
        if "Metadata" in changed:
            metadata = {key: _plain(value) for key, value in (changed["Metadata"] or {}).items()}
            length = metadata.get("mpris:length")
            media = metadata.get("xesam:url") or metadata.get("xesam:title")
            self._on_media(
                None if media is None else str(media),
                int(length) * MICROSECOND if isinstance(length, int) and length > 0 else None,
            )
        if "Rate" in changed and float(changed["Rate"]) > 0:
            self._fit.clear()
            self._on_rate(float(changed["Rate"]), host)
        if "PlaybackStatus" in changed:
            status = str(changed["PlaybackStatus"])
            self._fit.clear()
            if status == "Stopped":
                self._on_position(None, host)
            else:
                self._on_playing(status == "Playing", host)
        if "Position" in changed:
            self._read_position(int(changed["Position"]) * MICROSECOND, host)

    def _seeked(self, position: float, host: float) -> None:
        self._fit.clear()
        # VLC also signals Seeked just after it resumes, at about where playback already is: only a
        # jump is a seek.
        if self.anchor is None or abs(self.anchor.at(host) - position) > JUMP_TOLERANCE:
            self._flag("seek")
        self._last = (host, position)
        self._on_position(position, host)

    def _read_position(self, position: float, sampled: float) -> None:
        last, self._last = self._last, (sampled, position)
        if self.anchor is None or last is None:
            self._on_position(position, sampled)
            return
        if not self.playing:
            if position != last[1]:
                self._on_position(position, sampled)
            return
        if abs(self.anchor.at(sampled) - position) > JUMP_TOLERANCE:
            self._fit.clear()
        if position == last[1]:
            return
        elapsed = sampled - last[0]
        continuous = abs((position - last[1]) - elapsed * self.rate) <= 0.5 * elapsed
        at = sampled if continuous else (last[0] + sampled) / 2
        self._fit.add(at, position)
        self._on_position(self._fit.at(at, self.rate), at)
