"""The dial's loop under the fakes of CircuitPython's modules (microdial.sim.fakes), on a real pty,
with a hand-driven clock: periodic samples, heartbeats, identity and the host's commands."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest

from dialfw import app
from dialfw.settings import load
from tests.firmware.conftest import BOOT


def kinds(records: list[tuple[str, list[Any]]]) -> list[str]:
    return [kind for kind, _ in records]


def test_boot_sends_identity_then_first_sample(dial: Any) -> None:
    got = dial.records()
    assert got[0] == ("ID", [2, "0.2.0", "E6614103E7452D2F", "encoder", 50, 4, 0, BOOT])
    assert got[1] == ("S", [0, 0, 0])


def test_periodic_samples_at_rate(dial: Any) -> None:
    dial.records()
    dial.run(1000)
    samples = dial.records("S")
    assert len(samples) == 50
    seqs = [fields[0] for _, fields in samples]
    assert seqs == list(range(1, 51))
    times = [fields[1] for _, fields in samples]
    assert {b - a for a, b in itertools.pairwise(times)} == {20_000}


def test_change_is_sent_at_once_and_restarts_the_period(dial: Any) -> None:
    dial.records()
    dial.run(5)
    dial.encoder.turn(1)
    dial.run(1)
    (sample,) = dial.records("S")
    assert sample[1][1:] == [6_000, 1]
    dial.run(19)
    assert dial.records("S") == []
    dial.run(1)
    assert dial.records("S")[0][1][1] == 26_000


def test_heartbeat_identity_and_diag_schedule(dial: Any) -> None:
    dial.records()
    dial.run(10_000, every_ms=2)
    got = dial.records()
    heartbeats = [fields for kind, fields in got if kind == "HB"]
    assert [hb[0] for hb in heartbeats] == [n * 1_000_000 for n in range(1, 11)]
    last_seq_before = [fields[0] for kind, fields in got if kind == "S" and fields[1] <= 1_000_000][-1]
    assert heartbeats[0][1] == last_seq_before
    assert kinds(got).count("ID") == 1
    assert kinds(got).count("DIAG") == 1


def test_rate_command(dial: Any) -> None:
    dial.records()
    dial.send("RATE", (100,))
    dial.run(1000)
    got = dial.records()
    assert ("ACK", ["RATE", "ok", "100"]) in got
    assert 99 <= kinds(got).count("S") <= 101
    for bad in (0, 1001, -5):
        dial.send("RATE", (bad,))
        dial.run(1)
        assert dial.records("ACK") == [("ACK", ["RATE", "err", "range"])]
    dial.send("IDENT")
    dial.run(1)
    diag = dial.records("DIAG")[0][1]
    assert diag[3] == 3  # bad commands
    assert dial.dial.rate_hz == 100


def test_ping_answers_with_the_time_it_was_read(dial: Any) -> None:
    dial.run(3)
    dial.records()
    dial.send("PING", (4242,))
    dial.run(1)
    assert dial.records("PONG") == [("PONG", [4242, 4_000])]


def test_ident_answers_id_diag_ack_in_order(dial: Any) -> None:
    dial.records()
    dial.send("IDENT")
    dial.run(1)
    got = [r for r in dial.records() if r[0] != "S"]
    assert kinds(got) == ["ID", "DIAG", "ACK"]
    assert got[2] == ("ACK", ["IDENT", "ok", ""])


def test_zero_recentres_and_sends_a_sample(dial: Any) -> None:
    dial.encoder.turn(12)
    dial.run(1)
    dial.records()
    dial.send("ZERO")
    dial.run(1)
    got = dial.records()
    assert kinds(got) == ["S", "ACK"]
    assert got[0][1][2] == 0
    assert got[1] == ("ACK", ["ZERO", "ok", ""])
    # No dead zone after a recentre either: one detent moves the value.
    dial.encoder.turn(-1)
    dial.run(1)
    assert dial.records("S")[0][1][2] == -1


def test_damaged_and_misdirected_commands_are_counted_not_obeyed(dial: Any) -> None:
    dial.records()
    dial.send_raw(b"$RATE,7*0000\r\n")  # bad check
    dial.send_raw(b"noise without a record\r\n")
    dial.send("S", (1, 2, 3))  # a device -> host kind
    dial.send("PING", (9,))
    dial.run(1)
    dial.send("IDENT")
    dial.run(3)
    got = dial.records()
    # The loop reads at most 64 bytes per iteration, so the PING was read (and timed) in the second.
    assert ("PONG", [9, 2_000]) in got
    assert dial.dial.rate_hz == 50
    diag = next(fields for kind, fields in got if kind == "DIAG")
    assert diag[3] == 2


def test_command_split_across_reads(dial: Any) -> None:
    from dialwire import encode

    line = encode("PING", (77,))
    dial.records()
    dial.send_raw(line[:5])
    dial.run(1)
    assert dial.records("PONG") == []
    dial.send_raw(line[5:])
    dial.run(1)
    assert dial.records("PONG") == [("PONG", [77, 2_000])]


def test_exception_in_loop_is_reported_and_the_loop_goes_on(dial: Any, monkeypatch: Any) -> None:
    dial.records()
    calls = {"n": 0}
    real_poll = dial.dial.input.poll

    def failing_poll() -> bool:
        calls["n"] += 1
        if calls["n"] == 3:
            return bool(1 // 0)
        result: bool = real_poll()
        return result

    monkeypatch.setattr(dial.dial.input, "poll", failing_poll)
    dial.run(100)
    got = dial.records()
    errs = [fields for kind, fields in got if kind == "ERR"]
    assert errs == [[3_000, "loop", "ZeroDivisionError: integer division or modulo by zero"]]
    assert [f[1] for k, f in got if k == "S"][-1] >= 80_000
    dial.send("IDENT")
    dial.run(1)
    assert dial.records("DIAG")[0][1][5] == 1


def test_repeating_exception_is_rate_limited_but_counted(dial: Any, monkeypatch: Any) -> None:
    def broken() -> bool:
        raise RuntimeError("sensor gone")

    monkeypatch.setattr(dial.dial.input, "poll", broken)
    dial.records()
    dial.run(1000)
    errs = dial.records("ERR")
    assert len(errs) == 10
    assert errs[0][1][1:] == ["loop", "RuntimeError: sensor gone"]
    assert dial.dial.errors == 1000


def test_bad_settings_fall_back_and_are_reported(make_dial: Any) -> None:
    dial = make_dial({"MICRODIAL_RATE_HZ": "fast", "MICRODIAL_DIRECTION": "2"})
    got = dial.records()
    errs = [fields for kind, fields in got if kind == "ERR"]
    assert [e[1] for e in errs] == ["settings", "settings"]
    messages = sorted(e[2] for e in errs)
    assert messages[0] == "MICRODIAL_DIRECTION=2 must be one of 1|-1; using 1"
    assert messages[1].startswith("MICRODIAL_RATE_HZ=fast ")
    assert dial.dial.errors == 2
    assert dial.dial.rate_hz == 50


def test_writes_never_block_when_the_host_does_not_read(dial: Any) -> None:
    assert dial.serial.write_timeout == 0
    assert dial.serial.timeout == 0
    dial.records()
    # The host holds the port open but reads nothing for 60 s of device time at 1 kHz.
    dial.send("RATE", (1000,))
    dial.run(60_000, every_ms=1)
    link = dial.dial.link
    assert link.dropped_records > 0
    assert link.dropped_bytes >= link.dropped_records
    assert link.stalled
    backlog = dial.read_raw()
    assert 1000 < len(backlog) < 200_000  # what the pty could hold; the rest was counted, not queued
    # Reading again: the stream resumes, with a sequence gap the host can count.
    dial.framer.feed(backlog)
    dial.run(20)
    got = dial.records()
    samples = [fields for kind, fields in got if kind == "S"]
    assert samples and not link.stalled
    dial.send("IDENT")
    dial.run(1)
    diag = dial.records("DIAG")[0][1]
    assert diag[1] == link.dropped_records and diag[2] == link.dropped_bytes


def test_truncated_write_leaves_the_stream_readable(dial: Any) -> None:
    """A record cut short by a full buffer is garbage the host's framer skips; the next one is intact."""
    dial.records()
    real_write = dial.serial.write
    cut = {"once": True}

    def short_write(data: bytes) -> int:
        if cut["once"]:
            cut["once"] = False
            return real_write(data[:7])
        return real_write(data)

    dial.serial.write = short_write
    dial.run(40)
    got = dial.records("S")
    assert [f[0] for _, f in got] == [2]
    assert dial.dial.link.dropped_records == 1
    assert dial.framer.skipped_bytes == 7
    assert dial.framer.bad_records == 0


def test_no_writes_while_no_host_has_the_port_open(dial: Any) -> None:
    dial.records()
    path = os.ttyname(dial.slave)
    os.close(dial.slave)
    dial.run(500)
    link = dial.dial.link
    assert not link.connected
    assert link.dropped_records == 0
    dial.slave = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    dial.run(250)
    got = dial.records()
    # Nothing stale from while nobody listened; the new reader learns the identity shortly after opening.
    assert all(fields[1] >= 500_000 for kind, fields in got if kind == "S")
    idents = [i for i, (kind, _) in enumerate(got) if kind == "ID"]
    assert len(idents) == 1 and 9 <= idents[0] <= 11  # after 200 ms of samples at 50 Hz


def test_setup_error_is_reported_on_the_data_port(dial: Any, capsys: Any) -> None:
    settings = dict(load({}.get)[0], MICRODIAL_PIN_A="GP99")
    with pytest.raises(ValueError) as failed:
        app.build(settings, serial=dial.serial, clock=dial.clock)
    dial.records()
    app.report_setup_error(failed.value, dial.serial, dial.clock)
    message = "ValueError: MICRODIAL_PIN_A=GP99: no such pin on this board"
    assert dial.records() == [("ERR", [0, "setup", message])]
    assert capsys.readouterr().out == "microdial cannot start: " + message + "\n"
