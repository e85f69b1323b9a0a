"""One waiter for the dial's replies: PONG to a PING (by token), ACK to a command (by command name).

The shape zigpy-znp uses for its device conversation: a request registers a future under the key its
reply will carry *before* it is sent, so a reply cannot outrun its waiter; the record handler resolves the
oldest waiter of that key; the request removes its waiter however it ends (reply, timeout, cancel),
so nothing is left behind to leak or to catch a later reply.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class Requests(Generic[K, R]):
    """Requests in flight, by the key of the reply each waits for (first asked, first answered)."""

    def __init__(self) -> None:
        self._waiting: dict[K, deque[asyncio.Future[R]]] = {}

    async def request(self, key: K, send: Awaitable[None], timeout: float) -> R:
        """Await send, then the reply keyed so; TimeoutError when none came within timeout seconds."""
        waiter: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        waiters = self._waiting.setdefault(key, deque())
        waiters.append(waiter)
        try:
            await send
            # Not asyncio.wait_for: on Python 3.11 it returns the reply, swallowing a cancel that came
            # in the step the reply did, and the cancelled task (a sync loop) would run on forever.
            async with asyncio.timeout(timeout):
                return await waiter
        finally:
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters and self._waiting.get(key) is waiters:
                del self._waiting[key]

    def resolve(self, key: K, reply: R) -> bool:
        """Hand reply to the oldest request waiting for key; False when none was (a late or unasked reply)."""
        waiters = self._waiting.get(key)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(reply)
                return True
        return False

    def __len__(self) -> int:
        return sum(len(waiters) for waiters in self._waiting.values())
