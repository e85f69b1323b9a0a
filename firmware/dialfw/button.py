"""The encoder's push button through keypad.Keys: debounced in the background, timestamped.

down and up are reported as they happen; on release the press is a mark (short) or a long
press (at least long_press_ms), which also recentres the dial. Times are the key events' own
timestamps (supervisor.ticks_ms units), not the time the loop got round to them.
"""

import keypad

TICKS_MASK = (1 << 29) - 1


class Button:
    def __init__(self, pin, long_press_ms=800):
        # The switch pulls the pin to ground: pressed reads False.
        self.keys = keypad.Keys((pin,), value_when_pressed=False, pull=True)
        self.long_press_ms = long_press_ms
        self._event = keypad.Event()
        self._down_at = None
        self.overflowed = 0

    def poll(self, out):
        """Append (kind, ticks_ms timestamp) for each new event to out; returns out."""
        events = self.keys.events
        if events.overflowed:
            # The queue dropped its oldest events, so what is left cannot be paired into presses:
            # start afresh (clear() also resets the flag) and let the dial report it.
            self.overflowed += 1
            events.clear()
            self._down_at = None
            return out
        event = self._event
        while events.get_into(event):
            stamp = event.timestamp
            if event.pressed:
                self._down_at = stamp
                out.append(("down", stamp))
            else:
                out.append(("up", stamp))
                if self._down_at is not None:
                    held = (stamp - self._down_at) & TICKS_MASK
                    out.append(("long" if held >= self.long_press_ms else "mark", stamp))
                    self._down_at = None
        return out
