"""The one error the installer raises; its message says what to do."""

from __future__ import annotations

from microdial.errors import MicrodialError


class FlashError(MicrodialError):
    """Installing the firmware failed; the message says what to do."""
