"""Writing a plan onto the drive, reading every file back, and the install as a whole.

code.py is written last: every write makes CircuitPython reload, and the reload after code.py
should find everything else in place.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from microdial.flashing.boards import BOARDS
from microdial.flashing.drive import DeviceInfo, read_boot_out, resolve_board
from microdial.flashing.errors import FlashError
from microdial.flashing.plan import Plan, Sources, locate_sources, plan_install
from microdial.flashing.settings import FirmwareSettings, settings_for

# settings.toml and os.getenv arrived in CircuitPython 8.0; the firmware depends on both.
MIN_CIRCUITPYTHON = (8, 0, 0)
# CircuitPython runs the first of these it finds; anything before code.py would shadow ours.
_SHADOWING = ("code.txt",)
_AFTER_OURS = ("main.txt", "main.py")


def _size_on_drive(drive: Path, relative: str) -> int:
    try:
        return (drive / relative).stat().st_size
    except OSError:
        return 0


def _owned_bytes(drive: Path, owned_dirs: Sequence[str]) -> int:
    total = 0
    for directory in owned_dirs:
        root = drive / directory
        if root.is_dir():
            total += sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
    return total


def check_space(drive: Path, plan: Plan) -> None:
    # FAT allocates whole clusters, so count each file rounded up to the drive's block size.
    block = max(os.statvfs(drive).f_bsize, 512) if hasattr(os, "statvfs") else 4096

    def blocks(size: int) -> int:
        return -(-size // block) * block

    replaced = sum(
        blocks(_size_on_drive(drive, f.path))
        for f in plan.files
        if not f.path.startswith(tuple(plan.owned_dirs))
    )
    freed = _owned_bytes(drive, plan.owned_dirs) + replaced
    needed = sum(blocks(len(f.data)) for f in plan.files)
    free = shutil.disk_usage(drive).free
    if needed > free + freed:
        raise FlashError(
            f"CIRCUITPY is too full: the firmware needs {needed // 1024 + 1} KiB, "
            f"{(free + freed) // 1024} KiB can be made free; delete files you do not need from {drive} "
            "(or use --mpy for smaller files) and run again"
        )


def _backup(drive: Path, relative: str, new: bytes) -> str | None:
    """Keep a user's own boot.py / code.py (not ours) as NAME.bak before replacing it."""
    target = drive / relative
    try:
        old = target.read_bytes()
    except FileNotFoundError:
        return None
    if old == new or b"dialfw" in old:
        return None
    for n in range(100):
        backup = target.with_name(target.name + (".bak" if n == 0 else f".bak{n}"))
        if not backup.exists() or backup.read_bytes() == old:
            backup.write_bytes(old)
            return backup.name
    raise FlashError(f"{target.name}.bak .. .bak99 all exist on {drive}: remove old backups first")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _read_back(path: Path) -> bytes:
    with open(path, "rb") as handle:
        # Drop the cached pages so the read comes from the drive, not from what we just wrote.
        if hasattr(os, "posix_fadvise"):
            with contextlib.suppress(OSError):
                os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return handle.read()


def write_plan(drive: Path, plan: Plan) -> list[str]:
    """Write every file; returns the names of backups made. Raises FlashError on a full drive."""
    backups: list[str] = []
    try:
        for directory in plan.owned_dirs:
            if (drive / directory).is_dir():
                shutil.rmtree(drive / directory)
        for copy in plan.files:
            if copy.path in ("boot.py", "code.py"):
                made = _backup(drive, copy.path, copy.data)
                if made:
                    backups.append(made)
            _write(drive / copy.path, copy.data)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise FlashError(
                f"CIRCUITPY filled up while writing: free space on {drive} and run the install again "
                "(the dial will not run correctly until it completes)"
            ) from None
        raise FlashError(f"writing to {drive} failed: {err.strerror} ({err.filename})") from None
    return backups


def verify_plan(drive: Path, plan: Plan) -> None:
    """Read every file back and compare its SHA-256 with what was meant to be written."""
    bad: list[str] = []
    for copy in plan.files:
        try:
            digest = hashlib.sha256(_read_back(drive / copy.path)).hexdigest()
        except OSError as err:
            bad.append(f"{copy.path} ({err.strerror})")
            continue
        if digest != copy.digest:
            bad.append(copy.path)
    if bad:
        raise FlashError(
            f"read-back check failed for {', '.join(bad)} on {drive}: the drive may be failing or was "
            "unplugged; eject it, reconnect and install again"
        )


@dataclass
class InstallReport:
    drive: Path
    device: DeviceInfo
    board: str
    plan: Plan
    backups: list[str]
    warnings: list[str]

    def lines(self) -> list[str]:
        total = sum(len(f.data) for f in self.plan.files)
        out = [
            f"CircuitPython {self.device.version_text} on {BOARDS[self.board].title} at {self.drive}",
            f"wrote and read back {len(self.plan.files)} files ({total} bytes), all identical:",
        ]
        out += [f"  {f.path}  ({len(f.data)} bytes, sha256 {f.digest[:12]})" for f in self.plan.files]
        out += [f"kept your previous {name.split('.bak')[0]} as {name}" for name in self.backups]
        out += self.warnings
        if self.plan.missing_libraries:
            libraries = " ".join(self.plan.missing_libraries)
            out.append(
                f"still needed on the board: {libraries} (from the CircuitPython bundle for "
                f"{self.device.version[0]}.x: `circup install {libraries}`, or run again with --bundle DIR)"
            )
        out.append(
            "boot.py changes take effect after a reset: press the board's reset button or unplug and replug it"
        )
        return out


def install(
    drive: Path,
    settings: FirmwareSettings,
    *,
    board: str | None = None,
    sources: Sources | None = None,
    mpy_cross: str | None = None,
    bundle: Path | None = None,
) -> InstallReport:
    device = read_boot_out(drive)
    if device.version < MIN_CIRCUITPYTHON:
        raise FlashError(
            f"the board runs CircuitPython {device.version_text}; the firmware needs 8.0 or newer "
            "(settings.toml): install a current CircuitPython UF2 first, see hardware/README.md"
        )
    chosen = resolve_board(device, board)
    # Re-validate for the board actually found: the settings may have been built for another.
    settings = settings_for(settings.model_dump(), chosen, f"settings for the {BOARDS[chosen].title}")
    shadow = [name for name in _SHADOWING if (drive / name).exists()]
    if shadow:
        raise FlashError(
            f"{drive / shadow[0]} would run instead of code.py: rename or delete it, then install again"
        )
    warnings = [
        f"note: {name} is also on the drive; CircuitPython runs code.py first, so it is ignored"
        for name in _AFTER_OURS
        if (drive / name).exists()
    ]
    plan = plan_install(
        drive, settings, device, sources or locate_sources(), mpy_cross=mpy_cross, bundle=bundle
    )
    check_space(drive, plan)
    backups = write_plan(drive, plan)
    verify_plan(drive, plan)
    return InstallReport(drive, device, chosen, plan, backups, warnings)
