"""The study's test parts: a short video, two simulated dials running the real firmware on ptys,
`microdial study serve` as a real process (so it can be kill -9'd), and headless chromium."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from microdial.sim.rater import SteadyRater
from microdial.sim.runner import SimulatedDial
from tests.players.support import free_port
from tests.viewer.conftest import browser

VIDEO_SECONDS = 12
SESSION = "STUDY1"
RATERS = ("client", "therapist")

# Short enough to run in a test: ruptures of 2 s against a 3 s baseline, 2 s clips, 5 s practice.
PROTOCOL = """
practice = true
practice_seconds = 3
sequences = 1
clip_seconds = 2

[scale]
rated = "working alliance"
low = "very weak"
high = "very strong"

[rupture]
segment = 2
separation = 1
baseline = 3
min_depth = 5.0
"""


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 s test pattern with a tone, in WebM (every chromium build decodes it)."""
    path = tmp_path_factory.mktemp("video") / "session.webm"
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi"]
    command += ["-i", f"testsrc=duration={VIDEO_SECONDS}:size=320x240:rate=25", "-f", "lavfi"]
    command += ["-i", f"sine=duration={VIDEO_SECONDS}", "-shortest", "-c:v", "libvpx"]
    command += ["-deadline", "realtime", "-b:v", "300k", "-c:a", "libopus", str(path)]
    subprocess.run(command, check=True)
    return path


@pytest.fixture
def dials(tmp_path: Path) -> Iterator[dict[str, SimulatedDial]]:
    """One simulated dial per rater, found by the server as /…/dials/<rater> (in this order)."""
    folder = tmp_path / "dials"
    folder.mkdir()
    made = {}
    for seed, rater in enumerate(RATERS, start=1):
        dial = SimulatedDial(SteadyRater(0), seed=seed, rate_hz=50, link=folder / rater)
        dial.start()
        made[rater] = dial
    yield made
    for dial in made.values():
        dial.stop()


__all__ = ["browser"]  # chromium, as the viewer's tests launch it


@dataclass
class StudyProcess:
    """`microdial study serve` in its own process, and the links it printed."""

    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None
    links: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 20.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "microdial", "study", "serve", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        self.links = {}
        while len(self.links) < 1 + len(RATERS):
            line = self.process.stdout.readline()
            if not line or time.monotonic() > deadline:
                self.process.kill()
                _, err = self.process.communicate()
                raise AssertionError(f"study serve did not start: {err[-3000:]}")
            found = re.match(r"(console|rater (\w+)): (http\S+)", line.strip())
            if found:
                self.links[found.group(2) or "console"] = found.group(3)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> str:
        if self.process is None or self.process.poll() is not None:
            return ""
        self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err


@pytest.fixture
def study_args(tmp_path: Path, video: Path, mosquitto: object) -> list[str]:
    protocol = tmp_path / "protocol.toml"
    protocol.write_text(PROTOCOL)
    return [
        "--session", SESSION, "--video", str(video), "--protocol", str(protocol),
        "--broker", mosquitto.url,  # type: ignore[attr-defined]
        "--out", str(tmp_path / "recordings"), "--port", str(free_port()),
        "--dial-ports", str(tmp_path / "dials" / "*"), "--spool-dir", str(tmp_path / "spool"),
    ]  # fmt: skip


@pytest.fixture
def study(study_args: list[str], dials: dict[str, SimulatedDial]) -> Iterator[StudyProcess]:
    process = StudyProcess(study_args, dict(os.environ))
    process.start()
    yield process
    print(process.stop()[-6000:])
