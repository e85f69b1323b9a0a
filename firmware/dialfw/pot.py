"""A potentiometer as the dial's value: absolute, full travel mapped to dialwire's scale.

analogio gives 16-bit readings whatever the ADC resolution, and they jitter by a few tens of
counts. A short exponential filter smooths that, and hysteresis keeps a resting hand from
flickering between two neighbouring values: the value moves only when the filtered position
is a quarter step past the midpoint to the next value.
"""

import analogio

from dialwire import VALUE_MAX, VALUE_MIN

FULL = 65535
# Ends of travel the wiper may never quite reach: map the usable span, not the ideal one.
MARGIN = 600
# Filter state is 16x the reading (fixed point); each poll moves it 1/8 of the way.
SHIFT = 4
SMOOTH = 3
# Positions are in hundredths of a value step, so the arithmetic stays in small ints.
STEP = 100
HALF_STEP = STEP // 2
# Beyond the half-step midpoint, in hundredths of a step.
HYSTERESIS = 25
SPAN = (VALUE_MAX - VALUE_MIN) * STEP


def nearest(position):
    """The value whose step position is nearest (halves round up)."""
    return (position + HALF_STEP) // STEP


class PotInput:
    kind = "pot"
    steps_per_detent = 0

    def __init__(self, pin, direction=1):
        self.adc = analogio.AnalogIn(pin)
        self.direction = direction
        self._filtered = self.adc.value << SHIFT
        self.value = nearest(self._position())

    def _position(self):
        """Filtered position in hundredths of a step, VALUE_MIN * STEP .. VALUE_MAX * STEP."""
        raw = self._filtered >> SHIFT
        if raw < MARGIN:
            raw = MARGIN
        elif raw > FULL - MARGIN:
            raw = FULL - MARGIN
        along = (raw - MARGIN) * SPAN // (FULL - 2 * MARGIN)
        if self.direction < 0:
            along = SPAN - along
        return VALUE_MIN * STEP + along

    def poll(self):
        """True when the value changed since the last poll."""
        self._filtered += ((self.adc.value << SHIFT) - self._filtered) >> SMOOTH
        position = self._position()
        away = position - self.value * STEP
        if -HALF_STEP - HYSTERESIS < away < HALF_STEP + HYSTERESIS:
            return False
        self.value = nearest(position)
        return True

    def zero(self):
        """An absolute input cannot be recentred: the knob's position is the value."""
        return False
