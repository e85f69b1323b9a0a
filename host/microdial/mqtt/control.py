"""Control over MQTT: commands for a session's daemons, validated, answered on the reply topic.

Commands come and replies go on the daemon's one broker connection (MqttPublisher), which
subscribes to the command topic again after every reconnect.

A malformed or unauthorised command gets an error reply and changes nothing; what is parsed is
bounded in size and nesting (a command is a flat object of a few short fields), the reply never
echoes more than an id of the allowed length, and no command, however bad, stops the handler. A command for a
dial this daemon does not have is left to the daemon that has it (daemons of one session share
the command topic), so it gets no reply from here.
"""

from __future__ import annotations

import json
import logging

from pydantic import ValidationError

from microdial.device.runner import DialRunner
from microdial.errors import TransportError
from microdial.model import COMMAND, CommandReply, DialCommand, RateCommand, SessionCommand
from microdial.mqtt.client import MqttError
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.topics import command_topic, reply_topic
from microdial.players.base import PlayerClock

log = logging.getLogger(__name__)

DEVICE_COMMANDS = {"recentre": "ZERO", "identify": "IDENT"}
# The largest valid command (a 64-character id and token, a 200-character detail) is far below.
MAX_COMMAND_BYTES = 4096
# A command is one object of scalars: anything nested deeper is not a command.
MAX_DEPTH = 2
MAX_ID = 64


class Controller:
    def __init__(
        self,
        publisher: MqttPublisher,
        session: str,
        runners: list[DialRunner],
        player: PlayerClock | None = None,
        token: str | None = None,
    ) -> None:
        self._publisher = publisher
        self._session = session
        self._runners = runners
        self._player = player
        self._token = token
        # QoS 0 although the connection's session is persistent: a command sent while the daemon
        # is away is not kept for it (Mosquitto queues no QoS 0 for absent clients), so a
        # reconnect never acts on a stale "recentre".
        self._commands = publisher.listen(command_topic(session), qos=0)
        # Set while the broker has the subscription: commands sent now are answered.
        self.ready = self._commands.ready
        self.name = publisher.daemon

    async def run(self) -> None:
        while True:
            payload = await self._commands.messages.get()
            try:
                reply = await self.handle(payload)
            except Exception:
                # A bug must cost one command, not every later one.
                log.exception("control: a command of %d bytes failed; serving the next", len(payload))
                reply = CommandReply(id=None, ok=False, error="internal error: see the daemon's log")
            if reply is None:
                continue
            try:
                await self._publisher.publish(reply_topic(self._session), reply.model_dump_json(), qos=1)
            except MqttError as err:
                log.warning("control: the reply to %s was lost with the connection: %s", reply.id, err)

    async def handle(self, payload: bytes) -> CommandReply | None:
        if len(payload) > MAX_COMMAND_BYTES:
            return CommandReply(
                id=None,
                ok=False,
                error=f"malformed command: {len(payload)} bytes, at most {MAX_COMMAND_BYTES}",
            )
        if _depth(payload) > MAX_DEPTH:
            return CommandReply(
                id=None, ok=False, error=f"malformed command: nested deeper than {MAX_DEPTH} levels"
            )
        try:
            command = COMMAND.validate_json(payload)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            return CommandReply(
                id=_claimed_id(payload), ok=False, error=f"malformed command: {where}: {first['msg']}"
            )
        if self._token is not None and command.token != self._token:
            return CommandReply(id=command.id, ok=False, error="unauthorised: wrong or missing token")
        if isinstance(command, SessionCommand):
            return self._session_command(command)
        runner = next((r for r in self._runners if r.key is not None and r.key.dial == command.dial), None)
        if runner is None:
            return None
        kind, fields = ("RATE", (command.hz,)) if isinstance(command, RateCommand) else _device(command)
        try:
            ack = await runner.command(kind, fields)
        except TransportError as err:
            return CommandReply(id=command.id, ok=False, error=str(err))
        return CommandReply(
            id=command.id,
            ok=ack.status == "ok",
            error=None if ack.status == "ok" else ack.detail,
            detail=f"{self.name}: {kind} {ack.status} {ack.detail}".strip(),
        )

    def _session_command(self, command: SessionCommand) -> CommandReply:
        if self._player is not None:
            self._player.on_session(command.action)
        for runner in self._runners:
            runner.mark_session(command.action, command.detail)
        return CommandReply(
            id=command.id, ok=True, detail=f"{self.name}: {command.action} for {len(self._runners)} dials"
        )


def _device(command: DialCommand) -> tuple[str, tuple[int, ...]]:
    return DEVICE_COMMANDS[command.command], ()


def _depth(payload: bytes) -> int:
    """How deep arrays and objects nest, outside strings: checked before any parser recurses."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in payload:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def _claimed_id(payload: bytes) -> str | None:
    """The id a malformed command meant to have, so the sender can match the error to it; not one
    longer than a valid id (the reply would echo it)."""
    try:
        claimed = json.loads(payload).get("id")
    except (ValueError, AttributeError, RecursionError):
        return None
    return claimed if isinstance(claimed, str) and 0 < len(claimed) <= MAX_ID else None
