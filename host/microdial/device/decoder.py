"""Bytes from a dial → typed records, with integrity checks, resync and sequence-gap accounting."""

from __future__ import annotations

from dataclasses import dataclass

from dialwire import Framer
from microdial.device.sequence import SequenceCounter, Step


def seconds(t_us: int) -> float:
    """Device microseconds as seconds; division keeps the shortest decimal form (0.021243, not 0.0212429...)."""
    return t_us / 1_000_000


@dataclass(frozen=True, slots=True)
class Identity:
    protocol: int
    firmware: str
    device: str
    input: str
    rate_hz: int
    steps_per_detent: int
    value: int


@dataclass(frozen=True, slots=True)
class SampleRecord:
    seq: int
    t_us: int
    value: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    t_us: int
    last_seq: int
    value: int


@dataclass(frozen=True, slots=True)
class ButtonRecord:
    t_us: int
    kind: str


@dataclass(frozen=True, slots=True)
class Diagnostics:
    t_us: int
    dropped_records: int
    dropped_bytes: int
    bad_commands: int
    loop_max_us: int
    errors: int


@dataclass(frozen=True, slots=True)
class Pong:
    token: int
    t_us: int


@dataclass(frozen=True, slots=True)
class Ack:
    command: str
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class DeviceError:
    t_us: int
    code: str
    message: str


Record = Identity | SampleRecord | Heartbeat | ButtonRecord | Diagnostics | Pong | Ack | DeviceError

_RECORD_TYPES: dict[str, type[Record]] = {
    "ID": Identity,
    "S": SampleRecord,
    "HB": Heartbeat,
    "BTN": ButtonRecord,
    "DIAG": Diagnostics,
    "PONG": Pong,
    "ACK": Ack,
    "ERR": DeviceError,
}


class Decoder:
    """One dial's byte stream → records. Bad bytes are counted, never fatal."""

    def __init__(self) -> None:
        self._framer = Framer()
        self.sequence = SequenceCounter()
        self.unexpected = 0  # intact records of a kind a device never sends (e.g. echoed commands)

    @property
    def bad_records(self) -> int:
        return self._framer.bad_records

    @property
    def skipped_bytes(self) -> int:
        return self._framer.skipped_bytes

    @property
    def last_error(self) -> str | None:
        return self._framer.last_error

    def feed(self, data: bytes) -> list[Record]:
        records: list[Record] = []
        for kind, values in self._framer.feed(data):
            record_type = _RECORD_TYPES.get(kind)
            if record_type is None:
                self.unexpected += 1
                continue
            # The codec already checked each field against the kind's layout, so positional
            # construction cannot put a string where the layout says integer.
            records.append(record_type(*values))  # type: ignore[arg-type]
        return records

    def check_sequence(self, sample: SampleRecord) -> Step | None:
        """Account for the sample's sequence number; the Step when samples went missing before it.

        A number from before the last one (a restart or a duplicate) is not a gap: the session tells
        which from the dial's clock.
        """
        step = self.sequence.observe(sample.seq)
        return step if step.lost else None  # only a gap loses samples

    def restart_sequence(self) -> None:
        self.sequence.restart()

    @property
    def samples(self) -> int:
        return self.sequence.samples

    @property
    def gaps(self) -> int:
        return self.sequence.gaps

    @property
    def lost_samples(self) -> int:
        return self.sequence.lost

    @property
    def last_seq(self) -> int | None:
        return self.sequence.last
