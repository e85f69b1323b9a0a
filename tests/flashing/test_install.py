"""`microdial firmware install` against real directories standing in for a mounted CIRCUITPY drive.

A mounted CIRCUITPY drive is a FAT directory with a boot_out.txt, so a temporary directory with a
boot_out.txt is what the installer sees from a real board. The full-drive tests mount a real tiny
tmpfs (root only). The one fake is CircuitPython's own mpy-cross, which is not installable here:
a stand-in script runs MicroPython's mpy-cross and gives the output CircuitPython's header byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import dialfw
import dialwire
from microdial.cli import main
from microdial.errors import ConfigError
from microdial.flashing.drive import candidate_drives, find_drive, read_boot_out
from microdial.flashing.errors import FlashError
from microdial.flashing.install import install, verify_plan, write_plan
from microdial.flashing.plan import locate_sources, plan_install
from microdial.flashing.settings import settings_for
from microdial.flashing.settings_file import check_text

FIRMWARE = Path(dialfw.__file__).resolve().parent.parent
BOOT_OUT = {
    "pico": "Adafruit CircuitPython 9.2.1 on 2024-11-20; Raspberry Pi Pico with rp2040\n"
    "Board ID:raspberry_pi_pico\nUID:E6614103E7452D2F\nboot.py output:\n",
    "kb2040": "Adafruit CircuitPython 9.2.1 on 2024-11-20; Adafruit KB2040 with rp2040\n"
    "Board ID:adafruit_kb2040\nUID:DF6050788B2D4E2B\n",
}


def make_drive(root: Path, board: str = "pico", name: str = "CIRCUITPY") -> Path:
    drive = root / name
    drive.mkdir(parents=True)
    (drive / "boot_out.txt").write_text(BOOT_OUT[board])
    return drive


def drive_files(drive: Path) -> dict[str, bytes]:
    return {p.relative_to(drive).as_posix(): p.read_bytes() for p in sorted(drive.rglob("*")) if p.is_file()}


def expected_sources() -> dict[str, bytes]:
    files = {"boot.py": (FIRMWARE / "boot.py").read_bytes(), "code.py": (FIRMWARE / "code.py").read_bytes()}
    for package in (dialfw, dialwire):
        root = Path(package.__file__).resolve().parent
        for path in root.rglob("*.py"):
            if "__pycache__" not in path.parts:
                files[f"lib/{package.__name__}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return files


def test_install_copies_verifies_and_writes_settings(tmp_path: Path) -> None:
    drive = make_drive(tmp_path)
    report = install(drive, settings_for({"MICRODIAL_LABEL": "client"}))
    on_drive = drive_files(drive)
    for name, data in expected_sources().items():
        assert on_drive[name] == data, name
    settings, problems = check_text(on_drive["settings.toml"].decode())
    assert problems == [] and settings is not None and settings.MICRODIAL_LABEL == "client"
    assert report.board == "pico" and report.device.version == (9, 2, 1)
    text = "\n".join(report.lines())
    assert "CircuitPython 9.2.1 on Raspberry Pi Pico" in text
    assert hashlib.sha256(on_drive["code.py"]).hexdigest()[:12] in text


def test_reinstall_keeps_user_files_and_removes_stale_library_files(tmp_path: Path) -> None:
    drive = make_drive(tmp_path)
    (drive / "code.py").write_text("print('my own program')\n")
    (drive / "settings.toml").write_text('CIRCUITPY_WEB_API_PASSWORD = "secret"\nMICRODIAL_LABEL = "old"\n')
    (drive / "lib" / "dialfw").mkdir(parents=True)
    (drive / "lib" / "dialfw" / "app.mpy").write_bytes(b"C\x06stale")
    (drive / "lib" / "other.mpy").write_bytes(b"C\x06theirs")
    report = install(drive, settings_for({}))
    assert (drive / "code.py.bak").read_text() == "print('my own program')\n"
    assert report.backups == ["code.py.bak"]
    assert 'CIRCUITPY_WEB_API_PASSWORD = "secret"' in (drive / "settings.toml").read_text()
    assert '"old"' not in (drive / "settings.toml").read_text()
    assert not (drive / "lib" / "dialfw" / "app.mpy").exists()
    assert (drive / "lib" / "other.mpy").read_bytes() == b"C\x06theirs"
    # A second install over our own code.py makes no backup.
    assert install(drive, settings_for({})).backups == []
    # Another program of the user's later: its backup does not overwrite the first one.
    (drive / "code.py").write_text("print('second program')\n")
    assert install(drive, settings_for({})).backups == ["code.py.bak1"]
    assert (drive / "code.py.bak").read_text() == "print('my own program')\n"


def test_read_back_catches_a_corrupted_copy(tmp_path: Path) -> None:
    drive = make_drive(tmp_path)
    plan = plan_install(drive, settings_for({}), read_boot_out(drive), locate_sources())
    write_plan(drive, plan)
    verify_plan(drive, plan)
    target = drive / "lib" / "dialwire" / "__init__.py"
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(FlashError, match=r"read-back check failed for lib/dialwire/__init__\.py"):
        verify_plan(drive, plan)
    (drive / "code.py").unlink()
    with pytest.raises(FlashError, match=r"code\.py \(No such file"):
        verify_plan(drive, plan)


def test_missing_and_ambiguous_drives(tmp_path: Path) -> None:
    with pytest.raises(FlashError, match="no CIRCUITPY drive found"):
        find_drive(candidates=[])
    with pytest.raises(FlashError, match="is not a directory"):
        find_drive(tmp_path / "nope")
    one, two = make_drive(tmp_path / "a"), make_drive(tmp_path / "b", name="CIRCUITPY1")
    (tmp_path / "c" / "CIRCUITPY").mkdir(parents=True)  # mounted, but no boot_out.txt: not ready
    mounts = tmp_path / "mounts"
    lines = [f"/dev/sd{i} {p} vfat rw 0 0" for i, p in enumerate([one, two, tmp_path / "c" / "CIRCUITPY"])]
    mounts.write_text("\n".join(["proc /proc proc rw 0 0", *lines]) + "\n")
    found = candidate_drives(mounts, patterns=())
    assert found == [one, two]
    with pytest.raises(FlashError, match="2 CIRCUITPY drives found"):
        find_drive(candidates=found)
    assert find_drive(candidates=found[:1]) == one


def test_mount_points_with_spaces_are_unescaped(tmp_path: Path) -> None:
    drive = make_drive(tmp_path / "my media")
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sdb1 {str(drive).replace(' ', chr(92) + '040')} vfat rw 0 0\n")
    assert candidate_drives(mounts, patterns=()) == [drive]


def test_not_circuitpython_or_too_old(tmp_path: Path) -> None:
    plain = tmp_path / "USBSTICK"
    plain.mkdir()
    with pytest.raises(FlashError, match=r"no boot_out\.txt, so it is not a CircuitPython drive"):
        install(plain, settings_for({}))
    old = make_drive(tmp_path / "old")
    (old / "boot_out.txt").write_text(
        "Adafruit CircuitPython 7.3.3 on 2022-08-29; Raspberry Pi Pico with rp2040\nBoard ID:raspberry_pi_pico\n"
    )
    with pytest.raises(FlashError, match=r"runs CircuitPython 7\.3\.3; the firmware needs 8\.0"):
        install(old, settings_for({}))
    assert drive_files(old) == {"boot_out.txt": (old / "boot_out.txt").read_bytes()}


def test_board_is_detected_and_checked(tmp_path: Path) -> None:
    drive = make_drive(tmp_path, "kb2040")
    with pytest.raises(
        FlashError, match=r"--board pico but the drive's boot_out\.txt says Board ID:adafruit_kb2040"
    ):
        install(drive, settings_for({}), board="pico")
    with pytest.raises(ConfigError, match="'GP2' is not a pin of the Adafruit KB2040"):
        install(drive, settings_for({}))
    (drive / "boot_out.txt").write_text(
        "Adafruit CircuitPython 9.2.1 on 2024-11-20; Some Board\nBoard ID:some_board\n"
    )
    with pytest.raises(FlashError, match="cannot tell the board"):
        install(drive, settings_for({}))


def test_code_txt_would_shadow_code_py(tmp_path: Path) -> None:
    drive = make_drive(tmp_path)
    (drive / "code.txt").write_text("print('hi')")
    with pytest.raises(FlashError, match=r"code\.txt would run instead of code\.py"):
        install(drive, settings_for({}))
    assert not (drive / "lib").exists()


def test_neopixel_library_from_bundle_or_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drive = make_drive(tmp_path, "kb2040")
    assert main(["firmware", "install", "--drive", str(drive)]) == 0
    out = capsys.readouterr().out
    assert "on Adafruit KB2040" in out
    assert "still needed on the board: neopixel" in out
    assert 'MICRODIAL_PIN_LIGHT = "NEOPIXEL"' in (drive / "settings.toml").read_text()
    bundle = tmp_path / "adafruit-circuitpython-bundle-9.x-mpy-20241120"
    (bundle / "lib").mkdir(parents=True)
    (bundle / "lib" / "neopixel.mpy").write_bytes(b"C\x06\x00\x1fneopixel")
    assert (
        main(["firmware", "install", "--drive", str(drive), "--bundle", str(bundle), "--input", "pot"]) == 0
    )
    out = capsys.readouterr().out
    assert "still needed" not in out and "lib/neopixel.mpy" in out
    assert (drive / "lib" / "neopixel.mpy").read_bytes() == b"C\x06\x00\x1fneopixel"
    (bundle / "lib" / "neopixel.mpy").write_bytes(b"M\x06micropython")
    assert main(["firmware", "install", "--drive", str(drive), "--bundle", str(bundle)]) == 2
    assert "is not a CircuitPython .mpy file" in capsys.readouterr().err


def test_cli_flags_reach_settings_and_bad_flags_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drive = make_drive(tmp_path)
    base = tmp_path / "base.toml"
    base.write_text('MICRODIAL_LABEL = "from-file"\nMICRODIAL_RATE_HZ = 100\n')
    args = [
        "firmware",
        "install",
        "--drive",
        str(drive),
        "--settings",
        str(base),
        "--pin-a",
        "GP6",
        "--pin-b",
        "GP7",
    ]
    assert main(args) == 0
    text = (drive / "settings.toml").read_text()
    assert all(
        line in text
        for line in ('MICRODIAL_PIN_A = "GP6"', 'MICRODIAL_LABEL = "from-file"', "MICRODIAL_RATE_HZ = 100")
    )
    capsys.readouterr()
    assert main(["firmware", "install", "--drive", str(drive), "--pin-a", "GP9", "--rate-hz", "5000"]) == 2
    err = capsys.readouterr().err
    assert "MICRODIAL_RATE_HZ" in err and "consecutive" not in err  # field errors first, pins after


def test_micropython_mpy_cross_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    drive = make_drive(tmp_path)
    with pytest.raises(FlashError, match="is not CircuitPython's mpy-cross"):
        install(drive, settings_for({}), mpy_cross=str(Path(sys.executable).parent / "mpy-cross"))
    assert drive_files(drive).keys() == {"boot_out.txt"}


@pytest.fixture
def circuitpython_mpy_cross(tmp_path: Path) -> Path:
    """Stand-in for CircuitPython's mpy-cross (fake: CircuitPython's own tool, not installable here)."""
    real = Path(sys.executable).parent / "mpy-cross"
    script = tmp_path / "cp-mpy-cross"
    script.write_text(
        f"#!{sys.executable}\n"
        "import subprocess, sys\n"
        "if sys.argv[1:] == ['--version']:\n"
        "    print('CircuitPython 9.2.1 on 2024-11-20; mpy-cross emitting mpy v6.3')\n"
        "    sys.exit(0)\n"
        f"subprocess.run([{str(real)!r}, *sys.argv[1:]], check=True)\n"
        "out = sys.argv[sys.argv.index('-o') + 1]\n"
        "data = bytearray(open(out, 'rb').read()); data[0] = ord('C')\n"
        "open(out, 'wb').write(data)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_mpy_install(tmp_path: Path, circuitpython_mpy_cross: Path) -> None:
    drive = make_drive(tmp_path)
    (drive / "lib" / "dialfw").mkdir(parents=True)
    (drive / "lib" / "dialfw" / "app.py").write_text("stale = True\n")
    install(drive, settings_for({}), mpy_cross=str(circuitpython_mpy_cross))
    names = drive_files(drive).keys()
    assert "lib/dialfw/app.mpy" in names and "lib/dialwire/__init__.mpy" in names
    assert not [n for n in names if n.startswith("lib/") and n.endswith(".py")]
    assert {"boot.py", "code.py"} <= names  # CircuitPython runs these only as source
    assert (drive / "lib" / "dialfw" / "app.mpy").read_bytes()[:1] == b"C"


def test_mpy_cross_for_another_major_version_is_refused(
    tmp_path: Path, circuitpython_mpy_cross: Path
) -> None:
    drive = make_drive(tmp_path)
    (drive / "boot_out.txt").write_text(BOOT_OUT["pico"].replace("9.2.1", "10.0.3"))
    with pytest.raises(FlashError, match=r"is for CircuitPython 9\.x but the board runs 10\.0\.3"):
        install(drive, settings_for({}), mpy_cross=str(circuitpython_mpy_cross))


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs for the full-drive test needs root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_full_drive_is_refused_before_writing(tmp_path: Path) -> None:
    with tiny_tmpfs(tmp_path / "CIRCUITPY", "32k") as drive:
        (drive / "boot_out.txt").write_text(BOOT_OUT["pico"])
        (drive / "code.py").write_text("print('mine')\n")
        with pytest.raises(FlashError, match="CIRCUITPY is too full"):
            install(drive, settings_for({}))
        assert drive_files(drive).keys() == {"boot_out.txt", "code.py"}


def test_drive_filling_up_while_writing_is_reported(tmp_path: Path) -> None:
    with tiny_tmpfs(tmp_path / "CIRCUITPY", "16k") as drive:
        (drive / "boot_out.txt").write_text(BOOT_OUT["pico"])
        plan = plan_install(drive, settings_for({}), read_boot_out(drive), locate_sources())
        with pytest.raises(FlashError, match="CIRCUITPY filled up while writing"):
            write_plan(drive, plan)
        assert (drive / "boot_out.txt").read_text() == BOOT_OUT["pico"]
