"""An event loop that behaves like the Selector loop microdial runs on Windows, and the modes the
host tests run in.

Windows' loops have no add_signal_handler, and the Selector loop can watch sockets but not serial
handles (the Proactor has no add_reader at all). This loop raises NotImplementedError for both, so
the portable paths (signal.signal, the serial reader thread) run for real on Linux; sockets keep
add_reader, which paho's socket needs on every OS.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from typing import Any

#: selector: Linux's own path; thread: `--io thread` forced; windows-loop: the loop below, `--io auto`.
IO_MODES = ("selector", "thread", "windows-loop")


def _is_socket(fd: Any) -> bool:
    number = fd if isinstance(fd, int) else fd.fileno()
    return stat.S_ISSOCK(os.fstat(number).st_mode)


class WindowsLikeLoop(asyncio.SelectorEventLoop):
    def add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> None:
        if not _is_socket(fd):
            raise NotImplementedError("this loop watches sockets only")
        super().add_reader(fd, callback, *args)

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        raise NotImplementedError("no add_signal_handler here, as on Windows")

    def remove_signal_handler(self, sig: int) -> bool:
        raise NotImplementedError("no remove_signal_handler here, as on Windows")


class WindowsLikePolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return WindowsLikeLoop()
