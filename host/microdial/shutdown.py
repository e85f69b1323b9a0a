"""Stopping on the operating system's request, on every OS: Ctrl-C, SIGTERM, and Windows' Ctrl-Break and console close.

loop.add_signal_handler exists only on Unix loops; Windows' loops raise NotImplementedError, so
there the handler is installed with signal.signal and hands the request to the loop with
call_soon_threadsafe (the handler runs between bytecodes of the main thread, where the loop may
be in the middle of a step). The MS C runtime reports Ctrl-Break and the console window's close
button as SIGBREAK; after a close Windows gives the process about five seconds before it ends it,
which bounds what the shutdown can still deliver.

Windows' default (Proactor) loop has no add_reader, which the MQTT client's socket needs, so
commands run on the Selector loop there (new_loop); it cannot watch serial handles, so serial
ports are read in a thread (device/transports/serial.py, --io).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def stop_signals() -> list[signal.Signals]:
    """The signals that mean "stop, cleanly" here."""
    wanted = [signal.SIGINT, signal.SIGTERM]
    brk = getattr(signal, "SIGBREAK", None)  # Windows only
    if brk is not None:
        wanted.append(brk)
    return wanted


def catch_stop_signals(callback: Callable[[], object]) -> Callable[[], None]:
    """From now on each stop signal calls callback on the running loop; returns what undoes that.

    Undone or not, nothing outlives the loop: its close removes add_signal_handler's handlers, and
    a fallback handler that finds its loop closed puts the earlier handler back and hands it the signal.
    """
    loop = asyncio.get_running_loop()
    undo: list[Callable[[], object]] = []
    for signum in stop_signals():
        try:
            loop.add_signal_handler(signum, callback)
            undo.append(functools.partial(_remove, loop, signum))
        except NotImplementedError:
            previous = signal.getsignal(signum)
            signal.signal(signum, functools.partial(_fallback, loop, callback, previous))
            undo.append(functools.partial(signal.signal, signum, previous))

    def restore() -> None:
        for step in reversed(undo):
            step()
        undo.clear()

    return restore


def _remove(loop: asyncio.AbstractEventLoop, signum: int) -> None:
    if not loop.is_closed():
        loop.remove_signal_handler(signum)


def _fallback(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], object], previous: Any, signum: int, frame: Any
) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(callback)
        return
    signal.signal(signum, previous)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL and signum == signal.SIGINT:
        raise KeyboardInterrupt


@contextlib.contextmanager
def on_stop_signal(callback: Callable[[], object]) -> Iterator[None]:
    """Within: each stop signal calls callback on the running loop; after: the earlier handlers are back."""
    restore = catch_stop_signals(callback)
    try:
        yield
    finally:
        restore()


def new_loop() -> asyncio.AbstractEventLoop:
    """The event loop commands run on: the Selector loop everywhere (see the module's note on Windows)."""
    if sys.platform == "win32":
        return asyncio.SelectorEventLoop()
    return asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on new_loop()."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(main)


def run_until_signalled(main: Coroutine[Any, Any, object]) -> None:
    """Run main until it ends; a stop signal cancels it, so it closes its files either way."""

    async def supervised() -> None:
        task = asyncio.ensure_future(main)
        with on_stop_signal(task.cancel), contextlib.suppress(asyncio.CancelledError):
            await task

    run(supervised())
