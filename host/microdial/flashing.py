"""Put the dial firmware onto a CircuitPython board's CIRCUITPY drive and prove it arrived.

A mounted CIRCUITPY drive is a plain FAT directory with a boot_out.txt that CircuitPython
rewrites at every start; everything here works on that directory, so a test can hand in a
temporary directory with a boot_out.txt and exercise exactly the code a real drive gets.

The install is planned completely (every file's bytes) before anything is written, so a
missing source, a wrong mpy-cross or a drive too small fails before the drive is touched.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from microdial.errors import MicrodialError
from microdial.firmware_settings import BOARDS, FirmwareSettings, board_for_id, render, settings_for

DRIVE_LABEL = "CIRCUITPY"
# settings.toml and os.getenv arrived in CircuitPython 8.0; the firmware depends on both.
MIN_CIRCUITPYTHON = (8, 0, 0)
# CircuitPython runs the first of these it finds; anything before code.py would shadow ours.
_SHADOWING = ("code.txt",)
_AFTER_OURS = ("main.txt", "main.py")


class FlashError(MicrodialError):
    """Installing the firmware failed; the message says what to do."""


# --- finding the drive --------------------------------------------------------------------------


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


# --- what is on the drive -----------------------------------------------------------------------


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


# --- where the firmware comes from --------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    boot: Path
    code: Path
    packages: dict[str, Path]  # package name -> directory


def locate_sources() -> Sources:
    """dialfw and dialwire from the installed packages; boot.py and code.py beside dialfw,
    which is where they are in the repository (firmware/boot.py, firmware/dialfw/)."""
    import dialfw
    import dialwire

    packages: dict[str, Path] = {}
    for module in (dialfw, dialwire):
        origin = getattr(module, "__file__", None)
        if origin is None:
            raise FlashError(f"package {module.__name__} has no files (is firmware/{module.__name__} empty?)")
        packages[module.__name__] = Path(origin).parent
    firmware_dir = packages["dialfw"].parent
    boot, code = firmware_dir / "boot.py", firmware_dir / "code.py"
    for path in (boot, code):
        if not path.is_file():
            raise FlashError(
                f"{path} not found: `microdial firmware install` needs the repository checkout "
                "(pip install -e .), where boot.py and code.py sit next to firmware/dialfw"
            )
    return Sources(boot=boot, code=code, packages=packages)


def _package_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*.py") if "__pycache__" not in path.parts)


# --- mpy-cross ----------------------------------------------------------------------------------


def check_mpy_cross(executable: str, device: DeviceInfo) -> None:
    """CircuitPython loads only .mpy files from its own mpy-cross of the same major version:
    MicroPython's (the one pip installs) writes files CircuitPython refuses as incompatible."""
    try:
        result = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise FlashError(
            f"mpy-cross not found at {executable!r}: give --mpy-cross PATH, or drop --mpy"
        ) from None
    version = (result.stdout + result.stderr).strip()
    match = re.search(r"CircuitPython (\d+)\.", version)
    wanted = (
        f"CircuitPython's mpy-cross for {device.version[0]}.x "
        "(https://adafruit-circuit-python.s3.amazonaws.com/index.html?prefix=bin/mpy-cross/)"
    )
    if not match:
        raise FlashError(
            f"{executable} is not CircuitPython's mpy-cross ({version!r}): use {wanted}, or drop --mpy"
        )
    if int(match.group(1)) != device.version[0]:
        raise FlashError(
            f"{executable} is for CircuitPython {match.group(1)}.x but the board runs "
            f"{device.version_text}: use {wanted}"
        )


def compile_mpy(executable: str, source: Path, work: Path) -> bytes:
    out = work / (source.stem + ".mpy")
    result = subprocess.run(
        [executable, "-o", str(out), "-s", source.name, str(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise FlashError(f"mpy-cross failed on {source}: {result.stderr.strip() or result.stdout.strip()}")
    data = out.read_bytes()
    if not data.startswith(b"C"):
        raise FlashError(
            f"mpy-cross wrote {out.name} without CircuitPython's 'C' header; use its own mpy-cross"
        )
    return data


# --- libraries from the bundle ------------------------------------------------------------------


def needed_libraries(settings: FirmwareSettings) -> list[str]:
    """CircuitPython bundle libraries the firmware imports for these settings."""
    return ["neopixel"] if settings.MICRODIAL_PIN_LIGHT == "NEOPIXEL" else []


def _bundle_file(bundle: Path, name: str) -> Path | None:
    for base in (bundle / "lib", bundle):
        for candidate in (base / f"{name}.mpy", base / f"{name}.py"):
            if candidate.is_file():
                return candidate
    return None


# --- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileCopy:
    path: str  # relative to the drive root, with /
    data: bytes
    origin: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Plan:
    files: list[FileCopy]
    # Directories we own on the drive: emptied first, so a stale .py cannot shadow a new .mpy.
    owned_dirs: list[str]
    missing_libraries: list[str] = field(default_factory=list)


def plan_install(
    drive: Path,
    settings: FirmwareSettings,
    device: DeviceInfo,
    sources: Sources,
    *,
    mpy_cross: str | None = None,
    bundle: Path | None = None,
) -> Plan:
    files: list[FileCopy] = []
    owned: list[str] = []
    with tempfile.TemporaryDirectory(prefix="microdial-mpy-") as tmp:
        if mpy_cross is not None:
            check_mpy_cross(mpy_cross, device)
        for name, directory in sources.packages.items():
            owned.append(f"lib/{name}")
            for source in _package_files(directory):
                relative = source.relative_to(directory)
                if mpy_cross is not None:
                    work = Path(tmp) / name / relative.parent
                    work.mkdir(parents=True, exist_ok=True)
                    data = compile_mpy(mpy_cross, source, work)
                    relative = relative.with_suffix(".mpy")
                else:
                    data = source.read_bytes()
                files.append(FileCopy(f"lib/{name}/{relative.as_posix()}", data, str(source)))
    missing: list[str] = []
    for library in needed_libraries(settings):
        found = _bundle_file(bundle, library) if bundle is not None else None
        if found is None:
            if not any((drive / "lib" / f"{library}{suffix}").is_file() for suffix in (".mpy", ".py")):
                missing.append(library)
            continue
        data = found.read_bytes()
        if found.suffix == ".mpy" and not data.startswith(b"C"):
            raise FlashError(f"{found} is not a CircuitPython .mpy file: use the CircuitPython bundle")
        files.append(FileCopy(f"lib/{found.name}", data, str(found)))
    existing = _read_text(drive / "settings.toml")
    files.append(FileCopy("settings.toml", render(settings, existing).encode(), "settings from flags"))
    # boot.py only takes effect at the next hard reset; code.py last, because every write makes
    # CircuitPython reload and the reload after code.py should find everything else in place.
    files.append(FileCopy("boot.py", sources.boot.read_bytes(), str(sources.boot)))
    files.append(FileCopy("code.py", sources.code.read_bytes(), str(sources.code)))
    return Plan(files=files, owned_dirs=owned, missing_libraries=missing)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as err:
        raise FlashError(f"cannot read the drive's {path.name} to keep its other settings: {err}") from None


# --- writing and verifying ----------------------------------------------------------------------


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
