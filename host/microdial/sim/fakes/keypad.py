"""Fake of CircuitPython's `keypad` (no microcontroller, and no key, exists here): the background
scanner's output is its event queue, so a test or the simulated hand puts events into it."""

from __future__ import annotations

from collections.abc import Sequence

from microdial.sim.fakes.board import Pin
from microdial.sim.fakes.deinit import Deinitable
from microdial.sim.fakes.supervisor import SUPERVISOR


class Event:
    def __init__(self, key_number: int = 0, pressed: bool = True, timestamp: int | None = None) -> None:
        self.key_number = key_number
        self.pressed = pressed
        self.released = not pressed
        self.timestamp = SUPERVISOR.ticks_ms() if timestamp is None else timestamp


class EventQueue:
    def __init__(self, max_events: int = 64) -> None:
        self._events: list[Event] = []
        self._max = max_events
        self.overflowed = False

    def put(self, event: Event) -> None:
        """What the key scanner does: when full the oldest event is dropped and overflowed set."""
        if len(self._events) >= self._max:
            self._events.pop(0)
            self.overflowed = True
        self._events.append(event)

    def get(self) -> Event | None:
        return self._events.pop(0) if self._events else None

    def get_into(self, event: Event) -> bool:
        if not self._events:
            return False
        got = self._events.pop(0)
        event.key_number = got.key_number
        event.pressed = got.pressed
        event.released = got.released
        event.timestamp = got.timestamp
        return True

    def clear(self) -> None:
        self._events.clear()
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._events)

    def __bool__(self) -> bool:
        return bool(self._events)


class Keys(Deinitable):
    """keypad.Keys: the debounced scanner; press() and release() are the hand on the key."""

    def __init__(
        self,
        pins: Sequence[Pin],
        *,
        value_when_pressed: bool,
        pull: bool = True,
        interval: float = 0.02,
        max_events: int = 64,
        debounce_threshold: int = 1,
    ) -> None:
        if not 1 <= max_events <= 64:
            raise ValueError("max_events must be 1-64")
        self.pins = tuple(pins)
        self.value_when_pressed = value_when_pressed
        self.pull = pull
        self.interval = interval
        self.key_count = len(self.pins)
        self._events = EventQueue(max_events)

    @property
    def events(self) -> EventQueue:
        self._check()
        return self._events

    def press(self, key_number: int = 0, timestamp: int | None = None) -> None:
        self._events.put(Event(key_number, True, timestamp))

    def release(self, key_number: int = 0, timestamp: int | None = None) -> None:
        self._events.put(Event(key_number, False, timestamp))
