"""The steps of one rater, and the interview rows, from the protocol and their sequences."""

from __future__ import annotations

import csv
from pathlib import Path

from microdial.study.flow import following, steps, valid_answer_key
from microdial.study.outputs import INTERVIEW_COLUMNS, write_outputs
from microdial.study.protocol import DEFAULT
from microdial.study.state import Answer, RaterState, Sequence, Span, StateStore

SEQUENCES = [
    Sequence(number=1, rupture=Span(start=300, end=420), repair=Span(start=350, end=470)),
    Sequence(number=2, rupture=Span(start=900, end=1020)),  # never repaired before the end
]


def test_a_rupture_without_repair_gets_its_clip_and_questions_only() -> None:
    assert steps(DEFAULT, SEQUENCES) == [
        "instructions", "check", "practice", "rating", "finding",
        "clip-1-rupture", "questions-1-rupture", "clip-1-repair", "questions-1-repair",
        "clip-2-rupture", "questions-2-rupture", "done",
    ]  # fmt: skip


def test_before_the_ruptures_are_found_the_steps_end_at_finding() -> None:
    assert steps(DEFAULT, None)[-1] == "finding"
    confirming = DEFAULT.model_copy(update={"confirm_segments": True, "practice": False, "dial_check": False})
    assert steps(confirming, SEQUENCES)[:5] == [
        "instructions",
        "rating",
        "finding",
        "confirm",
        "clip-1-rupture",
    ]


def test_answers_only_for_questions_of_clips_shown() -> None:
    state = RaterState(rater="client", step="questions-1-rupture", sequences=SEQUENCES)
    assert following(DEFAULT, state) == "clip-1-repair"
    assert valid_answer_key(DEFAULT, state, "1:rupture:rupture_what")
    assert valid_answer_key(DEFAULT, state, "2:rupture:rupture_why")
    assert not valid_answer_key(DEFAULT, state, "2:repair:repair_what")  # no repair clip
    assert not valid_answer_key(DEFAULT, state, "1:rupture:repair_what")  # asked after repairs
    assert not valid_answer_key(DEFAULT, state, "3:rupture:rupture_what")


async def test_interview_rows_and_state_survive_a_new_store(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "study", ["client", "therapist"], "instructions")
    state = store.states["client"]
    state.sequences = SEQUENCES
    state.step = "questions-2-rupture"
    state.answers["2:rupture:rupture_why"] = Answer(
        text='we, disagreed\n"here"', first_edit=1.0, last_edit=2.0
    )
    state.answers["1:repair:repair_what"] = Answer(text="laughing", first_edit=3.0, last_edit=3.5)
    await store.save(state)
    again = StateStore(tmp_path / "study", ["client", "therapist"], "instructions")
    assert again.states["client"] == state and again.states["therapist"].step == "instructions"
    write_outputs(tmp_path, "S1", DEFAULT, list(again.states.values()))
    rows = list(csv.DictReader((tmp_path / "interview.csv").open()))
    assert tuple(rows[0]) == INTERVIEW_COLUMNS
    assert [(r["sequence"], r["clip_kind"], r["clip_start"], r["clip_end"]) for r in rows] == [
        ("1", "repair", "350.0", "470.0"),
        ("2", "rupture", "900.0", "1020.0"),
    ]
    assert rows[1]["answer"] == 'we, disagreed\n"here"' and rows[1]["question_text"].startswith("You rated")
    assert rows[0]["participant"] == "" and rows[0]["role"] == "client"
