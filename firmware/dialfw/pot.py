"""A potentiometer as the dial's value: absolute, full travel mapped to -50..+50.

analogio gives 16-bit readings whatever the ADC resolution, and they jitter by a few tens of
counts. A short exponential filter smooths that, and hysteresis keeps a resting hand from
flickering between two neighbouring values: the value moves only when the filtered position
is a quarter step past the midpoint to the next value.
"""

import analogio

FULL = 65535
# Ends of travel the wiper may never quite reach: map the usable span, not the ideal one.
MARGIN = 600
# Filter state is 16x the reading (fixed point); each poll moves it 1/8 of the way.
SHIFT = 4
SMOOTH = 3
# In hundredths of a value step, beyond the half-step midpoint.
HYSTERESIS = 25


class PotInput:
    kind = "pot"
    steps_per_detent = 0

    def __init__(self, pin, direction=1):
        self.adc = analogio.AnalogIn(pin)
        self.direction = direction
        self._filtered = self.adc.value << SHIFT
        position = self._position()
        self.value = (position + 5050) // 100 - 50

    def _position(self):
        """Filtered position in hundredths of a step, -5000..5000."""
        raw = self._filtered >> SHIFT
        if raw < MARGIN:
            raw = MARGIN
        elif raw > FULL - MARGIN:
            raw = FULL - MARGIN
        position = (raw - MARGIN) * 10000 // (FULL - 2 * MARGIN) - 5000
        return position * self.direction

    def poll(self):
        """True when the value changed since the last poll."""
        self._filtered += ((self.adc.value << SHIFT) - self._filtered) >> SMOOTH
        position = self._position()
        away = position - self.value * 100
        if -50 - HYSTERESIS < away < 50 + HYSTERESIS:
            return False
        self.value = (position + 5050) // 100 - 50
        return True

    def zero(self):
        """An absolute input cannot be recentred: the knob's position is the value."""
        return False
