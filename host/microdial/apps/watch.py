"""`microdial watch`: a live terminal table of the dials on the broker."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from pydantic import Field

from microdial.apps import run_until_signalled
from microdial.config import Options
from microdial.live_state import LiveState, follow
from microdial.model import Code
from microdial.mqtt.address import BrokerSettings

COLUMNS = ("role", "dial", "state", "rate", "value", "drops", "sync ±")


class WatchSettings(BrokerSettings):
    session: Code | None = Field(None, description="only this session; none: every session")
    interval: float = Field(0.5, gt=0, description="seconds between redraws of the table")


def table(state: LiveState) -> str:
    rows = [COLUMNS]
    for trace in sorted(state.dials.values(), key=lambda t: (t.role, t.dial)):
        info = state.dial_info(trace)
        rate = f"{info['received_hz']:.0f}/s"
        if info["rate_hz"]:
            rate += f" of {info['rate_hz']}"
        uncertainty = info["uncertainty"]
        rows.append(
            (
                info["role"],
                info["dial"],
                info["state"],
                rate,
                "-" if info["value"] is None else f"{info['value']:+d}",
                str(info["drops"]),
                "-" if uncertainty is None else f"{uncertainty * 1000:.1f} ms",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    if len(rows) == 1:
        lines.append("(no dials yet)")
    if not state.connected:
        # What the table shows is what was known when the broker was last reachable, if ever.
        lines.insert(0, "broker unreachable: the table is not live")
    return "\n".join(lines)


async def watch(settings: WatchSettings, out: TextIO, *, ready: asyncio.Event | None = None) -> None:
    """Print the table every interval until cancelled; on a terminal, redraw it in place."""
    state = LiveState(settings.session)
    address = settings.broker_address()
    redraw = out.isatty()

    async def printer() -> None:
        while True:
            await asyncio.sleep(settings.interval)
            text = table(state)
            out.write(("\x1b[H\x1b[2J" if redraw else "\n") + text + "\n")
            out.flush()

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(printer())
        tasks.create_task(follow(state, address, name="watch", qos=0, ready=ready))


OPTIONS = Options(WatchSettings, "watch")


def configure(parser: argparse.ArgumentParser) -> None:
    OPTIONS.add_to(parser)


def run(args: argparse.Namespace) -> int:
    run_until_signalled(watch(OPTIONS.load(args), sys.stdout))
    return 0
