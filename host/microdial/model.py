"""The JSON payloads on MQTT (protocol/SPEC.md section 3), validated at every boundary."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from dialwire import SEQ_MODULO, VALUE_MAX, VALUE_MIN

Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
RatingValue = Annotated[int, Field(ge=VALUE_MIN, le=VALUE_MAX)]
# A time no daemon stamps: JSON from a publisher may spell NaN and Infinity, and a store of them
# would poison every mean and grid downstream.
Time = Annotated[float, Field(allow_inf_nan=False)]


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Playback = Literal["playing", "paused", "seeking", "no-player"]
# Why a player clock's media time jumped (protocol/SPEC.md 3.1): a seek, a speed change, another
# file, or the clock re-syncing with its player (a (re)connect, or a jump the player did not declare).
Cause = Literal["seek", "speed", "media", "resync"]


class Sample(_Payload):
    dial: Code
    role: Code
    session: Code
    participant: Code | None = None
    value: RatingValue
    seq: Annotated[int, Field(ge=0, lt=SEQ_MODULO)]
    device_time: Time
    host_time: Time
    host_monotonic: Time
    media_time: Time | None = None
    sync_uncertainty: Time | None = None
    # Filled in by a player clock (protocol/SPEC.md 3.1); null when none is used.
    playback: Playback | None = None
    player: str | None = None
    media: str | None = None
    media_duration: Time | None = None
    # False, or the cause of the discontinuity; true (from daemons before causes) is one of unknown cause.
    discontinuity: bool | Cause = False
    # The dial's boot nonce (wire protocol 2): seq restarts at every boot, so a sample is
    # (dial, boot, seq). Null from a protocol 1 dial: then (dial, seq, host_time). Last, so
    # sample files written before it read as they were.
    boot: str | None = None


class SampleBatch(_Payload):
    samples: list[Sample]
    # Where the samples sit in the daemon's journal (protocol/SPEC.md 3.5): absent from a
    # publisher without one. The samples are journal records first, first+1, ...
    journal: Code | None = None
    first: Annotated[int, Field(ge=0)] | None = None
    # Everything below head was confirmed by every recorder the daemon waits for.
    head: Annotated[int, Field(ge=0)] | None = None


_SAMPLE_LIST: TypeAdapter[list[Sample]] = TypeAdapter(list[Sample])


def batch_json(samples: list[Sample]) -> bytes:
    """The SampleBatch of samples as JSON, without building the SampleBatch (the daemon's hot path)."""
    return b'{"samples":' + _SAMPLE_LIST.dump_json(samples) + b"}"


_BATCH_FORMS: TypeAdapter[SampleBatch | list[Sample]] = TypeAdapter(SampleBatch | list[Sample])


def parse_samples(payload: bytes | str) -> list[Sample]:
    """Samples from either batch form the spec allows: {"samples": [...]} or a bare list."""
    return parse_batch(payload).samples


def parse_batch(payload: bytes | str) -> SampleBatch:
    """The batch, with its journal position when it has one; a bare list has none."""
    parsed = _BATCH_FORMS.validate_json(payload)
    return parsed if isinstance(parsed, SampleBatch) else SampleBatch(samples=parsed)


class Counters(_Payload):
    samples: int = 0
    bad_records: int = 0
    skipped_bytes: int = 0
    gaps: int = 0
    lost_samples: int = 0
    device_dropped_records: int = 0
    queued: int = 0
    queue_dropped: int = 0
    resets: int = 0


class SyncState(_Payload):
    offset: float
    drift_ppm: float
    uncertainty: float


DialState = Literal["online", "no-device", "offline"]


class DialStatus(_Payload):
    dial: Code
    role: Code
    session: Code
    participant: Code | None = None
    state: DialState
    host_time: float
    # The daemon whose connection carries this dial: while its DaemonStatus says offline, so is the dial.
    daemon: Code | None = None
    firmware: str | None = None
    protocol: int | None = None
    input: str | None = None
    rate_hz: int | None = None
    counters: Counters = Counters()
    sync: SyncState | None = None


class DaemonStatus(_Payload):
    """A daemon's presence, retained; the will of its one broker connection sets state offline."""

    daemon: Code
    session: Code
    state: Literal["online", "offline"]
    # When the daemon wrote it; null in the will, which the broker publishes at a time it alone knows.
    host_time: float | None = None


class Confirmation(_Payload):
    """A recorder's hold of one dial's journals (retained): per journal id, every index below is written and synced."""

    recorder: Code
    session: Code
    dial: Code
    journals: dict[Code, Annotated[int, Field(ge=0)]]
    host_time: float


class ReplayRequest(_Payload):
    """A recorder asks again for the records [start, stop) of a dial's journal."""

    recorder: Code
    session: Code
    dial: Code
    journal: Code
    start: Annotated[int, Field(ge=0)]
    stop: Annotated[int, Field(ge=0)]


EventKind = Literal["button", "connect", "disconnect", "reset", "gap", "device-error", "session"]


class DialEvent(_Payload):
    dial: Code
    role: Code
    session: Code
    kind: EventKind
    detail: str = ""
    device_time: Time | None = None
    host_time: Time
    host_monotonic: Time
    media_time: Time | None = None


# -- control (protocol/SPEC.md section 3.4) ---------------------------------------------------


class _Command(_Payload):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    token: str | None = None


class SessionCommand(_Command):
    command: Literal["session"]
    action: Literal["start", "stop", "mark"]
    detail: Annotated[str, StringConstraints(max_length=200)] = ""


class DialCommand(_Command):
    command: Literal["recentre", "identify"]
    dial: Code


class RateCommand(_Command):
    command: Literal["rate"]
    dial: Code
    hz: Annotated[int, Field(ge=1, le=1000)]


Command = Annotated[SessionCommand | DialCommand | RateCommand, Field(discriminator="command")]
COMMAND: TypeAdapter[SessionCommand | DialCommand | RateCommand] = TypeAdapter(Command)


class CommandReply(_Payload):
    id: str | None
    ok: bool
    error: str | None = None
    detail: str = ""
