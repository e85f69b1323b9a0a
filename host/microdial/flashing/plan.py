"""The install plan: every file's bytes decided before anything is written, so a missing
source, a wrong mpy-cross or a missing library fails before the drive is touched."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from microdial.flashing.drive import DeviceInfo
from microdial.flashing.errors import FlashError
from microdial.flashing.settings import FirmwareSettings
from microdial.flashing.settings_file import render


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


# -- mpy-cross


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


# -- libraries from the bundle


def needed_libraries(settings: FirmwareSettings) -> list[str]:
    """CircuitPython bundle libraries the firmware imports for these settings."""
    return ["neopixel"] if settings.MICRODIAL_PIN_LIGHT == "NEOPIXEL" else []


def _bundle_file(bundle: Path, name: str) -> Path | None:
    for base in (bundle / "lib", bundle):
        for candidate in (base / f"{name}.mpy", base / f"{name}.py"):
            if candidate.is_file():
                return candidate
    return None


# -- the plan


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
