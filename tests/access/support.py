"""Running a part of microdial against the lab broker for a while, and what it logged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest

from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.client import MqttClient, mqtt_client
from tests.access.conftest import PASSWORD, USER, Lab


@asynccontextmanager
async def running(work: Coroutine[Any, Any, object]) -> AsyncIterator[asyncio.Task[object]]:
    task = asyncio.create_task(work)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def lab_client(lab: Lab) -> MqttClient:
    """A client that may connect: the lab's CA, user and password."""
    address = BrokerAddress(
        host="127.0.0.1", port=lab.broker.port, tls=True, username=USER, password=PASSWORD, ca_file=lab.ca
    )
    return mqtt_client(address)


def loud(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What a default run shows: WARNING and above."""
    return [record for record in caplog.records if record.levelno >= logging.WARNING]
