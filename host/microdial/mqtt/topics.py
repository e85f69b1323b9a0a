"""The MQTT topic tree (protocol/SPEC.md section 3)."""

from __future__ import annotations

from typing import Literal, NamedTuple

# The MQTT tree's own version (protocol/SPEC.md): the serial wire's (dialwire.PROTOCOL_VERSION)
# changes with the dials' firmware, which subscribers never see.
VERSION = 1
PREFIX = f"microdial/v{VERSION}"

Channel = Literal["samples", "status", "events"]
CHANNELS: tuple[Channel, ...] = ("samples", "status", "events")

# Names at a dial's level of the tree that are not dials: they share the session's '+/+' filter.
DAEMON = "daemon"
COMMANDS = "cmd"


class DialTopic(NamedTuple):
    session: str
    dial: str
    channel: Channel


class DaemonTopic(NamedTuple):
    session: str
    daemon: str


def dial_topic(session: str, dial: str, channel: Channel) -> str:
    return f"{PREFIX}/{session}/{dial}/{channel}"


def daemon_topic(session: str, daemon: str) -> str:
    """Where a daemon's retained DaemonStatus lives; its connection's will marks it offline."""
    return f"{PREFIX}/{session}/{DAEMON}/{daemon}"


def command_topic(session: str) -> str:
    """Where controllers send commands for every daemon of a session."""
    return f"{PREFIX}/{session}/{COMMANDS}"


def reply_topic(session: str) -> str:
    return f"{PREFIX}/{session}/{COMMANDS}/reply"


def subscription(session: str | None = None, channel: Channel | None = None) -> str:
    """A filter for one session (or all, with None) and one channel (or all).

    Without a channel it also matches the session's daemon statuses (parse_daemon_topic).
    """
    return f"{PREFIX}/{session or '+'}/+/{channel or '+'}"


def _parts(topic: str) -> list[str] | None:
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != PREFIX:
        return None
    return parts


def parse_topic(topic: str) -> DialTopic | None:
    """The parts of a dial topic, or None for any other topic."""
    parts = _parts(topic)
    if parts is None or parts[3] in (DAEMON, COMMANDS):
        return None
    session, dial, channel = parts[2], parts[3], parts[4]
    for known in CHANNELS:
        if channel == known:
            return DialTopic(session, dial, known)
    return None


def parse_daemon_topic(topic: str) -> DaemonTopic | None:
    """The session and daemon id of a daemon status topic, or None for any other topic."""
    parts = _parts(topic)
    if parts is None or parts[3] != DAEMON:
        return None
    return DaemonTopic(parts[2], parts[4])


# -- delivery (protocol/SPEC.md section 3.5): six levels, so the '+/+' filters never match them --
CONFIRMED = "confirmed"
REPLAY = "replay"
Delivery = Literal["confirmed", "replay"]


class DeliveryTopic(NamedTuple):
    session: str
    dial: str
    kind: Delivery
    recorder: str


def confirmed_topic(session: str, dial: str, recorder: str) -> str:
    """Where a recorder keeps (retained) how far it holds each of the dial's journals."""
    return f"{PREFIX}/{session}/{dial}/{CONFIRMED}/{recorder}"


def replay_topic(session: str, dial: str, recorder: str) -> str:
    """Where a recorder asks the daemon for a range of a dial's journal again."""
    return f"{PREFIX}/{session}/{dial}/{REPLAY}/{recorder}"


def delivery_subscriptions(session: str) -> tuple[str, str]:
    """What a daemon reads for the dials of a session: confirmations and replay requests."""
    return f"{PREFIX}/{session}/+/{CONFIRMED}/+", f"{PREFIX}/{session}/+/{REPLAY}/+"


def parse_delivery_topic(topic: str) -> DeliveryTopic | None:
    parts = topic.split("/")
    if len(parts) != 6 or "/".join(parts[:2]) != PREFIX:
        return None
    if parts[4] == CONFIRMED:
        return DeliveryTopic(parts[2], parts[3], "confirmed", parts[5])
    if parts[4] == REPLAY:
        return DeliveryTopic(parts[2], parts[3], "replay", parts[5])
    return None
