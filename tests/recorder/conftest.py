"""Helpers for the recorder tests: real payloads published with aiomqtt to the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt

from microdial.embedded_broker import MosquittoProcess
from microdial.model import DialEvent, DialStatus, Sample, SampleBatch
from microdial.mqtt.topics import dial_topic
from microdial.recorder import RecorderSettings, record

T0 = 1_763_700_000.0


def make_samples(session: str, dial: str, role: str, start: int, count: int, **extra: object) -> list[Sample]:
    return [
        Sample.model_validate(
            {
                "dial": dial,
                "role": role,
                "session": session,
                "value": seq % 101 - 50,
                "seq": seq,
                "device_time": seq / 100,
                "host_time": T0 + seq / 100,
                "host_monotonic": 1000.0 + seq / 100,
                "media_time": seq / 100 + 0.125,
                "sync_uncertainty": 0.0005 + (seq % 7) * 0.0001,
                "playback": "playing",
                "player": "mpv",
                "media": "session, take 1.mp4",
                "media_duration": 3000.0,
            }
            | extra
        )
        for seq in range(start, start + count)
    ]


def make_status(session: str, dial: str, role: str, state: str = "online") -> DialStatus:
    return DialStatus.model_validate(
        {
            "dial": dial,
            "role": role,
            "session": session,
            "state": state,
            "host_time": time.time(),
            "firmware": "microdial-fw 0.1.0",
            "protocol": 1,
            "input": "encoder",
            "rate_hz": 100,
            "sync": {"offset": 12.5, "drift_ppm": 20.0, "uncertainty": 0.0004},
        }
    )


def make_event(session: str, dial: str, role: str, kind: str = "button", detail: str = "mark") -> DialEvent:
    return DialEvent.model_validate(
        {
            "dial": dial,
            "role": role,
            "session": session,
            "kind": kind,
            "detail": detail,
            "host_time": time.time(),
            "host_monotonic": time.monotonic(),
            "device_time": 3.25,
            "media_time": 3.5,
        }
    )


class Publisher:
    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client

    async def samples(self, samples: list[Sample], batch: int = 25) -> None:
        for i in range(0, len(samples), batch):
            chunk = samples[i : i + batch]
            topic = dial_topic(chunk[0].session, chunk[0].dial, "samples")
            await self.client.publish(topic, SampleBatch(samples=chunk).model_dump_json(), qos=1)

    async def status(self, status: DialStatus) -> None:
        topic = dial_topic(status.session, status.dial, "status")
        await self.client.publish(topic, status.model_dump_json(), qos=1, retain=True)

    async def event(self, event: DialEvent) -> None:
        await self.client.publish(
            dial_topic(event.session, event.dial, "events"), event.model_dump_json(), qos=1
        )

    async def raw(self, topic: str, payload: bytes) -> None:
        await self.client.publish(topic, payload, qos=1)


@contextlib.asynccontextmanager
async def publisher(broker: MosquittoProcess) -> AsyncIterator[Publisher]:
    async with aiomqtt.Client(broker.address.host, broker.port) as client:
        yield Publisher(client)


@contextlib.asynccontextmanager
async def running_recorder(settings: RecorderSettings) -> AsyncIterator[asyncio.Task[None]]:
    ready = asyncio.Event()
    task = asyncio.create_task(record(settings, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        task.cancel()
        if task in done:
            task.result()
        raise AssertionError("the recorder did not subscribe within 10 s")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def rows_in(path: Path) -> int:
    """Data rows in a CSV file (no quoted newlines in test data)."""
    if not path.exists():
        return 0
    return max(0, path.read_bytes().count(b"\n") - 1)


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
