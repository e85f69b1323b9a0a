"""The dial's settings: settings.toml entries read with os.getenv, checked against DEFAULTS.

A bad entry must not brick a dial that has no screen: it falls back to its default and the
problem is reported on the wire as ERR,settings (naming the key) once the link is up.

os.getenv itself differs between CircuitPython versions for a line it cannot parse as TOML:
9.x raises ValueError for an unquoted string (`MICRODIAL_INPUT = pot`) or an unterminated
quote, and returns an int for an unquoted number; 10.x (adafruit/circuitpython#10819) returns
every value as text, an unquoted one as written, and None for an unterminated quote. So every
read is guarded and every value is checked whatever type it comes as.
"""

import os

from dialwire import clean_text, parse_int

DEFAULTS = {
    "MICRODIAL_INPUT": "encoder",
    "MICRODIAL_PIN_A": "GP2",
    "MICRODIAL_PIN_B": "GP3",
    "MICRODIAL_PIN_BUTTON": "GP4",
    "MICRODIAL_PIN_POT": "GP26",
    "MICRODIAL_PIN_LIGHT": "LED",
    "MICRODIAL_STEPS_PER_DETENT": 4,
    "MICRODIAL_DIRECTION": 1,
    "MICRODIAL_RATE_HZ": 50,
    "MICRODIAL_LONG_PRESS_MS": 800,
    "MICRODIAL_LABEL": "dial",
    "MICRODIAL_USB_MODE": "serial",
}

CHOICES = {
    "MICRODIAL_INPUT": ("encoder", "pot"),
    "MICRODIAL_DIRECTION": (1, -1),
    "MICRODIAL_USB_MODE": ("serial", "hid"),
}

RANGES = {
    "MICRODIAL_STEPS_PER_DETENT": (1, 64),
    "MICRODIAL_RATE_HZ": (1, 1000),
    "MICRODIAL_LONG_PRESS_MS": (100, 10000),
}

# In bytes, which for an ASCII-only label are also characters: the USB product name is
# "microdial " + label, and a rejected label is echoed in an ERR record of at most 160 bytes.
MAX_LABEL = 32
MAX_PIN_NAME = 32
# How much of a rejected value a problem line shows.
SHOWN = 24


def _integer(raw):
    if isinstance(raw, int):
        return raw
    try:
        return parse_int(str(raw).strip())
    except ValueError:
        raise ValueError("is not a whole number")


def _shown(raw):
    """A rejected value as printable ASCII, cut short: it goes into an ERR record."""
    text = clean_text(raw, SHOWN + 1)
    if len(text) > SHOWN:
        text = text[:SHOWN] + "..."
    return text


def _check(key, raw):
    """The value for key from raw (str or int, as os.getenv gives them), or raise ValueError."""
    if isinstance(DEFAULTS[key], int):
        value = _integer(raw)
        limits = RANGES.get(key)
        if limits is not None and not limits[0] <= value <= limits[1]:
            raise ValueError("must be %d..%d" % limits)
    else:
        value = _check_text(key, str(raw).strip())
    choices = CHOICES.get(key)
    if choices is not None and value not in choices:
        raise ValueError("must be one of " + "|".join(str(c) for c in choices))
    return value


def _check_text(key, text):
    if not text:
        raise ValueError("is empty")
    if key.startswith("MICRODIAL_PIN_"):
        # As the board module spells pin names (GP26, NEOPIXEL, D13): anything else cannot be one,
        # and would be echoed in the setup error the dial repeats forever.
        if len(text) > MAX_PIN_NAME or not "A" <= text[0] <= "Z":
            raise ValueError("is not a pin name")
        for ch in text:
            if not ("A" <= ch <= "Z" or "0" <= ch <= "9" or ch == "_"):
                raise ValueError("is not a pin name")
    if key == "MICRODIAL_LABEL":
        for ch in text:
            # USB descriptor strings are ASCII; the wire's framing characters are out too.
            if ch in ",*$" or not " " <= ch <= "~":
                raise ValueError("must be printable ASCII without , * $")
        if len(text) > MAX_LABEL:
            raise ValueError("is longer than %d bytes" % MAX_LABEL)
    return text


def load(getenv=None):
    """(settings, problems): every DEFAULTS key with its checked value, and one line per bad entry."""
    if getenv is None:
        getenv = os.getenv
    settings = {}
    problems = []
    for key in DEFAULTS:
        default = DEFAULTS[key]
        settings[key] = default
        try:
            raw = getenv(key)
        except (ValueError, RuntimeError) as err:
            # CircuitPython 9 cannot parse the line (its message says why, e.g. "Invalid byte").
            problems.append(key + ": line unreadable (" + clean_text(err, 36) + "); using " + str(default))
            continue
        if raw is None:
            continue
        try:
            settings[key] = _check(key, raw)
        except ValueError as err:
            problems.append(key + "=" + _shown(raw) + " " + str(err) + "; using " + str(default))
    return settings, problems
