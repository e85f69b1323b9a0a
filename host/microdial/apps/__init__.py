"""The commands, one module each: configure(parser) and run(args) (see microdial.cli)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any


def run_until_signalled(main: Coroutine[Any, Any, object]) -> None:
    """Run main until it ends; SIGINT and SIGTERM (systemd, kill) cancel it, so it closes its files either way."""

    async def supervised() -> None:
        task = asyncio.ensure_future(main)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(supervised())
