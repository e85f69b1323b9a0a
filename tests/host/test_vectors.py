"""The golden vectors in protocol/vectors/, decoded by the host side (the firmware tests check the same file)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from dialwire import ID_LAYOUTS, ProtocolError, crc16, decode_body, encode
from microdial.device.decoder import Decoder, Identity, Pong, SampleRecord
from microdial.model import (
    Confirmation,
    DaemonStatus,
    DialEvent,
    DialStatus,
    ReplayRequest,
    Sample,
    SampleBatch,
    parse_samples,
)
from microdial.mqtt.topics import (
    DaemonTopic,
    DeliveryTopic,
    DialTopic,
    parse_daemon_topic,
    parse_delivery_topic,
    parse_topic,
)
from tests.conftest import ROOT

WIRE = json.loads((ROOT / "protocol/vectors/wire.json").read_text())
MQTT = json.loads((ROOT / "protocol/vectors/mqtt.json").read_text())
MODELS = {
    "Sample": Sample,
    "SampleBatch": SampleBatch,
    "DialStatus": DialStatus,
    "DialEvent": DialEvent,
    "DaemonStatus": DaemonStatus,
    "Confirmation": Confirmation,
    "ReplayRequest": ReplayRequest,
}


def test_crc_check_value() -> None:
    check = WIRE["crc_check"]
    assert f"{crc16(check['input'].encode()):04X}" == check["crc16"]


@pytest.mark.parametrize("vector", WIRE["records"], ids=lambda v: v["line"].strip())
def test_record_encodes_to_golden_line(vector: dict[str, object]) -> None:
    assert encode(str(vector["kind"]), vector["fields"]).decode() == vector["line"]  # type: ignore[arg-type]


@pytest.mark.parametrize("vector", WIRE["streams"], ids=lambda v: v["name"])
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_stream_recovers_every_intact_record(vector: dict[str, object], chunk: int) -> None:
    data = bytes.fromhex(str(vector["data"]))
    decoder = Decoder()
    records = []
    for start in range(0, len(data), chunk):
        records += decoder.feed(data[start : start + chunk])
    expected = [SampleRecord(*fields) for kind, fields in vector["records"]]  # type: ignore[attr-defined]
    assert records == expected
    assert decoder.bad_records == vector["bad_records"]


@pytest.mark.parametrize("vector", WIRE["rejected"], ids=lambda v: v["name"])
def test_intact_but_invalid_records_are_rejected(vector: dict[str, str]) -> None:
    line = vector["line"].encode()
    with pytest.raises(ProtocolError):
        decode_body(line[1:].rstrip(b"\n"))
    decoder = Decoder()
    assert decoder.feed(line) == []
    assert decoder.bad_records == 1


def test_device_records_become_typed_records() -> None:
    by_kind: dict[str, dict[str, str]] = {}
    for vector in WIRE["records"]:
        by_kind.setdefault(vector["kind"], vector)
    decoder = Decoder()
    identity, sample, pong = decoder.feed(
        (by_kind["ID"]["line"] + by_kind["S"]["line"] + by_kind["PONG"]["line"]).encode()
    )
    assert identity == Identity(2, "0.2.0", "E6614103E7452D2F", "encoder", 50, 4, 0, boot="9F3A61C2")
    assert sample == SampleRecord(0, 1520311, 0)
    assert pong == Pong(17, 2600000)


def test_identity_of_every_protocol_version() -> None:
    """A host reads dials of the previous firmware too: protocol 1's ID has no boot nonce."""
    lines = {v["fields"][0]: v["line"] for v in WIRE["records"] if v["kind"] == "ID"}
    assert sorted(lines) == sorted(ID_LAYOUTS)
    v1, v2 = (Decoder().feed(lines[version].encode()) for version in (1, 2))
    assert v1 == [Identity(1, "0.1.0", "E6614103E7452D2F", "encoder", 50, 4, 0, boot=None)]
    assert v2 == [Identity(2, "0.2.0", "E6614103E7452D2F", "encoder", 50, 4, 0, boot="9F3A61C2")]


@pytest.mark.parametrize("vector", WIRE["newer"], ids=lambda v: v["name"])
def test_a_newer_dials_id_is_read_by_the_fields_this_host_knows(vector: dict[str, Any]) -> None:
    (identity,) = Decoder().feed(vector["line"].encode())
    assert identity == Identity(*vector["fields"])


def test_host_commands_echoed_back_are_not_device_records() -> None:
    decoder = Decoder()
    assert decoder.feed(encode("PING", (3,)) + encode("ZERO")) == []
    assert decoder.unexpected == 2 and decoder.bad_records == 0


def test_sequence_gaps_are_counted_across_the_wrap() -> None:
    decoder = Decoder()
    seqs = [2**30 - 2, 2**30 - 1, 0, 3, 4]
    gaps = [decoder.check_sequence(SampleRecord(seq, i, 0)) for i, seq in enumerate(seqs)]
    assert [g.lost if g else 0 for g in gaps] == [0, 0, 0, 2, 0]
    assert decoder.lost_samples == 2 and decoder.gaps == 1


@pytest.mark.parametrize("vector", MQTT["valid"], ids=lambda v: v["name"])
def test_valid_payloads(vector: dict[str, object]) -> None:
    model = MODELS[str(vector["model"])]
    model.model_validate_json(json.dumps(vector["payload"]))


@pytest.mark.parametrize("vector", MQTT["invalid"], ids=lambda v: v["name"])
def test_invalid_payloads(vector: dict[str, object]) -> None:
    model = MODELS[str(vector["model"])]
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(vector["payload"]))


def test_both_batch_forms_parse_the_same() -> None:
    sample = next(v["payload"] for v in MQTT["valid"] if v["model"] == "Sample")
    as_list = parse_samples(json.dumps([sample, sample]))
    as_object = parse_samples(json.dumps({"samples": [sample, sample]}))
    assert as_list == as_object and len(as_list) == 2


@pytest.mark.parametrize("vector", MQTT["topics"], ids=lambda v: v["topic"])
def test_topics_address_a_dial_a_daemon_or_neither(vector: dict[str, object]) -> None:
    topic = str(vector["topic"])
    dial, daemon = vector.get("dial"), vector.get("daemon")
    assert parse_topic(topic) == (DialTopic(**dial) if isinstance(dial, dict) else None)
    assert parse_daemon_topic(topic) == (DaemonTopic(**daemon) if isinstance(daemon, dict) else None)
    delivery = vector.get("delivery")
    assert parse_delivery_topic(topic) == (DeliveryTopic(**delivery) if isinstance(delivery, dict) else None)
