"""Every firmware and codec file compiles with mpy-cross; the firmware type-checks against
circuitpython-stubs (the real CircuitPython API, not our fakes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    [*ROOT.glob("firmware/*.py"), *ROOT.glob("firmware/dialfw/*.py"), *ROOT.glob("protocol/dialwire/*.py")]
)


def test_there_is_firmware_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    assert {
        "firmware/boot.py",
        "firmware/code.py",
        "firmware/dialfw/app.py",
        "protocol/dialwire/__init__.py",
    } <= names


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_mpy_cross_compiles(source: Path, tmp_path: Path) -> None:
    mpy_cross = shutil.which("mpy-cross") or str(Path(sys.executable).parent / "mpy-cross")
    out = tmp_path / (source.stem + ".mpy")
    result = subprocess.run([mpy_cross, "-o", str(out), str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0


def test_mypy_against_circuitpython_stubs(tmp_path: Path) -> None:
    env = dict(os.environ, MYPYPATH=str(ROOT / "protocol"))
    files = [str(p) for p in SOURCES if p.parent.name != "dialwire"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file=",
            "--python-version=3.11",
            "--check-untyped-defs",
            f"--cache-dir={tmp_path / 'cache'}",
            *files,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
