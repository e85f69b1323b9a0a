"""Cutting the clip table out of the session video with ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from microdial.analysis.grid import AnalysisError
from microdial.analysis.session import Clip


def clip_name(clip: Clip, suffix: str) -> str:
    return f"{clip.rater}-{clip.kind}{clip.number}{suffix}"


def cut(video: Path, clips: list[Clip], out_dir: Path) -> list[Clip]:
    """Each clip re-encoded (frame-accurate starts, unlike stream copy); returns clips with file set."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AnalysisError("--cut needs ffmpeg on PATH (Debian: apt install ffmpeg)")
    if not video.is_file():
        raise AnalysisError(f"video {video} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for clip in clips:
        target = out_dir / clip_name(clip, video.suffix or ".mp4")
        command = [
            ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
            "-ss", f"{clip.start:.3f}", "-i", str(video), "-t", f"{clip.end - clip.start:.3f}",
            str(target),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise AnalysisError(f"ffmpeg could not cut {target.name} from {video}: {reason}")
        done.append(clip.model_copy(update={"file": str(target.relative_to(out_dir.parent))}))
    return done
