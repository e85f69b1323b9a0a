"""A rotary encoder as the dial's value: dialwire's scale (VALUE_MIN..VALUE_MAX), clamped by deltas.

The raw count is never clamped: after turning past a stop, the first step back changes the
value (no dead zone the rater would have to unwind).
"""

import rotaryio

from dialwire import VALUE_MAX, VALUE_MIN


def clamp(value):
    if value < VALUE_MIN:
        return VALUE_MIN
    if value > VALUE_MAX:
        return VALUE_MAX
    return value


class EncoderInput:
    kind = "encoder"

    def __init__(self, pin_a, pin_b, steps_per_detent=4, direction=1):
        self.encoder = rotaryio.IncrementalEncoder(pin_a, pin_b, divisor=steps_per_detent)
        self.steps_per_detent = steps_per_detent
        self.direction = direction
        self.position = self.encoder.position
        self.value = 0

    def poll(self):
        """True when the value changed since the last poll."""
        position = self.encoder.position
        delta = position - self.position
        if not delta:
            return False
        self.position = position
        value = clamp(self.value + delta * self.direction)
        if value == self.value:
            return False
        self.value = value
        return True

    def zero(self):
        """Recentre to 0; True because a relative input can always be recentred."""
        self.value = 0
        return True
