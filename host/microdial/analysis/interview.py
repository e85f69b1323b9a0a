"""A study interview's answers (interview.json/.csv, written by `microdial study serve`) and which of
the analysis's ruptures and repairs each answer is about.

The one definition of an interview row: the study writes its files with these columns, and
`microdial analyze` reads them back here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from microdial.analysis.grid import AnalysisError
from microdial.analysis.ruptures import Rupture

INTERVIEW_JSON = "interview.json"
INTERVIEW_CSV = "interview.csv"

ClipKind = Literal["rupture", "repair"]


class InterviewAnswer(BaseModel):
    """One answer: the clip it followed (video seconds) and the question; edit times UTC epoch seconds."""

    model_config = ConfigDict(frozen=True)

    session: str
    role: str
    participant: str | None = None
    sequence: int
    clip_kind: ClipKind
    clip_start: float | None
    clip_end: float | None
    question_id: str
    question_text: str
    answer: str
    first_edit: float | None = None
    last_edit: float | None = None


INTERVIEW_COLUMNS = tuple(InterviewAnswer.model_fields)


class LinkedAnswer(InterviewAnswer):
    """An answer with the analysis's rater and rupture number it is about (None: no rupture or repair
    of this analysis starts at its clip)."""

    rater: str | None = None
    rupture: int | None = None


def _blank_to_none(row: dict[str, str]) -> dict[str, str | None]:
    # The CSV cannot tell an empty cell from a missing value; every optional column is a number or code.
    return {
        key: (value if value != "" or key in ("answer", "question_text") else None)
        for key, value in row.items()
    }


def read_interview(folder: Path) -> list[InterviewAnswer] | None:
    """The session's answers (interview.json, else interview.csv), None when the session had no interview."""
    json_path, csv_path = folder / INTERVIEW_JSON, folder / INTERVIEW_CSV
    try:
        if json_path.is_file():
            rows = json.loads(json_path.read_text(encoding="utf-8"))
            path = json_path
        elif csv_path.is_file():
            with csv_path.open(encoding="utf-8", newline="") as handle:
                rows = [_blank_to_none(row) for row in csv.DictReader(handle)]
            path = csv_path
        else:
            return None
    except (OSError, ValueError) as err:
        raise AnalysisError(f"cannot read the interview in {folder}: {err}") from None
    try:
        return [InterviewAnswer.model_validate(row) for row in rows]
    except (ValidationError, TypeError) as err:
        detail = err.errors()[0] if isinstance(err, ValidationError) else {"loc": (), "msg": str(err)}
        where = ".".join(map(str, detail["loc"]))
        raise AnalysisError(f"{path} is not a microdial interview: {where} {detail['msg']}".strip()) from None


def link_answers(
    answers: list[InterviewAnswer], raters: list[tuple[str, str, list[Rupture]]], tolerance: float
) -> list[LinkedAnswer]:
    """Each answer beside the rupture (or repair) of its role's rater whose onset is nearest its clip's
    start, within `tolerance` seconds. `raters` are (name, role, ruptures). Matched by time, not by the
    sequence number: the researcher may have adjusted a clip's start, and `microdial analyze` may be run
    with another rupture definition than the study's, numbering its ruptures differently."""
    linked = []
    for answer in answers:
        best: tuple[float, str, int] | None = None
        if answer.clip_start is not None:
            for name, role, ruptures in raters:
                if role != answer.role:
                    continue
                for rupture in ruptures:
                    onset = rupture.onset if answer.clip_kind == "rupture" else None
                    if answer.clip_kind == "repair" and rupture.repair is not None:
                        onset = rupture.repair.onset
                    if onset is None:
                        continue
                    distance = abs(onset - answer.clip_start)
                    if distance <= tolerance and (best is None or distance < best[0]):
                        best = (distance, name, rupture.number)
        linked.append(
            LinkedAnswer(
                **answer.model_dump(),
                rater=None if best is None else best[1],
                rupture=None if best is None else best[2],
            )
        )
    return linked
