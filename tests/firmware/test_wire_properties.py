"""Properties of the shared codec (dialwire), fuzzed with hypothesis: what the firmware and the host
both rely on when a record is damaged or forged."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialwire import (
    BOOT_DIGITS,
    DEVICE_ID_CHARS,
    ID_LAYOUTS,
    MAX_DEVICE_ID,
    MAX_RECORD,
    PROTOCOL_VERSION,
    SCHEMA,
    Framer,
    ProtocolError,
    check_boot,
    check_device_id,
    crc16,
    decode_body,
    encode,
    layout_of,
    parse_int,
)

ASCII_DIGITS = "0123456789"
TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=",*$"), max_size=40)
DEVICE_ID = st.text(st.sampled_from(DEVICE_ID_CHARS), min_size=1, max_size=MAX_DEVICE_ID)
INTEGER = st.integers(min_value=-(2**40), max_value=2**40)
BOOT = st.text(st.sampled_from("0123456789ABCDEF"), min_size=BOOT_DIGITS, max_size=BOOT_DIGITS)
FIELD = {"i": INTEGER, "s": TEXT, "d": DEVICE_ID, "n": BOOT}
FIELD_EXAMPLE = {"i": 7, "s": "ok", "d": "E6614103E7452D2F", "n": "9F3A61C2"}
# Every layout a reader must take: each kind's, and ID's of every protocol version.
LAYOUTS = [(kind, layout) for kind, layout in SCHEMA.items() if kind != "ID"] + [
    ("ID", layout) for layout in ID_LAYOUTS.values()
]


def frame(body: str) -> bytes:
    """A record with a valid check, so only the field rules can reject it."""
    return b"$" + body.encode() + b"*" + b"%04X" % crc16(body.encode()) + b"\r\n"


@st.composite
def records(draw: Any) -> tuple[str, list[Any]]:
    kind = draw(st.sampled_from(sorted(SCHEMA)))
    if kind == "ID":
        version = draw(st.sampled_from(sorted(ID_LAYOUTS)))
        return kind, [version] + [draw(FIELD[spec]) for spec in ID_LAYOUTS[version][1:]]
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
    st.sampled_from([(k, layout, i) for k, layout in LAYOUTS for i, c in enumerate(layout) if c == "i"]),
    NOT_ASCII_INTEGER,
)
def test_every_integer_field_refuses_anything_but_ascii_digits(where: tuple[str, str, int], bad: str) -> None:
    kind, layout, index = where
    fields = [str(FIELD_EXAMPLE[spec]) for spec in layout]
    if kind == "ID":
        fields[0] = str(next(v for v, known in ID_LAYOUTS.items() if known == layout))
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


@given(
    st.text(max_size=12).filter(lambda t: not (len(t) == BOOT_DIGITS and set(t) <= set("0123456789ABCDEF")))
)
def test_boot_nonces_outside_the_spec_are_refused_both_ways(bad: str) -> None:
    with pytest.raises(ProtocolError):
        check_boot(bad)
    fields = [PROTOCOL_VERSION, "0.1.0", "E6614103E7452D2F", "encoder", 50, 4, 0]
    if not set(",*$\r\n") & set(bad):
        with pytest.raises(ProtocolError):
            decode_body(frame(",".join(str(f) for f in [*fields, bad]))[1:-2])
    with pytest.raises(ProtocolError):
        encode("ID", (*fields, bad))


@given(st.integers(min_value=-5, max_value=PROTOCOL_VERSION + 5).filter(lambda v: v not in ID_LAYOUTS))
def test_an_id_of_an_unknown_version_takes_the_newest_layout(version: int) -> None:
    fields = [version, "0.1.0", "E6614103E7452D2F", "encoder", 50, 4, 0, "9F3A61C2"]
    assert layout_of("ID", fields) == SCHEMA["ID"]
    assert decode_body(encode("ID", fields)[1:-2]) == ("ID", fields)


@given(st.binary(max_size=400))
def test_framer_never_raises_and_yields_only_schema_records(data: bytes) -> None:
    for kind, values in Framer().feed(data):
        layout = layout_of(kind, values)
        assert len(values) == len(layout)
        for spec, value in zip(layout, values, strict=True):
            assert isinstance(value, int) if spec == "i" else isinstance(value, str)
