"""The status light: one LED (blink patterns) or a NeoPixel (patterns and colours).

Patterns run over a 2 s cycle of 100 ms slots so every state is told apart without colour:
  not connected  one short flash every 2 s        (blue)
  streaming      steady on                        (green)
  host not reading  fast blink, 5 per second       (yellow)
  error          double flash every second, for 3 s after an error (red)
"""

SLOT_US = 100000

NOT_CONNECTED = 0
STREAMING = 1
STALLED = 2
ERROR = 3

PATTERNS = (
    "10000000000000000000",
    "11111111111111111111",
    "10101010101010101010",
    "10100000001010000000",
)
COLOURS = ((0, 0, 255), (0, 255, 0), (255, 160, 0), (255, 0, 0))


class LedDriver:
    def __init__(self, pin):
        import digitalio

        self.io = digitalio.DigitalInOut(pin)
        self.io.switch_to_output(value=False)

    def show(self, on, colour):
        self.io.value = on


class PixelDriver:
    def __init__(self, pin):
        import neopixel  # type: ignore[import-not-found]  # Adafruit library from the bundle, not a core module

        self.pixel = neopixel.NeoPixel(pin, 1, brightness=0.1, auto_write=True)

    def show(self, on, colour):
        self.pixel[0] = colour if on else (0, 0, 0)


class Light:
    def __init__(self, driver):
        self.driver = driver
        self.state = None
        self._on = None

    def update(self, now_us, state):
        on = PATTERNS[state][(now_us // SLOT_US) % 20] == "1"
        # Drive the hardware only on a change: a NeoPixel write takes tens of microseconds.
        if on != self._on or state != self.state:
            self.driver.show(on, COLOURS[state])
            self._on = on
            self.state = state
