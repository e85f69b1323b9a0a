"""One counting rule for a dial's sequence numbers, used by the daemon and the recorder alike.

A dial numbers its samples modulo dialwire.SEQ_MODULO. Relative to the last number seen, a step of
one is the next sample; a step of up to half the modulus is a gap of step - 1 lost samples; a step
of zero is the same sample again; a larger step is a number from before the last one, which is a
restart of the dial's count (or an old duplicate: who asks decides with the dial's clock).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from dialwire import SEQ_MODULO

HALF = SEQ_MODULO // 2

StepKind = Literal["first", "next", "gap", "repeat", "back"]


class Step(NamedTuple):
    kind: StepKind
    # The number seen before: for a gap, a repeat or a step back. None for a first, and for a next,
    # where it says nothing new: so the common step is one shared value, not an object per sample.
    previous: int | None
    lost: int = 0


FIRST = Step("first", None)
NEXT = Step("next", None)


class SequenceCounter:
    """Counts samples, gaps and lost samples of one dial's sequence numbers."""

    __slots__ = ("gaps", "last", "lost", "samples")

    def __init__(self) -> None:
        self.last: int | None = None
        self.samples = 0
        self.gaps = 0
        self.lost = 0

    def observe(self, seq: int) -> Step:
        self.samples += 1
        previous, self.last = self.last, seq
        if previous is None:
            return FIRST
        step = (seq - previous) % SEQ_MODULO  # dialwire.seq_delta, without a call: this runs per sample
        if step == 1:
            return NEXT
        if step == 0:
            return Step("repeat", previous)
        if step >= HALF:
            return Step("back", previous)
        self.gaps += 1
        self.lost += step - 1
        return Step("gap", previous, step - 1)

    def restart(self) -> None:
        """The dial counts from anew (it restarted): the next number is a first, not a gap."""
        self.last = None
