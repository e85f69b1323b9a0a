"""`microdial sim` as a process: the real firmware under microdial.sim.fakes (fakes of
CircuitPython's modules only) on a real pty, read with pyserial."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.sim.conftest import Reader


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "microdial", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_prints_the_path_first_and_serves_the_protocol(tmp_path: Path, open_reader: Any) -> None:
    link = tmp_path / "dial"
    proc = start("--duration", "2", "--link", str(link), "--device-id", "00112233AABBCCDD", "--rate", "100")
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/")
        assert os.path.realpath(link) == path
        reader: Reader = open_reader(str(link))
        assert reader.kind("ID")[2:5] == ["00112233AABBCCDD", "encoder", 100]
        reader.send("PING", (5,))
        assert reader.kind("PONG")[0] == 5
    finally:
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert not os.path.lexists(link)


def test_bad_option_is_one_line_error(tmp_path: Path) -> None:
    proc = start("--rater", str(tmp_path / "missing.csv"))
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"microdial sim: cannot read rater script {tmp_path / 'missing.csv'}: No such file or directory"
    ]
