"""`microdial practice export`: every clip, attempt, score, feedback and rating trace as CSV."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path


def _write(path: Path, header: list[str], rows: Iterable[Iterable[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def export(db: sqlite3.Connection, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    clips = db.execute("SELECT id, title, kind, notes, source, consent, created FROM clips ORDER BY created")
    attempts = db.execute(
        "SELECT attempts.id, users.code, attempts.clip_id, number, size, sha256, attempts.created, "
        "submitted, note FROM attempts JOIN users ON users.id = attempts.user_id ORDER BY attempts.created"
    )
    reviews = db.execute(
        "SELECT reviews.id, attempt_id, users.code, reviews.created, feedback, reply_file IS NOT NULL, "
        "scores, trace FROM reviews JOIN users ON users.id = reviews.reviewer_id ORDER BY reviews.created"
    ).fetchall()
    written = [
        _write(out / "clips.csv", ["clip", "title", "kind", "notes", "source", "consent", "created"], clips),
        _write(
            out / "attempts.csv",
            ["attempt", "trainee", "clip", "number", "bytes", "sha256", "created", "submitted", "note"],
            attempts,
        ),
        _write(
            out / "reviews.csv",
            ["review", "attempt", "reviewer", "created", "feedback", "spoken_reply"],
            (row[:6] for row in reviews),
        ),
        _write(
            out / "scores.csv",
            ["review", "attempt", "item", "score"],
            ((row[0], row[1], item, score) for row in reviews for item, score in json.loads(row[6]).items()),
        ),
        _write(
            out / "traces.csv",
            ["review", "attempt", "source", "media_time", "value"],
            (
                (row[0], row[1], trace["source"], t, value)
                for row in reviews
                for trace in [json.loads(row[7])]
                for t, value in trace["samples"]
            ),
        ),
    ]
    return written
