from hypothesis import given
from hypothesis import strategies as st

from dialwire import SEQ_MODULO
from microdial.device.sequence import HALF, SequenceCounter


def test_steps_by_kind() -> None:
    counter = SequenceCounter()
    kinds = [counter.observe(seq).kind for seq in (5, 6, 6, 9, 2)]
    assert kinds == ["first", "next", "repeat", "gap", "back"]
    assert (counter.samples, counter.gaps, counter.lost) == (5, 1, 2)


def test_gap_across_the_wrap() -> None:
    counter = SequenceCounter()
    counter.observe(SEQ_MODULO - 2)
    step = counter.observe(3)
    assert (step.kind, step.lost, step.previous) == ("gap", 4, SEQ_MODULO - 2)


def test_restart_makes_the_next_number_a_first() -> None:
    counter = SequenceCounter()
    counter.observe(100)
    counter.restart()
    assert counter.observe(0).kind == "first"
    assert counter.lost == 0


@given(st.integers(0, SEQ_MODULO - 1), st.integers(2, HALF - 1))
def test_any_forward_jump_below_half_is_counted_lost(start: int, jump: int) -> None:
    counter = SequenceCounter()
    counter.observe(start)
    step = counter.observe((start + jump) % SEQ_MODULO)
    assert step.kind == "gap"
    assert counter.lost == jump - 1
