"""Decoder robustness: arbitrary bytes never crash it; intact plausible records always come out, in order,
alone; a record with a number no dial sends never comes out."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dialwire import (
    BOOT_DIGITS,
    DEVICE_ID_CHARS,
    ID_LAYOUTS,
    MAX_DEVICE_ID,
    MAX_RECORD,
    SCHEMA,
    SEQ_MODULO,
    VALUE_MAX,
    VALUE_MIN,
    encode,
)
from microdial.device.decoder import _RECORD_TYPES, MAX_DEVICE_TIME_US, Decoder, Record

DEVICE_KINDS = sorted(_RECORD_TYPES)
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=",*$\r\n"), max_size=12
)
INTEGER = st.integers(min_value=-(2**31), max_value=2**31)
# Device ids and boot nonces are checked at the wire, so only valid ones make an intact record.
TEXT_FIELD = {
    "s": TEXT,
    "d": st.text(st.sampled_from(DEVICE_ID_CHARS), min_size=1, max_size=MAX_DEVICE_ID),
    "n": st.text(st.sampled_from("0123456789ABCDEF"), min_size=BOOT_DIGITS, max_size=BOOT_DIGITS),
}
SMALLEST = {"i": 1, "s": "", "d": "D", "n": "0" * BOOT_DIGITS}

# What a dial can send in each numeric field (None: any integer); the bounds plausibility checks.
TIME = (0, MAX_DEVICE_TIME_US)
SEQ = (0, SEQ_MODULO - 1)
VALUE = (VALUE_MIN, VALUE_MAX)
COUNT = (0, None)  # a counter since start: no upper bound
BOUNDS: dict[str, list[tuple[int, int | None] | None]] = {
    # The ID record's layout follows its protocol version: these cover the longest.
    "ID": [None, None, None, None, (1, 1000), None, VALUE, None],
    "S": [SEQ, TIME, VALUE],
    "HB": [TIME, SEQ, VALUE],
    "BTN": [TIME, None],
    "DIAG": [TIME, COUNT, COUNT, COUNT, COUNT, COUNT],
    "PONG": [None, TIME],
    "ACK": [None, None, None],
    "ERR": [TIME, None, None],
}


def field(spec: str, bounds: tuple[int, int | None] | None) -> st.SearchStrategy[int | str]:
    if spec != "i":
        return TEXT_FIELD[spec]
    return INTEGER if bounds is None else st.integers(bounds[0], bounds[1] or 2**31)


@st.composite
def records(draw: st.DrawFn) -> tuple[bytes, Record]:
    """One valid device record on the wire, and what the decoder must make of it."""
    kind = draw(st.sampled_from(DEVICE_KINDS))
    layout, bounds = SCHEMA[kind], BOUNDS[kind]
    first: list[int] = []
    if kind == "ID":  # its layout follows its protocol version
        version = draw(st.sampled_from(sorted(ID_LAYOUTS)))
        layout, first, bounds = ID_LAYOUTS[version][1:], [version], bounds[1:]
    fields = first + [draw(field(spec, limit)) for spec, limit in zip(layout, bounds, strict=False)]
    line = encode(kind, fields)
    if len(line) > MAX_RECORD:
        # Longer than any record a dial sends; the framer may drop those by design.
        fields = first + [SMALLEST[spec] for spec in layout]
        line = encode(kind, fields)
    return line, _RECORD_TYPES[kind](*fields)  # type: ignore[arg-type]


@st.composite
def implausible_records(draw: st.DrawFn) -> bytes:
    """An intact record (its check value right) with one number outside what a dial can send."""
    kind = draw(st.sampled_from([kind for kind, bounds in BOUNDS.items() if any(bounds)]))
    fields: list[int | str] = [SMALLEST[spec] for spec in SCHEMA[kind]]
    if kind == "ID":
        fields[0] = max(ID_LAYOUTS)
    index = draw(st.sampled_from([i for i, bounds in enumerate(BOUNDS[kind]) if bounds]))
    low, high = BOUNDS[kind][index] or (0, None)
    below = st.integers(max_value=low - 1)
    fields[index] = draw(below if high is None else below | st.integers(min_value=high + 1, max_value=10**15))
    return encode(kind, fields)


def feed_in_chunks(decoder: Decoder, data: bytes, cuts: list[int]) -> list[Record]:
    out: list[Record] = []
    previous = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        out += decoder.feed(data[previous:cut])
        previous = cut
    return out


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0), max_size=20))
def test_arbitrary_bytes_never_crash(data: bytes, cuts: list[int]) -> None:
    decoder = Decoder()
    feed_in_chunks(decoder, data, cuts)
    assert decoder.skipped_bytes <= len(data)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(records(), st.binary(max_size=300)), max_size=30),
    st.lists(st.integers(min_value=0), max_size=30),
)
def test_intact_records_between_garbage_without_newlines(
    items: list[tuple[tuple[bytes, Record], bytes]], cuts: list[int]
) -> None:
    # Garbage without a line end shares the next record's line; the record's '$' is the last one.
    stream = b"".join(garbage.replace(b"\n", b"") + line for (line, _), garbage in items)
    assert feed_in_chunks(Decoder(), stream, cuts) == [record for (_, record), _ in items]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.binary(max_size=300), records()), max_size=30),
    st.binary(max_size=100),
    st.lists(st.integers(min_value=0), max_size=30),
)
def test_intact_records_between_garbage_with_newlines(
    items: list[tuple[bytes, tuple[bytes, Record]]], tail: bytes, cuts: list[int]
) -> None:
    stream = b"".join(garbage + line for garbage, (line, _) in items) + tail
    assert feed_in_chunks(Decoder(), stream, cuts) == [record for _, (_, record) in items]


@settings(max_examples=300, deadline=None)
@given(implausible_records(), records())
def test_implausible_records_are_counted_and_never_come_out(bad: bytes, good: tuple[bytes, Record]) -> None:
    decoder = Decoder()
    line, record = good
    assert decoder.feed(bad + line) == [record]
    assert (decoder.implausible, decoder.bad_records) == (1, 1)


def test_a_megabyte_of_noise_with_records_and_bit_flipped_copies() -> None:
    rng = random.Random(20261122)
    kinds = {
        "S": lambda: [rng.randrange(2**30), rng.randrange(2**32), rng.randrange(-50, 51)],
        "HB": lambda: [rng.randrange(2**32), rng.randrange(2**30), rng.randrange(-50, 51)],
        "PONG": lambda: [rng.randrange(10**9), rng.randrange(2**32)],
        "BTN": lambda: [rng.randrange(2**32), rng.choice(["down", "up", "mark", "long"])],
        "ID": lambda: [
            1,
            "1.2.0",
            f"md-{rng.randrange(16**6):06x}",
            "encoder",
            100,
            4,
            rng.randrange(-50, 51),
        ],
        "DIAG": lambda: [rng.randrange(2**32)] + [rng.randrange(1000) for _ in range(5)],
        "ACK": lambda: [rng.choice(["ZERO", "RATE", "IDENT"]), rng.choice(["ok", "err"]), "done"],
        "ERR": lambda: [rng.randrange(2**32), "E_LOOP", "loop took too long"],
    }
    parts: list[bytes] = []
    expected: list[Record] = []
    flipped = 0
    noise = 0
    while noise < 1_000_000:
        garbage = rng.randbytes(rng.randrange(0, 600))
        noise += len(garbage)
        # Each piece ends its own line, so a flipped copy can only be judged on its own bytes.
        parts.append(garbage + b"\n")
        kind = rng.choice(sorted(kinds))
        fields = kinds[kind]()
        line = encode(kind, fields)
        parts.append(line)
        expected.append(_RECORD_TYPES[kind](*fields))  # type: ignore[arg-type]
        copy = bytearray(line)
        copy[rng.randrange(len(copy))] ^= 1 << rng.randrange(8)
        parts.append(bytes(copy) + b"\n")
        flipped += 1
    stream = b"".join(parts)
    decoder = Decoder()
    got: list[Record] = []
    position = 0
    while position < len(stream):
        size = rng.randrange(1, 4096)
        got += decoder.feed(stream[position : position + size])
        position += size
    assert got == expected
    assert decoder.unexpected == 0
    # Most flipped copies frame as a record and fail the check; the rest lost their '$' or line end.
    assert decoder.bad_records >= flipped // 2
