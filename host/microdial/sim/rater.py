"""Simulated raters: what value a person means to show over time, and a hand that turns the knob.

A rater only says where it wants the dial (target(t), which may lie past a stop when the person
pushes against it); the Hand turns the fake encoder towards it one detent at a time, at a
human speed, sometimes resting, and looking at the dial's own value as a person looks at the
screen.
"""

from __future__ import annotations

import csv
import math
import random
from bisect import bisect_right
from pathlib import Path
from typing import Protocol

from dialwire import VALUE_MAX, VALUE_MIN
from microdial.errors import ConfigError

# How far past a stop a pushing hand goes before it gives up turning.
PUSH = 4


class Rater(Protocol):
    #: True for a human-like rater whose hand rests and ignores small differences.
    rests: bool

    def target(self, elapsed_s: float) -> float:
        """The value the rater means to show elapsed_s seconds into the session."""
        ...


class SteadyRater:
    rests = False

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def target(self, elapsed_s: float) -> float:
        return self.value


class ScriptedRater:
    """Straight lines between (time_s, value) points; holds the first and last values outside them."""

    rests = False

    def __init__(self, points: list[tuple[float, float]]) -> None:
        if not points:
            raise ConfigError("a scripted rater needs at least one (time_s, value) point")
        ordered = sorted(points)
        self._times = [t for t, _ in ordered]
        self._values = [v for _, v in ordered]

    @classmethod
    def from_csv(cls, path: Path) -> ScriptedRater:
        """Rows of time_s,value; a header row is allowed."""
        points: list[tuple[float, float]] = []
        try:
            with path.open(newline="") as handle:
                for number, row in enumerate(csv.reader(handle), start=1):
                    if not row or row[0].strip().startswith("#"):
                        continue
                    try:
                        points.append((float(row[0]), float(row[1])))
                    except (ValueError, IndexError):
                        if number == 1:
                            continue  # a header
                        raise ConfigError(f"{path}:{number}: expected time_s,value, got {row!r}") from None
        except OSError as err:
            raise ConfigError(f"cannot read rater script {path}: {err.strerror}") from None
        return cls(points)

    def target(self, elapsed_s: float) -> float:
        index = bisect_right(self._times, elapsed_s)
        if index == 0:
            return self._values[0]
        if index == len(self._times):
            return self._values[-1]
        t0, t1 = self._times[index - 1], self._times[index]
        v0, v1 = self._values[index - 1], self._values[index]
        return v0 + (v1 - v0) * (elapsed_s - t0) / (t1 - t0)


ROLES = ("client", "therapist")


class RandomRater:
    """A plausible working-alliance rating over a session, seeded.

    The session's story (when ruptures happen, how deep, how long the repair takes) comes from
    the seed alone, so a client and a therapist built with the same seed rate the same session:
    correlated trajectories. How each role sees it differs: the therapist rates higher and
    smoother and feels ruptures later and less; the client's rating wanders more and a deep
    rupture can push it against the bottom stop.
    """

    rests = True

    def __init__(self, role: str = "client", seed: int = 0, duration_s: float = 3600.0) -> None:
        if role not in ROLES:
            raise ConfigError(f"unknown rater role {role!r}: use one of {', '.join(ROLES)}")
        self.role = role
        self.duration_s = duration_s
        story = random.Random(seed)
        own = random.Random(seed * 31 + 1 + ROLES.index(role))
        therapist = role == "therapist"
        self._times = [float(t) for t in range(int(duration_s) + 1)]
        # A slow build of the alliance over the session, the same for both roles.
        start, end = story.uniform(0, 15), story.uniform(20, 40)
        ruptures = []
        t = story.uniform(120, 400)
        while t < duration_s - 200:
            ruptures.append((t, story.uniform(25, 70), story.uniform(20, 120), story.uniform(40, 180)))
            t += story.uniform(400, 1100)
        lag, depth_scale = (story.uniform(5, 25), 0.6) if therapist else (0.0, 1.0)
        bias = own.uniform(4, 10) if therapist else own.uniform(-6, 2)
        sigma, pull = (1.2, 0.04) if therapist else (2.5, 0.02)
        noise = 0.0
        self._values = []
        for now in self._times:
            level = start + (end - start) * now / duration_s + bias
            for at, depth, hold, repair in ruptures:
                since = now - at - lag
                if since < 0:
                    continue
                drop_s = 8.0
                if since < drop_s:
                    level -= depth * depth_scale * since / drop_s
                elif since < drop_s + hold:
                    level -= depth * depth_scale
                elif since < drop_s + hold + repair:
                    # Repairs recover and often overshoot a little: the alliance is stronger after.
                    progress = (since - drop_s - hold) / repair
                    level -= depth * depth_scale * (1 - progress) - 4 * math.sin(math.pi * progress)
            # Mean-reverting wander (an Ornstein-Uhlenbeck process sampled once a second).
            noise += -pull * noise + own.gauss(0, sigma)
            self._values.append(max(VALUE_MIN - PUSH, min(VALUE_MAX + PUSH, level + noise)))

    def target(self, elapsed_s: float) -> float:
        t = elapsed_s % self.duration_s
        index = min(int(t), len(self._values) - 2)
        frac = t - index
        return self._values[index] + (self._values[index + 1] - self._values[index]) * frac


class Hand:
    """Turns a knob towards a rater's target in whole detents at a human speed.

    tick() is given the time and the dial's current value (what the person sees) and returns
    how many detents to turn now (usually 0 or ±1). A resting hand lets small differences be.
    """

    def __init__(self, rater: Rater, seed: int | str = 0) -> None:
        self.rater = rater
        self._rng = random.Random(seed)
        self._next_move = 0.0
        self._rest_until = 0.0
        self._pushed = 0

    def tick(self, elapsed_s: float, shown: int) -> int:
        if elapsed_s < self._next_move:
            return 0
        target = round(self.rater.target(elapsed_s))
        error = target - shown
        resting = self.rater.rests and elapsed_s < self._rest_until
        if error == 0 or (resting and abs(error) < 8):
            self._pushed = 0
            if self.rater.rests and not resting and self._rng.random() < 0.002:
                self._rest_until = elapsed_s + self._rng.uniform(2, 20)
            return 0
        direction = 1 if error > 0 else -1
        at_stop = (shown >= VALUE_MAX and direction > 0) or (shown <= VALUE_MIN and direction < 0)
        if at_stop:
            # Pushing against the stop: a few more clicks, then the person notices.
            if self._pushed >= PUSH:
                return 0
            self._pushed += 1
        else:
            self._pushed = 0
        if not self.rater.rests:
            return error if not at_stop else direction
        speed = min(25.0, 2.0 + 1.5 * abs(error))  # detents per second: faster when far off
        self._next_move = elapsed_s + self._rng.uniform(0.7, 1.3) / speed
        return direction
