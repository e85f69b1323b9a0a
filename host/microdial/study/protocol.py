"""The study protocol: what the raters are told, what they do and what they are asked.

A TOML file validated here (a bad file is one ConfigError naming the place, so `microdial study`
exits 2); without one, DEFAULT follows the published microprocess method (three lowest-rated
segments, a 2-minute clip from the start of each rupture and of the repair after it, two questions
after each clip), in our own words.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from microdial.analysis.ruptures import RuptureOptions
from microdial.errors import ConfigError
from microdial.model import Code

ClipKind = Literal["rupture", "repair"]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Question(_Model):
    id: Code
    after: ClipKind
    text: Text


class RuptureDefinition(_Model):
    """As `microdial analyze` defines a rupture (its flags of the same names); k is `sequences`."""

    segment: int = Field(30, ge=1)
    separation: int = Field(30, ge=0)
    baseline: int = Field(60, ge=1)
    min_depth: float = Field(5.0, ge=0)
    repair_fraction: float = Field(1.0, gt=0, le=1)


class Scale(_Model):
    """What is rated (the construct), and the words at the two ends of the dial."""

    rated: Text = "working alliance"
    low: Text = "very weak"
    high: Text = "very strong"


INSTRUCTIONS = (
    "You will watch the recording of your last session from start to end. While it plays, keep the "
    "dial where it shows how strong the working alliance feels at that moment: how much the two of "
    "you agree on what you are working on, on how you are working on it, and how connected you feel. "
    "Turn it up when the alliance feels stronger and down when it feels weaker, as often as it changes. "
    "There are no right or wrong ratings. Afterwards you will see a few short parts of the session "
    "again and answer some questions about them."
)

DEFAULT_QUESTIONS = (
    Question(id="rupture_what", after="rupture", text="What was happening in this part of the session?"),
    Question(
        id="rupture_why",
        after="rupture",
        text="You rated the alliance lower here. What made it feel weaker at this point?",
    ),
    Question(id="repair_what", after="repair", text="What was happening in this part of the session?"),
    Question(
        id="repair_why",
        after="repair",
        text="Just before this you had rated the alliance lower. What helped it feel stronger again here?",
    ),
)


class Protocol(_Model):
    scale: Scale = Scale()
    instructions: Text = INSTRUCTIONS
    dial_check: bool = True
    practice: bool = True
    practice_seconds: int = Field(20, ge=1, le=600)
    show_value: bool = False
    sequences: int = Field(3, ge=0, le=20)
    clip_seconds: int = Field(120, ge=1)
    rupture: RuptureDefinition = RuptureDefinition()
    confirm_segments: bool = False
    questions: tuple[Question, ...] = DEFAULT_QUESTIONS

    @model_validator(mode="after")
    def _unique_ids(self) -> Protocol:
        ids = [question.id for question in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("every question needs its own id")
        return self

    def asked_after(self, kind: ClipKind) -> list[Question]:
        return [question for question in self.questions if question.after == kind]

    def rupture_options(self) -> RuptureOptions:
        return RuptureOptions(k=self.sequences, **self.rupture.model_dump())


DEFAULT = Protocol()


def load_protocol(path: Path | None) -> Protocol:
    """The protocol in path (TOML), or DEFAULT; any fault is one ConfigError saying where."""
    if path is None:
        return DEFAULT
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"protocol {path}: cannot read it ({err.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"protocol {path} is not valid TOML: {err}") from None
    try:
        return Protocol.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise ConfigError(f"protocol {path}: {where}: {first['msg']}{more}") from None


def to_toml(protocol: Protocol) -> str:
    """The protocol as a TOML file load_protocol reads back (the session folder keeps a copy)."""
    import json

    def value(item: object) -> str:
        return "true" if item is True else "false" if item is False else json.dumps(item, ensure_ascii=False)

    data = protocol.model_dump(mode="json")
    lines = [f"{key} = {value(item)}" for key, item in data.items() if not isinstance(item, dict | list)]
    for table in ("scale", "rupture"):
        lines += ["", f"[{table}]"] + [f"{key} = {value(item)}" for key, item in data[table].items()]
    for question in data["questions"]:
        lines += ["", "[[questions]]"] + [f"{key} = {value(item)}" for key, item in question.items()]
    return "\n".join(lines) + "\n"
