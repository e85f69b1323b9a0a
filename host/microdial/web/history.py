"""Where the live view's "whole session" begins: the session's own history, from the recorder's
session folder, when the viewer can read it.

`view --recordings DIR` (the recorder's --out, on this machine or a shared folder) reads DIR/SESSION
once at start-up, before subscribing: its samples become the whole-session trace (thinned like live
ones) and its button marks the marks. Live samples up to each dial's last recorded host time are
then skipped as already drawn. What the recorder had not yet written when the folder was read (up
to its flush interval, plus the read itself) is missing from the trace: a short gap, not a doubled
line. Without --recordings, or without a folder to read (another machine, not written yet, not a
session folder), the view begins when the viewer started and the page says so. The broker is no
source: MQTT keeps one retained message per topic, not a session's samples.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from microdial.errors import MicrodialError
from microdial.live_state import LiveState
from microdial.store.reader import read_session

log = logging.getLogger(__name__)

# Daemon event kinds a rater makes on purpose (a button press): the marks of either page.
MARK_KINDS = frozenset({"button"})


class History(BaseModel):
    """What the page says about where its whole-session panel begins."""

    source: str  # "recording" or "viewer"
    since: float  # host time (Unix s) of the first sample shown, or of the viewer's start
    note: str


def seed_history(state: LiveState, recordings: Path | None) -> History:
    """Fill state with what the recording of state.session holds so far, if it can be read."""
    started = History(source="viewer", since=time.time(), note="since the viewer started")
    if recordings is None or state.session is None:
        return started
    folder = recordings / state.session
    if not (folder / "session.json").is_file():
        return started.model_copy(update={"note": f"since the viewer started: no recording in {folder} yet"})
    try:
        session = read_session(folder)
        events = session.events()
    except MicrodialError as err:
        log.warning("live view without the session's history: %s", err)
        return started.model_copy(update={"note": f"since the viewer started: {err}"})
    origin = session.timeline.origin
    state.t0 = origin
    for dial in session.dials:
        if not dial.host_time.size:
            continue
        # The live view's own rule (LiveState.x_of): media time where known, else session seconds.
        x = np.where(np.isfinite(dial.media_time), dial.media_time, dial.host_time - origin)
        values = np.round(dial.value).astype(np.int64)
        state.seed(dial.dial, dial.role, x.tolist(), values.tolist(), float(dial.host_time[-1]))
    for event in events:
        if event.kind in MARK_KINDS:
            x_mark = event.media_time if event.media_time is not None else event.host_time - origin
            state.seed_event(event.dial, event.role, event.kind, event.detail, x_mark)
    return History(source="recording", since=origin, note=f"from the recording in {folder}")
