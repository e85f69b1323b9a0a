"""The MQTT topic tree (protocol/SPEC.md section 3)."""

from __future__ import annotations

from typing import Literal, NamedTuple

# The MQTT tree's own version (protocol/SPEC.md): the serial wire's (dialwire.PROTOCOL_VERSION)
# changes with the dials' firmware, which subscribers never see.
VERSION = 1
PREFIX = f"microdial/v{VERSION}"

Channel = Literal["samples", "status", "events"]
CHANNELS: tuple[Channel, ...] = ("samples", "status", "events")


class DialTopic(NamedTuple):
    session: str
    dial: str
    channel: Channel


def dial_topic(session: str, dial: str, channel: Channel) -> str:
    return f"{PREFIX}/{session}/{dial}/{channel}"


def command_topic(session: str) -> str:
    """Where controllers send commands for every daemon of a session."""
    return f"{PREFIX}/{session}/cmd"


def reply_topic(session: str) -> str:
    return f"{PREFIX}/{session}/cmd/reply"


def subscription(session: str | None = None, channel: Channel | None = None) -> str:
    """A filter for one session (or all, with None) and one channel (or all)."""
    return f"{PREFIX}/{session or '+'}/+/{channel or '+'}"


def parse_topic(topic: str) -> DialTopic | None:
    """The parts of a dial topic, or None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != PREFIX:
        return None
    session, dial, channel = parts[2], parts[3], parts[4]
    for known in CHANNELS:
        if channel == known:
            return DialTopic(session, dial, known)
    return None
