"""What a microdial LSL stream carries, shared by the outlet (sinks.lsl) and the XDF importer
(store.xdf), which must not load liblsl to read a file."""

from __future__ import annotations

from typing import get_args

from dialwire import VALUE_MAX, VALUE_MIN
from microdial.model import Playback

STREAM_TYPE = "Rating"

# (label, unit, what it is); every channel is a double.
CHANNELS: tuple[tuple[str, str, str], ...] = (
    ("value", "scale points", f"the dial's rating, {VALUE_MIN}..{VALUE_MAX}"),
    ("media_time", "s", "position in the video when the dial was read; NaN without a player"),
    ("seq", "count", "the dial's sample sequence number (gaps show lost samples)"),
    ("playback", "code", "the player's state: 0 none, 1 playing, 2 paused, 3 seeking, 4 no player"),
    ("discontinuity", "flag", "1 where the video jumped (a seek) since the previous sample"),
)
LABELS: tuple[str, ...] = tuple(label for label, _, _ in CHANNELS)

# 0 = no player clock; then model.Playback's states in order.
PLAYBACK_STATES: tuple[Playback | None, ...] = (None, *get_args(Playback))
PLAYBACK_CODE: dict[Playback | None, int] = {state: code for code, state in enumerate(PLAYBACK_STATES)}


def stream_name(session: str, role: str, dial: str) -> str:
    return f"microdial-{session}-{role}-{dial}"


def source_id(session: str, role: str, dial: str) -> str:
    return f"microdial:{session}:{role}:{dial}"
