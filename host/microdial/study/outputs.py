"""What the study leaves in the session folder: interview.csv and .json (one row per answer),
the segments shown to each rater, and the protocol used."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from microdial.analysis.interview import INTERVIEW_COLUMNS, INTERVIEW_CSV, INTERVIEW_JSON
from microdial.study.flow import KINDS
from microdial.study.protocol import Protocol, to_toml
from microdial.study.state import RaterState, write_atomically


def interview_rows(session: str, protocol: Protocol, states: Iterable[RaterState]) -> list[dict[str, Any]]:
    """Every answer given, in rater, sequence, clip and question order; no names, only codes."""
    texts = {question.id: question.text for question in protocol.questions}
    rows: list[dict[str, Any]] = []
    for state in states:
        spans = {}
        for sequence in state.sequences or []:
            spans[(sequence.number, "rupture")] = sequence.rupture
            if sequence.repair is not None:
                spans[(sequence.number, "repair")] = sequence.repair
        for key, answer in state.answers.items():
            number_text, kind_text, question = key.split(":")
            kind = KINDS[kind_text]
            span = spans.get((int(number_text), kind))
            rows.append(
                {
                    "session": session,
                    "role": state.rater,
                    "participant": None,
                    "sequence": int(number_text),
                    "clip_kind": kind,
                    "clip_start": None if span is None else span.start,
                    "clip_end": None if span is None else span.end,
                    "question_id": question,
                    "question_text": texts.get(question, ""),
                    "answer": answer.text,
                    "first_edit": answer.first_edit,
                    "last_edit": answer.last_edit,
                }
            )
    order = {question.id: index for index, question in enumerate(protocol.questions)}
    rows.sort(
        key=lambda row: (
            row["role"],
            row["sequence"],
            row["clip_kind"] != "rupture",
            order.get(row["question_id"], 99),
        )
    )
    return rows


def output_files(folder: Path, session: str, protocol: Protocol, states: list[RaterState]) -> dict[Path, str]:
    """interview.csv, interview.json and segments.json: name → content."""
    rows = interview_rows(session, protocol, states)
    text = io.StringIO()
    writer = csv.DictWriter(text, INTERVIEW_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    segments = {
        state.rater: None if state.sequences is None else [s.model_dump() for s in state.sequences]
        for state in states
    }
    return {
        folder / INTERVIEW_CSV: text.getvalue(),
        folder / INTERVIEW_JSON: json.dumps(rows, indent=1, ensure_ascii=False),
        folder / "segments.json": json.dumps(segments, indent=1),
    }


def write_outputs(folder: Path, session: str, protocol: Protocol, states: list[RaterState]) -> None:
    for path, content in output_files(folder, session, protocol, states).items():
        write_atomically(path, content)


def copy_protocol(folder: Path, protocol: Protocol, source: Path | None) -> Path:
    """The protocol used, as given (its own words and comments) or the default written out."""
    path = folder / "protocol.toml"
    write_atomically(path, source.read_text(encoding="utf-8") if source is not None else to_toml(protocol))
    return path
