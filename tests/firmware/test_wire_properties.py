"""Properties of the shared codec (dialwire), fuzzed with hypothesis: what the firmware and the host
both rely on when a record is damaged or forged."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialwire import (
    DEVICE_ID_CHARS,
    MAX_DEVICE_ID,
    MAX_RECORD,
    SCHEMA,
    Framer,
    ProtocolError,
    check_device_id,
    crc16,
    decode_body,
    encode,
    parse_int,
)

ASCII_DIGITS = "0123456789"
TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=",*$"), max_size=40)
DEVICE_ID = st.text(st.sampled_from(DEVICE_ID_CHARS), min_size=1, max_size=MAX_DEVICE_ID)
INTEGER = st.integers(min_value=-(2**40), max_value=2**40)
FIELD = {"i": INTEGER, "s": TEXT, "d": DEVICE_ID}
FIELD_EXAMPLE = {"i": 7, "s": "ok", "d": "E6614103E7452D2F"}


def frame(body: str) -> bytes:
    """A record with a valid check, so only the field rules can reject it."""
    return b"$" + body.encode() + b"*" + b"%04X" % crc16(body.encode()) + b"\r\n"


@st.composite
def records(draw: Any) -> tuple[str, list[Any]]:
    kind = draw(st.sampled_from(sorted(SCHEMA)))
    return kind, [draw(FIELD[spec]) for spec in SCHEMA[kind]]


@given(records())
def test_every_valid_record_round_trips(record: tuple[str, list[Any]]) -> None:
    kind, fields = record
    line = encode(kind, fields)
    assert decode_body(line[1:-2]) == (kind, fields)
    if len(line) <= MAX_RECORD:
        assert Framer().feed(line) == [(kind, fields)]


# Text that int() accepts (or nearly) but that is not "-" + ASCII digits: Unicode digits, signs,
# spaces, underscores.
NOT_ASCII_INTEGER = st.text(
    st.one_of(
        st.characters(categories=["Nd"]),
        st.sampled_from("+- _\t0123456789"),
    ),
    max_size=12,
).filter(lambda t: not (t.removeprefix("-") and set(t.removeprefix("-")) <= set(ASCII_DIGITS)))


@given(
    st.sampled_from([(k, i) for k, layout in SCHEMA.items() for i, c in enumerate(layout) if c == "i"]),
    NOT_ASCII_INTEGER,
)
def test_every_integer_field_refuses_anything_but_ascii_digits(where: tuple[str, int], bad: str) -> None:
    kind, index = where
    fields = [str(FIELD_EXAMPLE[spec]) for spec in SCHEMA[kind]]
    fields[index] = bad
    with pytest.raises(ProtocolError):
        decode_body(frame(",".join([kind, *fields]))[1:-2])


@given(
    st.text(max_size=12).filter(
        lambda t: (
            not (t.removeprefix("-") and t.removeprefix("-").isascii() and t.removeprefix("-").isdigit())
        )
    )
)
def test_parse_int_takes_ascii_digits_only(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_int(text)


@given(INTEGER)
def test_parse_int_reads_what_encode_writes(number: int) -> None:
    assert parse_int(str(number)) == number


@given(
    st.text(max_size=40).filter(
        lambda t: not (0 < len(t) <= MAX_DEVICE_ID and set(t) <= set(DEVICE_ID_CHARS))
    )
)
def test_device_ids_outside_the_spec_are_refused_both_ways(bad: str) -> None:
    with pytest.raises(ProtocolError):
        check_device_id(bad)
    if not set(",*$\r\n") & set(bad):
        with pytest.raises(ProtocolError):
            decode_body(frame(f"ID,1,0.1.0,{bad},encoder,50,4,0")[1:-2])
    with pytest.raises(ProtocolError):
        encode("ID", (1, "0.1.0", bad, "encoder", 50, 4, 0))


@given(st.binary(max_size=400))
def test_framer_never_raises_and_yields_only_schema_records(data: bytes) -> None:
    for kind, values in Framer().feed(data):
        layout = SCHEMA[kind]
        assert len(values) == len(layout)
        for spec, value in zip(layout, values, strict=True):
            assert isinstance(value, int) if spec == "i" else isinstance(value, str)
