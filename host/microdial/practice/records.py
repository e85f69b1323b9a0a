"""The practice records and who may see them.

A trainee sees the clip library and their own attempts; a supervisor sees the submitted attempts of
their own trainees (an admin: everyone's submitted attempts). Anything else is PermissionError,
whether or not it exists, so a wrong user learns nothing, not even that an id is real.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from typing import Any

from pydantic import BaseModel, Field, model_validator

from microdial.practice.auth import User
from microdial.practice.settings import Rubric
from microdial.practice.uploads import Upload

KINDS = ("confrontation", "withdrawal", "other")


class Trace(BaseModel):
    """A moment-to-moment rating of a response: (media seconds, value) pairs on a dial's scale.
    The page fills it from the arrow keys; a microdial dial's samples (media_time, value) fit as
    they are, so a dial can feed the same field later."""

    source: str = Field("keys", pattern=r"^(keys|dial)$")
    scale_min: int = -50
    scale_max: int = 50
    samples: list[tuple[float, float]] = Field(default_factory=list, max_length=50_000)

    @model_validator(mode="after")
    def _on_scale(self) -> Trace:
        if any(t < 0 or not self.scale_min <= value <= self.scale_max for t, value in self.samples):
            raise ValueError(f"trace samples are (media seconds >= 0, {self.scale_min}..{self.scale_max})")
        return self


def _dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else dict(row)


def clips(db: sqlite3.Connection, user: User) -> list[dict[str, Any]]:
    """Every clip, with how many attempts this user made and whether one went to a supervisor."""
    rows = db.execute(
        "SELECT clips.id, title, kind, notes, clips.created, "
        "COUNT(attempts.id) AS attempts, COUNT(attempts.submitted) AS submitted "
        "FROM clips LEFT JOIN attempts ON attempts.clip_id = clips.id AND attempts.user_id = ? "
        "GROUP BY clips.id ORDER BY clips.created",
        (user.id,),
    )
    return [dict(row) for row in rows]


def clip(db: sqlite3.Connection, clip_id: str) -> dict[str, Any]:
    row = db.execute(
        "SELECT id, title, kind, notes, file, mime FROM clips WHERE id = ?", (clip_id,)
    ).fetchone()
    if row is None:
        raise PermissionError("no such clip")
    return dict(row)


def _review_summary(db: sqlite3.Connection, attempt_id: str) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM reviews WHERE attempt_id = ?", (attempt_id,)).fetchone()
    if row is None:
        return None
    return {
        "id": row["id"],
        "rubric": json.loads(row["rubric"]),
        "scores": json.loads(row["scores"]),
        "feedback": row["feedback"],
        "trace": json.loads(row["trace"]),
        "reply": row["reply_file"] is not None,
        "reply_mime": row["reply_mime"],
        "created": row["created"],
    }


_ATTEMPT_COLUMNS = "id, user_id, clip_id, number, mime, size, created, submitted, note"


def attempts(db: sqlite3.Connection, user: User, clip_id: str) -> list[dict[str, Any]]:
    rows = db.execute(
        f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE user_id = ? AND clip_id = ? ORDER BY number",
        (user.id, clip_id),
    ).fetchall()
    return [dict(row) | {"review": _review_summary(db, row["id"])} for row in rows]


def visible_attempt(db: sqlite3.Connection, user: User, attempt_id: str) -> dict[str, Any]:
    row = _dict(
        db.execute(
            "SELECT attempts.*, users.code AS trainee, users.supervisor_id FROM attempts "
            "JOIN users ON users.id = attempts.user_id WHERE attempts.id = ?",
            (attempt_id,),
        ).fetchone()
    )
    if row is None or not _may_see(user, row):
        raise PermissionError("not yours to see")
    return row | {"review": _review_summary(db, attempt_id)}


def _may_see(user: User, attempt: dict[str, Any]) -> bool:
    if attempt["user_id"] == user.id:
        return True
    if attempt["submitted"] is None:
        return False
    return user.role == "admin" or (user.role == "supervisor" and attempt["supervisor_id"] == user.id)


def commit_attempt(
    db: sqlite3.Connection, upload: Upload, file: str, mime: str, sha256: str
) -> dict[str, Any]:
    """The upload becomes the user's next numbered attempt, in one transaction."""
    attempt_id = secrets.token_urlsafe(16)
    with db:
        db.execute("BEGIN IMMEDIATE")
        (number,) = db.execute(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM attempts WHERE user_id = ? AND clip_id = ?",
            (upload.user_id, upload.clip_id),
        ).fetchone()
        db.execute(
            "INSERT INTO attempts (id, user_id, clip_id, number, file, mime, size, sha256, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                attempt_id,
                upload.user_id,
                upload.clip_id,
                number,
                file,
                mime,
                upload.size,
                sha256,
                time.time(),
            ),
        )
        db.execute("DELETE FROM uploads WHERE id = ?", (upload.id,))
    return {"id": attempt_id, "number": number, "sha256": sha256}


def commit_reply(db: sqlite3.Connection, upload: Upload, file: str, mime: str) -> dict[str, Any]:
    with db:
        db.execute("UPDATE uploads SET file = ?, mime = ? WHERE id = ?", (file, mime, upload.id))
    return {"id": upload.id}


def submit(db: sqlite3.Connection, user: User, attempt_id: str, note: str) -> None:
    attempt = visible_attempt(db, user, attempt_id)
    if attempt["user_id"] != user.id:
        raise PermissionError("only the trainee who recorded an attempt submits it")
    waiting = db.execute(
        "SELECT number FROM attempts LEFT JOIN reviews ON reviews.attempt_id = attempts.id "
        "WHERE user_id = ? AND clip_id = ? AND submitted IS NOT NULL AND reviews.id IS NULL",
        (user.id, attempt["clip_id"]),
    ).fetchone()
    if waiting is not None:
        raise ValueError(f"attempt {waiting['number']} of this clip is already waiting for feedback")
    with db:
        db.execute(
            "UPDATE attempts SET submitted = ?, note = ? WHERE id = ?", (time.time(), note, attempt_id)
        )


def queue(db: sqlite3.Connection, user: User) -> list[dict[str, Any]]:
    if user.role == "trainee":
        raise PermissionError("the review queue is for supervisors")
    rows = db.execute(
        "SELECT attempts.id, attempts.number, attempts.submitted, attempts.note, users.code AS trainee, "
        "clips.title, clips.kind, reviews.id IS NOT NULL AS reviewed FROM attempts "
        "JOIN users ON users.id = attempts.user_id JOIN clips ON clips.id = attempts.clip_id "
        "LEFT JOIN reviews ON reviews.attempt_id = attempts.id "
        "WHERE attempts.submitted IS NOT NULL AND (? OR users.supervisor_id = ?) "
        "ORDER BY reviewed, attempts.submitted",
        (user.role == "admin", user.id),
    )
    return [dict(row) for row in rows]


def save_review(
    db: sqlite3.Connection,
    user: User,
    attempt_id: str,
    rubric: Rubric,
    scores: dict[str, int],
    feedback: str,
    trace: Trace,
    reply_upload: str | None,
) -> str:
    attempt = visible_attempt(db, user, attempt_id)
    if attempt["user_id"] == user.id or user.role == "trainee":
        raise PermissionError("attempts are reviewed by the trainee's supervisor")
    rubric.check(scores)
    reply_file = reply_mime = None
    if reply_upload is not None:
        row = db.execute(
            "SELECT file, mime FROM uploads WHERE id = ? AND user_id = ? AND purpose = 'reply' AND file IS NOT NULL",
            (reply_upload, user.id),
        ).fetchone()
        if row is None:
            raise ValueError("the spoken reply has not finished uploading")
        reply_file, reply_mime = row["file"], row["mime"]
    review_id = secrets.token_urlsafe(16)
    with db:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT 1 FROM reviews WHERE attempt_id = ?", (attempt_id,)).fetchone():
            raise ValueError("this attempt has been reviewed already")
        db.execute(
            "INSERT INTO reviews (id, attempt_id, reviewer_id, rubric, scores, feedback, reply_file, "
            "reply_mime, trace, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                review_id, attempt_id, user.id, rubric.model_dump_json(), json.dumps(scores), feedback,
                reply_file, reply_mime, trace.model_dump_json(), time.time(),
            ),
        )  # fmt: skip
        if reply_upload is not None:
            db.execute("DELETE FROM uploads WHERE id = ?", (reply_upload,))
    return review_id


def reply_media(db: sqlite3.Connection, user: User, review_id: str) -> tuple[str, str]:
    row = db.execute(
        "SELECT attempt_id, reply_file, reply_mime FROM reviews WHERE id = ?", (review_id,)
    ).fetchone()
    if row is None or row["reply_file"] is None:
        raise PermissionError("not yours to see")
    visible_attempt(db, user, row["attempt_id"])
    return row["reply_file"], row["reply_mime"]


def progress(db: sqlite3.Connection, user: User) -> list[dict[str, Any]]:
    """This trainee's reviewed attempts in review order, with their scores."""
    rows = db.execute(
        "SELECT attempts.id, attempts.number, clips.title, clips.kind, reviews.scores, reviews.rubric, "
        "reviews.created FROM attempts JOIN reviews ON reviews.attempt_id = attempts.id "
        "JOIN clips ON clips.id = attempts.clip_id WHERE attempts.user_id = ? ORDER BY reviews.created",
        (user.id,),
    )
    return [
        dict(row) | {"scores": json.loads(row["scores"]), "rubric": json.loads(row["rubric"])} for row in rows
    ]
