"""The steps of one rater's session and what each shows, from the protocol and their sequences.

Steps are named, not numbered, so a saved step still means the same after the list grows (the
clip steps exist only once the rater's ruptures are found):
instructions → check → practice → rating → finding → confirm → clip-1-rupture →
questions-1-rupture → clip-1-repair → questions-1-repair → … → done.
"""

from __future__ import annotations

from typing import Any

from microdial.study.protocol import ClipKind, Protocol
from microdial.study.state import RaterState, Sequence, Span, answer_key

KINDS: dict[str, ClipKind] = {"rupture": "rupture", "repair": "repair"}

# Steps the page may leave by itself; the others are left by the server (finding: once the
# segments are found; confirm: once the researcher confirms).
PAGE_STEPS = ("instructions", "check", "practice", "rating", "clip", "questions")


def steps(protocol: Protocol, sequences: list[Sequence] | None) -> list[str]:
    names = ["instructions"]
    if protocol.dial_check:
        names.append("check")
    if protocol.practice:
        names.append("practice")
    names += ["rating", "finding"]
    if sequences is None:
        return names
    if protocol.confirm_segments:
        names.append("confirm")
    for sequence in sequences:
        kinds: list[ClipKind] = ["rupture"] if sequence.repair is None else ["rupture", "repair"]
        for kind in kinds:
            names.append(f"clip-{sequence.number}-{kind}")
            if protocol.asked_after(kind):
                names.append(f"questions-{sequence.number}-{kind}")
    return [*names, "done"]


def following(protocol: Protocol, state: RaterState) -> str:
    """The step after the rater's current one."""
    names = steps(protocol, state.sequences)
    index = names.index(state.step) if state.step in names else len(names) - 1
    return names[min(index + 1, len(names) - 1)]


def clip_of(state: RaterState, step: str) -> tuple[int, ClipKind, Span] | None:
    """(sequence number, kind, span) of a clip or questions step."""
    parts = step.split("-")
    if len(parts) != 3 or parts[0] not in ("clip", "questions") or state.sequences is None:
        return None
    number, kind = int(parts[1]), KINDS.get(parts[2])
    for sequence in state.sequences:
        if sequence.number == number:
            if kind == "rupture":
                return number, kind, sequence.rupture
            if kind == "repair" and sequence.repair is not None:
                return number, kind, sequence.repair
    return None


def view(protocol: Protocol, state: RaterState, duration: float | None) -> dict[str, Any]:
    """Everything the rater's page needs to draw its current step (and only this rater's data)."""
    names = steps(protocol, state.sequences)
    view: dict[str, Any] = {
        "rater": state.rater,
        "step": state.step,
        "kind": state.step.split("-")[0],
        "index": names.index(state.step) if state.step in names else len(names) - 1,
        "count": len(names),
        "position": state.positions.get(state.step, 0.0),
        "duration": duration,
        "protocol": {
            "scale": protocol.scale.model_dump(),
            "instructions": protocol.instructions,
            "show_value": protocol.show_value,
            "practice_seconds": protocol.practice_seconds,
        },
    }
    clip = clip_of(state, state.step)
    if clip is not None:
        number, kind, span = clip
        view["clip"] = {"number": number, "kind": kind, "start": span.start, "end": span.end}
        view["questions"] = [
            {
                "id": question.id,
                "key": answer_key(number, kind, question.id),
                "text": question.text,
                "answer": _text(state, answer_key(number, kind, question.id)),
            }
            for question in protocol.asked_after(kind)
        ]
    return view


def _text(state: RaterState, key: str) -> str:
    answer = state.answers.get(key)
    return "" if answer is None else answer.text


def valid_answer_key(protocol: Protocol, state: RaterState, key: str) -> bool:
    parts = key.split(":")
    if len(parts) != 3 or state.sequences is None or not parts[0].isdigit():
        return False
    number, kind, question = int(parts[0]), KINDS.get(parts[1]), parts[2]
    if kind is None or clip_of(state, f"questions-{number}-{kind}") is None:
        return False
    return any(asked.id == question for asked in protocol.asked_after(kind))
