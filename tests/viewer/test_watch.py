"""`microdial watch` against the real broker: the table shows what the dials publish."""

from __future__ import annotations

import asyncio
import contextlib
import io

from microdial.apps.watch import WatchSettings, watch
from microdial.embedded_broker import MosquittoProcess
from microdial.model import Counters
from tests.recorder.conftest import make_samples, make_status, publisher, wait_for


async def test_watch_table(mosquitto: MosquittoProcess, session_code: str) -> None:
    out = io.StringIO()
    ready = asyncio.Event()
    settings = WatchSettings(broker=mosquitto.url, session=session_code, interval=0.05)
    task = asyncio.create_task(watch(settings, out, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with publisher(mosquitto) as pub:
            status = make_status(session_code, "dialC", "client").model_copy(
                update={"counters": Counters(lost_samples=3, queue_dropped=2)}
            )
            await pub.status(status)
            await pub.status(make_status(session_code, "dialT", "therapist", state="offline"))
            samples = make_samples(session_code, "dialC", "client", 0, 50)
            await pub.samples([*samples[:-1], samples[-1].model_copy(update={"value": 17})])
        await wait_for(
            lambda: "+17" in out.getvalue().split("\nrole")[-1], what="the table to show the value"
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    last = "role" + out.getvalue().split("\nrole")[-1]
    lines = last.strip().splitlines()
    assert lines[0].split() == ["role", "dial", "state", "rate", "value", "drops", "sync", "±"]
    client = next(line.split() for line in lines if "dialC" in line)
    # role, dial, state, "N/s of 100", value, drops (lost + queue-dropped), sync uncertainty.
    assert client[:3] == ["client", "dialC", "online"] and client[4:6] == ["of", "100"]
    assert client[-4:] == ["+17", "5", "0.5", "ms"]
    therapist = next(line.split() for line in lines if "dialT" in line)
    assert therapist[:3] == ["therapist", "dialT", "offline"]
