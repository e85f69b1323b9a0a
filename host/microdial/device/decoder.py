"""Bytes from a dial → typed records, with integrity checks, resync and sequence-gap accounting.

A record passes two checks before it comes out: the codec's (check value, kind, field layout) and
plausibility (each number within what a dial can send: a time since start not negative, a value on the
scale, a sequence number below the modulus). A record failing either is counted in bad_records and
never handed on, so it can change no state: no false restart, no false gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialwire import SEQ_MODULO, VALUE_MAX, VALUE_MIN, Framer
from microdial.device.sequence import SequenceCounter, Step

# Longer than a dial runs (about 8.9 years): a device time beyond it is damage, not age.
MAX_DEVICE_TIME_US = 1 << 48


def _time(t_us: int) -> bool:
    return 0 <= t_us <= MAX_DEVICE_TIME_US


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
    # The dial's boot nonce (protocol 2 on): a sample is identified by (device, boot, seq), since
    # seq restarts at every boot. None from a protocol 1 dial, whose ID has no such field.
    boot: str | None = None

    def plausible(self) -> bool:
        return 1 <= self.rate_hz <= 1000 and VALUE_MIN <= self.value <= VALUE_MAX


@dataclass(frozen=True, slots=True)
class SampleRecord:
    seq: int
    t_us: int
    value: int

    def plausible(self) -> bool:
        return 0 <= self.seq < SEQ_MODULO and _time(self.t_us) and VALUE_MIN <= self.value <= VALUE_MAX


@dataclass(frozen=True, slots=True)
class Heartbeat:
    t_us: int
    last_seq: int
    value: int

    def plausible(self) -> bool:
        return _time(self.t_us) and 0 <= self.last_seq < SEQ_MODULO and VALUE_MIN <= self.value <= VALUE_MAX


@dataclass(frozen=True, slots=True)
class ButtonRecord:
    t_us: int
    kind: str

    def plausible(self) -> bool:
        return _time(self.t_us)


@dataclass(frozen=True, slots=True)
class Diagnostics:
    t_us: int
    dropped_records: int
    dropped_bytes: int
    bad_commands: int
    loop_max_us: int
    errors: int

    def plausible(self) -> bool:
        counts = (self.dropped_records, self.dropped_bytes, self.bad_commands, self.loop_max_us, self.errors)
        return _time(self.t_us) and min(counts) >= 0


@dataclass(frozen=True, slots=True)
class Pong:
    token: int
    t_us: int

    def plausible(self) -> bool:
        return _time(self.t_us)


@dataclass(frozen=True, slots=True)
class Ack:
    command: str
    status: str
    detail: str

    def plausible(self) -> bool:
        return True  # text only: the codec's checks are all there is


@dataclass(frozen=True, slots=True)
class DeviceError:
    t_us: int
    code: str
    message: str

    def plausible(self) -> bool:
        return _time(self.t_us)


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
        self.implausible = 0  # intact records with a number no dial sends

    @property
    def bad_records(self) -> int:
        return self._framer.bad_records + self.implausible

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
            record = record_type(*values)  # type: ignore[arg-type]
            if record.plausible():
                records.append(record)
            else:
                self.implausible += 1
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
