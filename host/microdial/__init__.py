"""microdial: open hardware dials for moment-to-moment ratings of recorded video."""

__version__ = "0.1.0"
