"""Clips into the library: a video file as it is, or a rupture cut from a recorded session."""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from microdial.analysis.clips import cut
from microdial.analysis.grid import grid_for
from microdial.analysis.session import AnalyzeOptions, analyse
from microdial.errors import ConfigError
from microdial.practice.db import media_dir

TYPES = {
    ".webm": "video/webm",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".ogv": "video/ogg",
    ".mov": "video/mp4",
}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f"adding clips needs {name} on PATH (Debian: apt install ffmpeg)")
    return found


def check_video(path: Path) -> None:
    """Refuse anything without a video stream, with a clear reason."""
    if not path.is_file():
        raise ConfigError(f"{path} does not exist")
    result = subprocess.run(
        [_tool("ffprobe"), "-v", "error", "-show_entries", "stream=codec_type", "-of", "json", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    streams = json.loads(result.stdout or "{}").get("streams", []) if result.returncode == 0 else []
    if not any(stream.get("codec_type") == "video" for stream in streams):
        raise ConfigError(f"{path} is not a video: ffprobe finds no video stream in it")
    if path.suffix.lower() not in TYPES:
        raise ConfigError(f"{path}: use a browser video format ({', '.join(sorted(TYPES))})")


def add_clip(
    db: sqlite3.Connection,
    data: Path,
    video: Path,
    title: str,
    kind: str,
    notes: str,
    source: str = "",
    consent: str | None = None,
) -> str:
    """Copy video into the media folder under a random name and list it; returns the clip id."""
    check_video(video)
    clip_id = secrets.token_urlsafe(12)
    suffix = video.suffix.lower()
    name = f"{secrets.token_urlsafe(16)}{suffix}"
    shutil.copyfile(video, media_dir(data) / name)
    with db:
        db.execute(
            "INSERT INTO clips (id, title, kind, notes, file, mime, source, consent, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (clip_id, title, kind, notes, name, TYPES[suffix], source, consent, time.time()),
        )
    return clip_id


def add_rupture_clip(
    db: sqlite3.Connection,
    data: Path,
    session_dir: Path,
    video: Path,
    rupture: int,
    role: str,
    consent: str | None,
    *,
    title: str | None,
    kind: str,
    notes: str,
    options: AnalyzeOptions | None = None,
) -> str:
    """The clip of rupture N of the rater with this role, cut from the session's video: only with
    the reference of the client's consent to use their recording for training."""
    if not consent or not consent.strip():
        raise ConfigError(
            "a clip from a session shows a real client: give --consent REF, the reference of their "
            "written consent to training use"
        )
    analysis = analyse(grid_for(session_dir, (options or AnalyzeOptions()).grid), options)
    raters = [rater for rater in analysis.raters if rater.role == role]
    if not raters:
        found = sorted({rater.role for rater in analysis.raters})
        raise ConfigError(f"no rater with role {role} in {session_dir} (roles: {', '.join(found) or 'none'})")
    clips = [
        c
        for c in analysis.clips
        if c.kind == "rupture" and c.number == rupture and c.rater == raters[0].rater
    ]
    if not clips:
        count = len(raters[0].ruptures)
        raise ConfigError(f"{raters[0].rater} has {count} rupture(s) in {session_dir}: no rupture {rupture}")
    with tempfile.TemporaryDirectory() as scratch:
        (done,) = cut(video, clips, Path(scratch) / "clips")
        assert done.file is not None
        source = f"{analysis.session} {done.rater} rupture {rupture} {done.start:.0f}-{done.end:.0f} s"
        return add_clip(
            db, data, Path(scratch) / done.file, title or f"{analysis.session}: rupture {rupture}",
            kind, notes, source, consent.strip(),
        )  # fmt: skip
