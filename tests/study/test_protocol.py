"""The protocol file: the default follows the published method; a bad file is one clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from microdial.errors import ConfigError
from microdial.study.protocol import DEFAULT, load_protocol, to_toml


def test_the_default_follows_the_published_method() -> None:
    assert DEFAULT.sequences == 3 and DEFAULT.clip_seconds == 120
    assert [q.after for q in DEFAULT.questions] == ["rupture", "rupture", "repair", "repair"]
    assert DEFAULT.rupture_options().k == 3
    assert DEFAULT.scale.rated == "working alliance"


def test_a_written_protocol_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "protocol.toml"
    path.write_text(to_toml(DEFAULT))
    assert load_protocol(path) == DEFAULT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sequences = 'three'", "sequences: Input should be a valid integer"),
        ("clip_seconds = 0", "clip_seconds: Input should be greater than or equal to 1"),
        ("colour = 'blue'", "colour: Extra inputs are not permitted"),
        ("[[questions]]\nid = 'a'\nafter = 'middle'\ntext = 'x'", "questions.0.after: Input should be"),
        (
            "[[questions]]\nid = 'a'\nafter = 'rupture'\ntext = 'x'\n[[questions]]\nid = 'a'\nafter = 'repair'\ntext = 'y'",
            "every question needs its own id",
        ),
        ("sequences = ", "is not valid TOML"),
    ],
)
def test_a_bad_protocol_is_one_error_saying_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "protocol.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"protocol .*protocol\.toml") as raised:
        load_protocol(path)
    assert message in str(raised.value)


def run_study(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "microdial", "study", "serve", "--session", "S1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_a_bad_protocol_file_and_a_missing_video_exit_2_with_one_line(tmp_path: Path) -> None:
    video = tmp_path / "session.webm"
    video.write_bytes(b"not really a video")
    protocol = tmp_path / "protocol.toml"
    protocol.write_text("sequences = -1\n")
    bad = run_study("--video", str(video), "--protocol", str(protocol))
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        f"microdial study: protocol {protocol}: sequences: Input should be greater than or equal to 0"
    )
    missing = run_study("--video", str(tmp_path / "nowhere.mp4"))
    assert missing.returncode == 2
    assert "video" in missing.stderr and "nowhere.mp4 does not exist" in missing.stderr
    no_file = run_study("--video", str(video), "--protocol", str(tmp_path / "absent.toml"))
    assert no_file.returncode == 2 and "cannot read it" in no_file.stderr
