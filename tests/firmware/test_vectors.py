"""protocol/vectors/wire.json against what the firmware writes and reads, under the fakes of
CircuitPython's modules (microdial.sim.fakes) on a real pty."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dialwire import SCHEMA, Framer
from tests.firmware.conftest import BOOT

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "protocol/vectors/wire.json").read_text())
HOST_KINDS = {"PING", "IDENT", "ZERO", "RATE"}


def line_of(kind: str, fields: list[Any]) -> bytes:
    for record in VECTORS["records"]:
        if record["kind"] == kind and record["fields"] == fields:
            return str(record["line"]).encode()
    raise AssertionError(f"no vector for {kind} {fields}")


def test_boot_bytes_are_the_golden_id_and_sample(make_dial: Any) -> None:
    dial = make_dial(start_us=1_520_311)
    ident = [2, "0.2.0", "E6614103E7452D2F", "encoder", 50, 4, 0, BOOT]
    assert dial.read_raw() == line_of("ID", ident) + line_of("S", [0, 1_520_311, 0])


def test_loop_output_matches_golden_lines(make_dial: Any) -> None:
    dial = make_dial(start_us=2_599_000)
    dial.read_raw()
    dial.send("PING", (17,))
    dial.run(1)
    assert dial.read_raw() == line_of("PONG", [17, 2_600_000])
    dial.send("RATE", (100,))
    dial.run(0.5, every_ms=0.5)
    assert dial.read_raw() == line_of("ACK", ["RATE", "ok", "100"])


@pytest.mark.parametrize(
    "record", [r for r in VECTORS["records"] if r["kind"] not in HOST_KINDS], ids=lambda r: r["kind"]
)
def test_firmware_link_encodes_every_device_record(dial: Any, record: dict[str, Any]) -> None:
    dial.read_raw()
    assert dial.dial.link.send(record["kind"], record["fields"])
    assert dial.read_raw() == record["line"].encode()


@pytest.mark.parametrize(
    "record", [r for r in VECTORS["records"] if r["kind"] in HOST_KINDS], ids=lambda r: r["kind"]
)
def test_firmware_obeys_every_golden_command_line(dial: Any, record: dict[str, Any]) -> None:

    dial.encoder.turn(3)
    dial.run(1)
    dial.records()
    dial.send_raw(record["line"].encode())
    dial.run(1)
    got = dial.records()
    kind = record["kind"]
    if kind == "PING":
        assert ("PONG", [record["fields"][0], 2_000]) in got
    else:
        assert got[-1][0] == "ACK" and got[-1][1][:2] == [kind, "ok"]
    assert dial.dial.link.framer.bad_records == 0


@pytest.mark.parametrize("stream", VECTORS["streams"], ids=lambda s: s["name"])
def test_firmware_framer_recovers_golden_streams(dial: Any, stream: dict[str, Any]) -> None:
    framer: Framer = dial.dial.link.framer
    data = bytes.fromhex(stream["data"])
    got = []
    for i in range(0, len(data), 64):  # as the loop reads: 64 bytes at a time
        got += framer.feed(data[i : i + 64])
    assert [[k, v] for k, v in got] == stream["records"]
    assert framer.bad_records == stream["bad_records"]


@pytest.mark.parametrize("vector", VECTORS["rejected"], ids=lambda v: v["name"])
def test_firmware_framer_rejects_invalid_records(dial: Any, vector: dict[str, str]) -> None:
    framer: Framer = dial.dial.link.framer
    assert framer.feed(vector["line"].encode()) == []
    assert framer.bad_records == 1


@pytest.mark.parametrize("vector", VECTORS["newer"], ids=lambda v: v["name"])
def test_firmware_framer_reads_a_newer_id_by_the_fields_it_knows(dial: Any, vector: dict[str, Any]) -> None:
    framer: Framer = dial.dial.link.framer
    assert framer.feed(vector["line"].encode()) == [(vector["kind"], vector["fields"])]


def test_vectors_cover_every_kind() -> None:
    assert {r["kind"] for r in VECTORS["records"]} == set(SCHEMA)
