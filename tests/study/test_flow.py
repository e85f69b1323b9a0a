"""The whole study in chromium: two raters at once, each on their own page with their own
simulated dial (the real firmware), real Mosquitto, the recorder, `microdial study serve`."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

from playwright.async_api import Browser

from microdial.sim.runner import SimulatedDial
from tests.study.conftest import SESSION, VIDEO_SECONDS, StudyProcess
from tests.study.flow_support import (
    answer_questions,
    api,
    client_value,
    dial_check,
    following,
    press_action,
    stamp_errors,
    state,
    therapist_value,
    wait_step,
)


async def test_two_raters_rate_and_answer_each_stamped_by_their_own_page(
    study: StudyProcess, dials: dict[str, SimulatedDial], browser: Browser, tmp_path: Path
) -> None:
    pages = {}
    for rater in ("client", "therapist"):
        pages[rater] = await (await browser.new_context()).new_page()
        await pages[rater].goto(study.links[rater])
    own = {}
    for rater, page in pages.items():
        await wait_step(page, "instructions")
        await press_action(page)
        own[rater] = await dial_check(page, dials)
    assert own["client"] is not own["therapist"]
    for page in pages.values():
        await wait_step(page, "practice")
    for page in pages.values():
        await press_action(page, "Continue")  # once the practice clip ended

    # The therapist starts the video 2 s after the client, and pauses it for 1.5 s midway.
    await wait_step(pages["client"], "rating")
    async with (
        following(pages["client"], own["client"], client_value) as client_seen,
        following(pages["therapist"], own["therapist"], therapist_value) as therapist_seen,
    ):
        await press_action(pages["client"])
        await asyncio.sleep(2.0)
        await press_action(pages["therapist"])
        await asyncio.sleep(3.0)
        await pages["therapist"].evaluate("document.getElementById('video').pause()")
        await asyncio.sleep(1.5)
        await pages["therapist"].evaluate("document.getElementById('video').play()")
        for page in pages.values():
            await wait_step(page, "finding", "clip", "questions", timeout=VIDEO_SECONDS + 10)

    folder = tmp_path / "recordings" / SESSION
    for page in pages.values():
        await wait_step(page, "clip", "questions", timeout=10)
    # Each page's samples carry that page's own media time: the two differ by the late start and
    # the pause, so at one host instant the therapist's stamps trail the client's.
    seen = {"client": client_seen, "therapist": therapist_seen}
    for rater, other in (("client", "therapist"), ("therapist", "client")):
        playing, paused, errors = stamp_errors(folder, rater, seen[rater])
        assert playing > 300 and len(errors) > 100, (rater, playing, len(errors))
        # Within a frame or two of this page's own playback (a loaded machine stalls frames) ...
        assert errors[len(errors) // 2] < 0.045 and errors[-1] < 0.3, (
            rater,
            errors[len(errors) // 2],
            errors[-1],
        )
        # ... and nowhere near the other page's, which started 2 s apart and paused for 1.5 s.
        _, _, against_other = stamp_errors(folder, rater, seen[other])
        assert against_other[len(against_other) // 2] > 1.5, rater
        assert paused > 0 if rater == "therapist" else True

    for rater, page in pages.items():
        view = await state(page)
        assert view["clip"]["kind"] == "rupture"
        # The rupture found is the one this rater's dial drew, in this page's video time.
        start = view["clip"]["start"]
        expected = 5.0 if rater == "client" else 7.5
        assert abs(start - expected) <= 1.0, (rater, start)
    answered: dict[str, list[str]] = {}
    for rater, page in pages.items():
        answered[rater] = await answer_questions(page, f"{rater} rupture words")
        await wait_step(page, "clip")
        assert (await state(page))["clip"]["kind"] == "repair"
        answered[rater] += await answer_questions(page, f"{rater} repair words")
        await wait_step(page, "done")

    rows = list(csv.DictReader((folder / "interview.csv").open()))
    assert [(r["role"], r["clip_kind"], r["question_id"]) for r in rows] == [
        (rater, kind, question)
        for rater in ("client", "therapist")
        for kind, question in [
            ("rupture", "rupture_what"),
            ("rupture", "rupture_why"),
            ("repair", "repair_what"),
            ("repair", "repair_why"),
        ]
    ]
    assert rows[0]["answer"] == "client rupture words 0" and rows[-1]["answer"] == "therapist repair words 1"
    assert all(r["session"] == SESSION and float(r["first_edit"]) <= float(r["last_edit"]) for r in rows)
    assert json.loads((folder / "interview.json").read_text())[0]["answer"] == rows[0]["answer"]
    assert set(json.loads((folder / "segments.json").read_text())) == {"client", "therapist"}
    assert "rupture" in (folder / "protocol.toml").read_text()

    # A rater's token opens their own data only, over HTTP and the clock socket.
    therapist_query = "?" + study.links["therapist"].split("?")[1]
    status, body = await api(pages["client"], "/api/rater")
    assert status == 200 and body["rater"] == "client"
    status, body = await api(pages["client"], "/api/console")
    assert status == 403
    status, _ = await api(pages["client"], "/api/rater", "?token=wrong")
    assert status == 403
    status, body = await api(pages["client"], "/api/rater", therapist_query)
    assert status == 200 and body["rater"] == "therapist"  # only with the therapist's own token
    assert "client" not in json.dumps(body)

    # The researcher's console: every rater done, each dial's trace, and a dial's light on request.
    console = await (await browser.new_context()).new_page()
    await console.goto(study.links["console"])
    await console.wait_for_function("document.querySelectorAll('#raters tr').length === 2")
    rows = await console.inner_text("#raters")
    assert rows.count("done") == 2 and rows.count("Identify") == 2
    assert await console.locator("#dials canvas").count() == 2
    identified = await console.evaluate(
        """async dial => {
            const response = await fetch("/api/console/identify" + location.search, {
                method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({dial}),
            });
            return response.json();
        }""",
        own["client"].device_id,
    )
    assert identified["ok"], identified

    # Both raters are done: the analysis is made, and the console links its report (under the
    # console's token), each answer beside the rupture or repair its clip showed.
    await console.wait_for_function(
        "[...document.querySelectorAll('#results a')].some(a => a.textContent === 'the report')",
        timeout=60_000,
    )
    href = await console.get_attribute("#results a", "href")
    assert href is not None and href.startswith("/report?token=")
    report = await console.context.new_page()
    await report.goto(study.links["console"].split("/?")[0] + href)
    text = await report.inner_text("body")
    assert "Interview" in text and "client rupture words 0" in text and "therapist repair words 1" in text
    assert (
        await report.evaluate("document.querySelector('img').naturalWidth") > 0
    )  # the figure, token and all
    analysis = json.loads((folder / "analysis.json").read_text())
    answers = list(csv.DictReader((folder / "interview.csv").open()))
    assert len(analysis["interview"]) == len(answers) == 8 and all(
        a["rupture"] == 1 for a in analysis["interview"]
    )
    # A dial that has rated keeps its rater: the console's reassignment is refused, nothing changes.
    before = (folder / "study" / "dials.json").read_text()
    refused = await console.evaluate(
        """async dial => {
            const response = await fetch("/api/console/assign" + location.search, {
                method: "POST", headers: {"Content-Type": "application/json"},
                body: JSON.stringify({dial, rater: "therapist"}),
            });
            return [response.status, await response.text()];
        }""",
        own["client"].device_id,
    )
    assert refused[0] == 409 and "has begun rating" in refused[1], refused
    assert (folder / "study" / "dials.json").read_text() == before
