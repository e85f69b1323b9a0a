"""The analysis and report of a study session, made by the study server once every rater is done
(or when the researcher asks), with the protocol's rupture definition, so that each answer stands
beside the very rupture or repair whose clip it followed."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Literal

from microdial.analysis.report import FIGURE_PNG, JSON_FILE, analyse_and_report, load_analysis, page
from microdial.analysis.session import AnalyzeOptions
from microdial.errors import MicrodialError
from microdial.study.protocol import Protocol

log = logging.getLogger(__name__)

State = Literal["none", "running", "ready", "failed"]


class Results:
    def __init__(self, session_dir: Path, protocol: Protocol) -> None:
        self.session_dir = session_dir
        self.options = AnalyzeOptions(ruptures=protocol.rupture_options(), clip_seconds=protocol.clip_seconds)
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> State:
        if self._task is not None and not self._task.done():
            return "running"
        if self.error is not None:
            return "failed"
        return "ready" if (self.session_dir / JSON_FILE).is_file() else "none"

    def view(self) -> dict[str, Any]:
        return {"state": self.state, "error": self.error}

    def start(self) -> None:
        """Analyse the session folder (again) in the background; a running analysis is not doubled."""
        if self.state != "running":
            self._task = asyncio.create_task(self._run())

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.wait()

    async def _run(self) -> None:
        self.error = None
        try:
            written = await asyncio.to_thread(
                analyse_and_report, self.session_dir, self.session_dir, self.options
            )
        except (MicrodialError, OSError) as err:
            self.error = str(err)
            log.warning("the analysis of %s failed: %s", self.session_dir, err)
            return
        except Exception as err:  # a background job: whatever broke is shown on the console
            self.error = f"{type(err).__name__}: {err}"
            log.exception("the analysis of %s failed", self.session_dir)
            return
        log.info("analysis written: %s", ", ".join(path.name for path in written))

    def report_page(self, figure_url: str) -> str:
        """The report as HTML, its figure fetched from `figure_url` (which carries the viewer's token)."""
        analysis = load_analysis(self.session_dir / JSON_FILE)
        figure = figure_url if (self.session_dir / FIGURE_PNG).is_file() else None
        return page(analysis, figure)
