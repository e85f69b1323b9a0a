"""The one reply waiter: PONG by token, ACK by command; nothing left behind however a request ends."""

from __future__ import annotations

import asyncio

import pytest

from microdial.device.requests import Requests


async def test_reply_reaches_the_request_with_its_key() -> None:
    requests: Requests[int, str] = Requests()
    sent: list[int] = []

    async def send(token: int) -> None:
        sent.append(token)

    first = asyncio.create_task(requests.request(1, send(1), timeout=1.0))
    second = asyncio.create_task(requests.request(2, send(2), timeout=1.0))
    await asyncio.sleep(0)
    assert sent == [1, 2] and len(requests) == 2
    assert requests.resolve(2, "two") and requests.resolve(1, "one")
    assert (await first, await second) == ("one", "two")
    assert len(requests) == 0


async def test_same_key_is_answered_in_order_asked() -> None:
    requests: Requests[str, int] = Requests()

    async def send() -> None:
        pass

    waiting = [asyncio.create_task(requests.request("ZERO", send(), timeout=1.0)) for _ in range(3)]
    await asyncio.sleep(0)
    for reply in (10, 20, 30):
        assert requests.resolve("ZERO", reply)
    assert [await task for task in waiting] == [10, 20, 30]


async def test_timeout_leaves_no_waiter_to_catch_a_late_reply() -> None:
    requests: Requests[int, str] = Requests()

    async def send() -> None:
        pass

    with pytest.raises(TimeoutError):
        await requests.request(7, send(), timeout=0.01)
    assert len(requests) == 0
    assert not requests.resolve(7, "late")  # the caller decides what an unasked reply means


async def test_cancelled_request_and_failed_send_leave_nothing_behind() -> None:
    requests: Requests[int, str] = Requests()

    async def send() -> None:
        pass

    task = asyncio.create_task(requests.request(1, send(), timeout=10.0))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def broken() -> None:
        raise OSError("port gone")

    with pytest.raises(OSError, match="port gone"):
        await requests.request(2, broken(), timeout=1.0)
    assert len(requests) == 0
    assert not requests.resolve(1, "x") and not requests.resolve(2, "x")


async def test_a_cancel_in_the_step_the_reply_comes_is_not_swallowed() -> None:
    # asyncio.wait_for on Python 3.11 would return the reply here, and a cancelled sync loop ran on.
    requests: Requests[int, str] = Requests()

    async def send() -> None:
        pass

    task = asyncio.create_task(requests.request(1, send(), timeout=10.0))
    await asyncio.sleep(0)
    assert requests.resolve(1, "reply")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(requests) == 0
