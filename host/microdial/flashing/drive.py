"""Finding a mounted CIRCUITPY drive and reading what CircuitPython says about itself there.

A mounted CIRCUITPY drive is a plain FAT directory with a boot_out.txt that CircuitPython
rewrites at every start, so a test can hand in a temporary directory with a boot_out.txt and
exercise exactly the code a real drive gets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from microdial.flashing.boards import BOARDS, board_for_id
from microdial.flashing.errors import FlashError

DRIVE_LABEL = "CIRCUITPY"


def _unescape_mount(path: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mount_points(mounts: Path = Path("/proc/mounts")) -> list[Path]:
    try:
        text = mounts.read_text()
    except OSError:
        return []
    return [Path(_unescape_mount(line.split()[1])) for line in text.splitlines() if len(line.split()) >= 2]


def candidate_drives(
    mounts: Path = Path("/proc/mounts"),
    patterns: Sequence[str] = ("/media/*/CIRCUITPY*", "/run/media/*/CIRCUITPY*", "/Volumes/CIRCUITPY*"),
) -> list[Path]:
    """Mounted directories named CIRCUITPY (or CIRCUITPY1, ... when several are plugged in)."""
    found: set[Path] = {
        point for point in mount_points(mounts) if re.fullmatch(rf"{DRIVE_LABEL}\d*", point.name)
    }
    for pattern in patterns:
        root = Path(pattern).anchor or "/"
        found.update(Path(root).glob(pattern.removeprefix(root)))
    return sorted(path for path in found if (path / "boot_out.txt").is_file())


def find_drive(explicit: Path | None = None, candidates: Iterable[Path] | None = None) -> Path:
    if explicit is not None:
        if not explicit.is_dir():
            raise FlashError(f"{explicit} is not a directory: give the mount point of the CIRCUITPY drive")
        return explicit
    drives = list(candidate_drives() if candidates is None else candidates)
    if not drives:
        raise FlashError(
            "no CIRCUITPY drive found: plug in the board (with CircuitPython installed, see "
            "hardware/README.md), wait for the drive to mount, or give --drive PATH"
        )
    if len(drives) > 1:
        raise FlashError(
            f"{len(drives)} CIRCUITPY drives found ({', '.join(map(str, drives))}): "
            "unplug the others or give --drive PATH"
        )
    return drives[0]


@dataclass(frozen=True)
class DeviceInfo:
    version: tuple[int, int, int]
    version_text: str
    board_id: str | None
    uid: str | None


_VERSION = re.compile(r"CircuitPython (\d+)\.(\d+)\.(\d+)(\S*)")


def read_boot_out(drive: Path) -> DeviceInfo:
    """The CircuitPython version and board from boot_out.txt, which proves it is CircuitPython."""
    path = drive / "boot_out.txt"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise FlashError(
            f"{drive} has no boot_out.txt, so it is not a CircuitPython drive (or CircuitPython has not "
            "finished starting): install CircuitPython first, see hardware/README.md"
        ) from None
    except OSError as err:
        raise FlashError(f"cannot read {path}: {err.strerror}") from None
    match = _VERSION.search(text)
    if not match:
        raise FlashError(f"{path} does not name a CircuitPython version; is this a CircuitPython drive?")
    fields = dict(
        line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("Adafruit")
    )
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    return DeviceInfo(
        version=version,
        version_text=match.group(0).removeprefix("CircuitPython "),
        board_id=fields.get("Board ID", "").strip() or None,
        uid=fields.get("UID", "").strip() or None,
    )


def resolve_board(device: DeviceInfo, requested: str | None) -> str:
    detected = board_for_id(device.board_id) if device.board_id else None
    if requested is not None:
        if device.board_id and detected != requested:
            raise FlashError(
                f"--board {requested} but the drive's boot_out.txt says Board ID:{device.board_id}; "
                "check the board or drop --board"
            )
        return requested
    if detected is None:
        known = ", ".join(f"{name} ({info.board_id})" for name, info in BOARDS.items())
        raise FlashError(
            f"cannot tell the board from boot_out.txt (Board ID:{device.board_id or '?'}); "
            f"give --board, one of {known}"
        )
    return detected
