"""One study session as it goes: every rater's step, answers and segments, changed only here.

The pages ask (a step done, an answer typed, a clip position); this decides and saves before it
answers, so what a page was told is on disk. Steps the server leaves by itself: `finding` (the
rater's ruptures, once the recording holds their whole rating) and `confirm` (the researcher's).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from microdial.device.runner import DialRunner
from microdial.live_state import LiveState
from microdial.players.browser import BrowserClock
from microdial.study.dials import StudyRoles
from microdial.study.flow import PAGE_STEPS, following, valid_answer_key, view
from microdial.study.outputs import output_files
from microdial.study.protocol import Protocol
from microdial.study.results import Results
from microdial.study.segments import find_sequences
from microdial.study.state import Answer, Interruption, RaterState, Sequence, StateStore

log = logging.getLogger(__name__)

# How often the recording is looked at while a rater's segments are being found, and for how
# long at most before the rating is taken as it is (a dial that rated nothing: no sequences).
FIND_POLL = 0.05
FIND_PATIENCE = 20.0


class StudyError(Exception):
    """A page asked for something the rater's state does not allow (409 to the page)."""


class Study:
    def __init__(
        self, session: str, session_dir: Path, video: Path, protocol: Protocol, raters: list[str]
    ) -> None:
        self.session = session
        self.session_dir = session_dir
        self.video = video
        self.protocol = protocol
        self.raters = raters
        self.store = StateStore(session_dir / "study", raters, "instructions")
        self.clocks = {rater: BrowserClock(video=video) for rater in raters}
        self.runners: list[DialRunner] = []
        self.roles = StudyRoles(raters, self.store.folder / "dials.json")
        self.results = Results(session_dir, protocol)
        self.live = LiveState(session)
        self._finding: dict[str, asyncio.Task[None]] = {}

    def state(self, rater: str) -> RaterState:
        return self.store.states[rater]

    def resume(self) -> None:
        """After a restart: raters whose segments were being found are looked after again."""
        for rater, state in self.store.states.items():
            if state.step == "finding":
                self._find(rater)

    async def close(self) -> None:
        for task in self._finding.values():
            task.cancel()
        await asyncio.gather(*self._finding.values(), return_exceptions=True)
        await self.results.close()

    # -- what the rater's page asks --------------------------------------------------------------
    def page_view(self, rater: str) -> dict[str, Any]:
        state = self.state(rater)
        return view(self.protocol, state, self.clocks[rater].duration) | {"dial": self.dial_view(rater)}

    async def advance(self, rater: str, step: str, position: float | None) -> None:
        """The page finished `step` (its last position with it): on to the next step."""
        state = self.state(rater)
        if step != state.step:
            return  # a repeated request (a page that retried): already moved on
        if state.step.split("-")[0] not in PAGE_STEPS:
            raise StudyError(f"step {state.step} is left by the study, not by the page")
        if position is not None:
            state.positions[step] = position
        state.step = following(self.protocol, state)
        await self.store.save(state)
        await self.write_outputs()
        if state.step == "finding":
            self._find(rater)
        self._analyse_when_complete()

    async def position(self, rater: str, step: str, position: float) -> None:
        state = self.state(rater)
        if step == state.step:
            state.positions[step] = position
            await self.store.save(state, durable=False)

    async def answer(self, rater: str, key: str, text: str, edited: float | None = None) -> None:
        state = self.state(rater)
        if not valid_answer_key(self.protocol, state, key):
            raise StudyError(f"no question {key} for this rater")
        now = time.time() if edited is None else edited
        given = state.answers.get(key)
        state.answers[key] = Answer(
            text=text, first_edit=now if given is None else given.first_edit, last_edit=now
        )
        await self.store.save(state)
        await self.write_outputs()

    async def resumed(self, rater: str, step: str, position: float, reason: str) -> None:
        """The page came back to a step it had started (reload, closed tab, server restart): the
        state keeps the interruption and, while rating, so does the recording (a session event)."""
        state = self.state(rater)
        if step != state.step:
            return
        state.interruptions.append(Interruption(step=step, position=position, at=time.time(), reason=reason))
        await self.store.save(state)
        if step == "rating":
            for runner in self.runners:
                if runner.role == rater:
                    runner.mark_session("mark", f"rating interrupted ({reason}); resumed at {position:.2f} s")

    # -- the researcher ----------------------------------------------------------------------------
    async def adjust(self, rater: str, sequences: list[Sequence]) -> None:
        state = self.state(rater)
        if state.step != "confirm":
            raise StudyError("segments can be adjusted only while they wait for confirmation")
        state.sequences = sequences
        await self.store.save(state)
        await self.write_outputs()

    async def confirm(self, rater: str) -> None:
        state = self.state(rater)
        if state.step != "confirm":
            raise StudyError(f"{rater} is not waiting for confirmation")
        state.confirmed = True
        state.step = following(self.protocol, state)
        await self.store.save(state)
        await self.write_outputs()
        self._analyse_when_complete()

    async def assign(self, dial: str, rater: str) -> dict[str, str]:
        """Dial `dial` rates as `rater` from now on (the dial that had `rater` takes its former one).
        Refused once a rater concerned has begun rating (their video started): a dial's recording must keep the one
        role it rated as. Before that its samples carry no video time (the grid ignores them), and
        the change is written into the recording as a session event of each dial concerned."""
        try:
            changes = self.roles.swap(dial, rater)
        except KeyError:
            raise StudyError(f"no dial {dial} here") from None
        for device, (old, new) in changes.items():
            for role in (old, new):
                if role in self.store.states and self.began_rating(role):
                    raise StudyError(
                        f"{role} has begun rating: dial {device} keeps {old}, so that its recording has one role"
                    )
        self.roles.apply(changes)
        for runner in self.runners:
            if runner.key is not None and runner.key.dial in changes:
                old, new = changes[runner.key.dial]
                runner.key = dataclasses.replace(runner.key, role=new)
                runner.mark_session(
                    "mark", f"dial {runner.key.dial} reassigned from {old} to {new} by the researcher"
                )
                log.info("dial %s rates as %s (was %s)", runner.key.dial, new, old)
        return dict(self.roles.given)

    def began_rating(self, rater: str) -> bool:
        """The rater's video has started: their page's clock is open, or a position was saved, or
        they are past the rating."""
        state = self.state(rater)
        before = state.step in ("instructions", "check", "practice", "rating")
        return not before or "rating" in state.positions or self.clocks[rater].online

    def console_view(self) -> dict[str, Any]:
        """Each rater's step, progress, dial and segments: counts of answers, not their words."""
        raters = []
        for rater in self.raters:
            state = self.state(rater)
            shown = self.page_view(rater)
            for private in ("questions", "protocol"):
                shown.pop(private, None)
            raters.append(
                shown
                | {
                    "sequences": None
                    if state.sequences is None
                    else [s.model_dump() for s in state.sequences],
                    "answers": len(state.answers),
                    "interruptions": len(state.interruptions),
                }
            )
        return {
            "session": self.session,
            "confirm": self.protocol.confirm_segments,
            "raters": raters,
            "assignments": dict(self.roles.given),
            "report": self.results.view(),
            "dials": [
                self.live.dial_info(trace) | {"x": list(trace.x[-600:]), "v": list(trace.v[-600:])}
                for trace in self.live.dials.values()
            ],
        }

    def dial_view(self, rater: str) -> dict[str, Any]:
        """The rater's own dial as the page's dial check shows it (no other rater's)."""
        trace = next((t for t in self.live.dials.values() if t.role == rater), None)
        runner = next((r for r in self.runners if r.role == rater), None)
        connected = (
            runner is not None
            and runner.identified.is_set()
            and (trace is None or trace.status is None or trace.status.state == "online")
        )
        presses = sum(1 for event in self.live.events if event["role"] == rater and event["kind"] == "button")
        return {
            "connected": connected,
            "dial": None if runner is None or runner.key is None else runner.key.dial,
            "value": None if runner is None else runner.last_value,
            "presses": presses,
        }

    async def write_outputs(self) -> None:
        states = list(self.store.states.values())
        await self.store.writer.write(output_files(self.session_dir, self.session, self.protocol, states))

    # -- finding the segments ----------------------------------------------------------------------
    def _find(self, rater: str) -> None:
        if rater not in self._finding or self._finding[rater].done():
            self._finding[rater] = asyncio.create_task(self._finding_task(rater))

    async def _finding_task(self, rater: str) -> None:
        state = self.state(rater)
        until = state.positions.get("rating", 0.0)
        deadline = time.monotonic() + FIND_PATIENCE
        sequences = None
        while sequences is None and time.monotonic() < deadline:
            sequences = await asyncio.to_thread(find_sequences, self.session_dir, rater, self.protocol, until)
            if sequences is None:
                await asyncio.sleep(FIND_POLL)
        if sequences is None:
            log.warning("%s: the recording holds no rating up to %.0f s; no segments", rater, until)
            sequences = []
        log.info("%s: %d sequences found", rater, len(sequences))
        state.sequences = sequences
        state.step = following(self.protocol, state)
        await self.store.save(state)
        await self.write_outputs()
        self._analyse_when_complete()

    def _analyse_when_complete(self) -> None:
        if all(state.step == "done" for state in self.store.states.values()):
            self.results.start()
