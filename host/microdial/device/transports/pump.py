"""Blocking reads in a thread, their bytes pushed to the receiver on the event loop.

Where the loop cannot watch a port (Windows' Proactor loop has no add_reader; macOS's kqueue does
not work with ttys) and for hidapi, whose calls block, one thread per dial waits in the port's
own blocking read. call_soon_threadsafe wakes the loop at once, so a sample reaches
Receiver.data_received one loop wake-up after the read returns, as with add_reader.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from microdial.device.transports.base import Receiver
from microdial.errors import TransportError

#: One blocking read: the bytes that came (b"" when its timeout passed with nothing).
Read = Callable[[], bytes]


class ReaderThread:
    def __init__(self, name: str, read: Read, went_away: Callable[[Exception], TransportError]) -> None:
        self.name = name
        self._read = read
        self._went_away = went_away
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._receiver: Receiver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def stop(self, interrupt: Callable[[], None] | None = None) -> None:
        """No more deliveries; returns once the thread has left its read (interrupt cuts it short)."""
        self._stop.set()
        self._receiver = None
        if interrupt is not None:
            interrupt()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def _deliver(self, item: bytes | TransportError) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._hand_over, item)
        except RuntimeError:
            self._stop.set()  # the loop is closed: nobody is left to hand anything to

    def _hand_over(self, item: bytes | TransportError) -> None:
        receiver = self._receiver
        if receiver is None:
            return  # closed meanwhile: the caller asked for nothing more
        if isinstance(item, TransportError):
            self._receiver = None
            receiver.connection_lost(item)
        else:
            receiver.data_received(item)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._read()
            except (OSError, ValueError) as err:
                if not self._stop.is_set():
                    self._deliver(self._went_away(err))
                return
            if data and not self._stop.is_set():
                self._deliver(data)
