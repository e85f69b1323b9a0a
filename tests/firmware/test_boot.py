"""The boot nonce: drawn once per boot from os.urandom (real under CPython, the RP2040's ring
oscillator on the board) and sent in every ID record of that boot."""

from __future__ import annotations

from typing import Any

from dialfw import app
from dialwire import BOOT_DIGITS, PROTOCOL_VERSION, check_boot


def test_every_boot_draws_a_new_valid_nonce() -> None:
    nonces = [app.boot_nonce() for _ in range(200)]
    assert all(check_boot(n) == n and len(n) == BOOT_DIGITS for n in nonces)
    assert len(set(nonces)) == len(nonces)


def test_a_dial_keeps_its_nonce_for_the_whole_boot(make_dial: Any) -> None:
    dial = make_dial()
    first = dial.records("ID")[0][1]
    assert first[0] == PROTOCOL_VERSION
    dial.send("IDENT")
    dial.run(10_500)  # past the periodic ID too
    idents = dial.records("ID")
    assert len(idents) == 2 and all(fields == first for _, fields in idents)


def test_a_dial_built_anew_has_another_nonce(dial: Any) -> None:
    """What a reset does on the board: code.py builds a new Dial, which draws its own nonce."""
    again = app.build(dial.settings, dial.problems, serial=dial.serial, clock=dial.clock, uid=b"\x01")
    other = app.build(dial.settings, dial.problems, serial=dial.serial, clock=dial.clock, uid=b"\x01")
    assert again.boot != other.boot
    assert again.boot != dial.dial.boot
