"""Writes a study's interview.json (and .csv) as `microdial study serve` does, with known answers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from microdial.analysis.interview import INTERVIEW_COLUMNS, InterviewAnswer

# (role, clip kind, clip start in video seconds, question id, answer)
Given = tuple[str, str, float, str, str]


def write_interview(folder: Path, session: str, given: list[Given], clip_seconds: float = 120.0) -> None:
    rows = [
        InterviewAnswer.model_validate(
            {
                "session": session,
                "role": role,
                "sequence": 1,
                "clip_kind": kind,
                "clip_start": start,
                "clip_end": start + clip_seconds,
                "question_id": question,
                "question_text": f"Question {question}?",
                "answer": answer,
                "first_edit": 1_763_700_000.0,
                "last_edit": 1_763_700_010.0,
            }
        ).model_dump()
        for role, kind, start, question, answer in given
    ]
    (folder / "interview.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    with (folder / "interview.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, INTERVIEW_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
