"""The commands, one module each: configure(parser) and run(args) (see microdial.cli)."""

from __future__ import annotations

from microdial.shutdown import run_until_signalled

__all__ = ["run_until_signalled"]
