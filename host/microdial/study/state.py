"""Each rater's progress and answers, durable: one JSON file per rater, replaced atomically.

Every change is written to a temporary file, fsynced, renamed over the old one and the folder
fsynced, before the request that made it is answered; so whatever a page was told is saved
survives a kill -9 of the server or a power cut, and a torn file cannot exist.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from microdial.errors import ConfigError
from microdial.model import Code
from microdial.study.protocol import ClipKind

AnswerText = Annotated[str, StringConstraints(max_length=20_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Span(_Model):
    start: float
    end: float


class Sequence(_Model):
    """One rupture and the repair after it (None: the rating never came back before the end)."""

    number: int
    rupture: Span
    repair: Span | None = None


class Answer(_Model):
    text: AnswerText
    first_edit: float
    last_edit: float


class Interruption(_Model):
    step: str
    position: float
    at: float
    reason: str


class RaterState(_Model):
    rater: Code
    step: str
    positions: dict[str, float] = Field(default_factory=dict)
    answers: dict[str, Answer] = Field(default_factory=dict)
    # None until the rater's ruptures are found; then the sequences shown (after any adjustment).
    sequences: list[Sequence] | None = None
    confirmed: bool = False
    interruptions: list[Interruption] = Field(default_factory=list)
    updated: float = 0.0


def answer_key(number: int, kind: ClipKind, question: str) -> str:
    return f"{number}:{kind}:{question}"


def write_atomically(path: Path, text: str, durable: bool = True) -> None:
    """Replace path with text; durable: fsynced (file and folder) before this returns, else in
    the kernel only (survives the process being killed, not a power cut)."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as file:
        file.write(text)
        if durable:
            file.flush()
            os.fsync(file.fileno())
    os.replace(temporary, path)
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class FileWriter:
    """Writes files off the event loop (an fsync can take tens of milliseconds, and the loop
    stamps every dial sample), one at a time; of two versions of a file, the newer one wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._given: dict[Path, int] = {}
        self._written: dict[Path, int] = {}

    async def write(self, files: dict[Path, str], durable: bool = True) -> None:
        versions = {}
        for path in files:
            versions[path] = self._given[path] = self._given.get(path, 0) + 1
        await asyncio.to_thread(self._write, files, versions, durable)

    def _write(self, files: dict[Path, str], versions: dict[Path, int], durable: bool) -> None:
        with self._lock:
            for path, text in files.items():
                if versions[path] > self._written.get(path, 0):
                    write_atomically(path, text, durable)
                    self._written[path] = versions[path]


class StateStore:
    """The raters' states in folder (the session folder's study/), loaded once, saved on change."""

    def __init__(self, folder: Path, raters: list[str], first_step: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.writer = FileWriter()
        self.states: dict[str, RaterState] = {}
        for rater in raters:
            path = self.path(rater)
            if path.exists():
                try:
                    self.states[rater] = RaterState.model_validate_json(path.read_bytes())
                except ValidationError as err:
                    raise ConfigError(f"{path} is damaged ({err.errors()[0]['msg']}): move it away") from None
            else:
                self.states[rater] = RaterState(rater=rater, step=first_step)

    def path(self, rater: str) -> Path:
        return self.folder / f"{rater}.json"

    async def save(self, state: RaterState, durable: bool = True) -> None:
        """On disk when this returns; durable=False (a clip position) skips the fsync."""
        state.updated = time.time()
        await self.writer.write({self.path(state.rater): state.model_dump_json(indent=1)}, durable)
