"""`python -m tests.ports.windows_like ARGS`: the microdial command line on the Windows-like loop (loops.py)."""

from __future__ import annotations

import asyncio
import sys

from microdial.cli import main
from tests.ports.loops import WindowsLikePolicy

if __name__ == "__main__":
    asyncio.set_event_loop_policy(WindowsLikePolicy())
    sys.exit(main())
