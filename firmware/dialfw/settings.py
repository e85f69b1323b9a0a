"""The dial's settings: settings.toml entries read with os.getenv, checked against DEFAULTS.

A bad entry must not brick a dial that has no screen: it falls back to its default and the
problem is reported on the wire as ERR,settings once the link is up.
"""

import os

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

MAX_LABEL = 32


def _check(key, raw):
    """The value for key from raw (str or int, as os.getenv gives them), or raise ValueError."""
    if isinstance(DEFAULTS[key], int):
        value = int(raw)
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
    if key == "MICRODIAL_LABEL":
        if len(text) > MAX_LABEL:
            raise ValueError("is longer than %d characters" % MAX_LABEL)
        for ch in text:
            # USB descriptor strings are ASCII; the wire's framing characters are out too.
            if ch in ",*$" or not " " <= ch <= "~":
                raise ValueError("contains " + repr(ch))
    return text


def load(getenv=None):
    """(settings, problems): every DEFAULTS key with its checked value, and one line per bad entry."""
    if getenv is None:
        getenv = os.getenv
    settings = {}
    problems = []
    for key in DEFAULTS:
        raw = getenv(key)
        if raw is None:
            settings[key] = DEFAULTS[key]
            continue
        try:
            settings[key] = _check(key, raw)
        except ValueError as err:
            settings[key] = DEFAULTS[key]
            problems.append(key + "=" + str(raw) + " " + str(err) + "; using " + str(DEFAULTS[key]))
    return settings, problems
