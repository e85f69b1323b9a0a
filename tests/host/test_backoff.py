import pytest

from microdial.backoff import Backoff


def test_doubles_to_the_ceiling_and_resets() -> None:
    backoff = Backoff(0.2, 1.0)
    assert [backoff.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next() == 0.2


def test_refuses_a_ceiling_below_the_first_delay() -> None:
    with pytest.raises(ValueError, match="first <= ceiling"):
        Backoff(2.0, 1.0)
