"""Every route as the wrong user: 403 (401 signed out) and no data; the right user gets it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from microdial.practice import db
from microdial.practice.export import export
from tests.practice.conftest import Folder, client


async def reviewed_attempt(base: str, folder: Folder, response_bytes: bytes) -> dict[str, str]:
    """tr1 records, submits; sup1 reviews with a spoken reply. Returns the ids."""
    async with client(base, "tr1") as tr1:
        attempt = await tr1.upload(response_bytes, clip=folder.clip)
        private = await tr1.upload(response_bytes, clip=folder.clip)
        status, _ = await tr1.request(
            "POST", f"/api/attempts/{attempt['id']}/submit", json={"note": "first go"}
        )
        assert status == 200
    async with client(base, "sup1") as sup1:
        queue = await sup1.get_json("/api/queue")
        assert isinstance(queue, list) and [row["id"] for row in queue] == [attempt["id"]]
        reply = await sup1.upload(response_bytes, purpose="reply")
        trace = {"source": "keys", "samples": [[0.0, 0], [0.5, 5], [1.0, 10]]}
        scores = {
            "addresses_rupture": 4,
            "empathy": 5,
            "invites_view": 3,
            "non_defensive": 4,
            "collaboration": 2,
        }
        status, body = await sup1.request(
            "POST", f"/api/attempts/{attempt['id']}/review",
            json={"scores": scores, "feedback": "Named it well.", "trace": trace, "reply": reply["id"]},
        )  # fmt: skip
        assert status == 200, body
        review = json.loads(body)["id"]
    return {"attempt": str(attempt["id"]), "private": str(private["id"]), "review": review}


async def test_every_route_as_the_wrong_user(folder: Folder, base: str, response_bytes: bytes) -> None:
    ids = await reviewed_attempt(base, folder, response_bytes)
    attempt, private, review = ids["attempt"], ids["private"], ids["review"]
    reads = [f"/api/attempts/{attempt}", f"/media/attempt/{attempt}", f"/media/reply/{review}"]
    secret = [b"first go", b"Named it well", response_bytes[:64]]

    def no_data(body: bytes) -> bool:
        return not any(part in body for part in secret) and set(json.loads(body)) == {"error"}

    # Another trainee, and another trainee's supervisor: nothing of tr1's.
    for code in ("tr2", "sup2"):
        async with client(base, code) as wrong:
            for path in [*reads, f"/api/attempts/{private}", f"/media/attempt/{private}"]:
                status, body = await wrong.request("GET", path)
                assert status == 403 and no_data(body), (code, path)
            for path, payload in (
                (f"/api/attempts/{attempt}/submit", {"note": "x"}),
                (f"/api/attempts/{private}/submit", {"note": "x"}),
                (f"/api/attempts/{private}/review", {"scores": {}, "feedback": "x"}),
            ):
                status, body = await wrong.request("POST", path, json=payload)
                assert status == 403 and no_data(body), (code, path)
            if code == "sup2":
                status, body = await wrong.request("GET", "/api/queue")
                assert status == 200 and json.loads(body) == []
            progress = await wrong.get_json("/api/progress")
            assert progress == []
    # Nobody writes into another user's upload, nor finishes or reads its offset.
    async with client(base, "tr1") as tr1:
        status, body = await tr1.request(
            "POST",
            "/api/uploads",
            json={"purpose": "attempt", "clip": folder.clip, "size": 100, "type": "video/webm"},
        )
        upload = json.loads(body)["id"]
    async with client(base, "tr2") as tr2:
        for method, path in (("GET", ""), ("PUT", "?offset=0"), ("POST", "/finish")):
            status, body = await tr2.request(method, f"/api/uploads/{upload}{path}", data=b"\x1a\x45\xdf\xa3")
            assert status == 403 and no_data(body), (method, path)
    # Trainees never see the review queue nor review, not even their own attempts.
    async with client(base, "tr1") as tr1:
        status, body = await tr1.request("GET", "/api/queue")
        assert status == 403 and no_data(body)
        status, body = await tr1.request("POST", f"/api/attempts/{private}/review", json={"scores": {}})
        assert status == 403
        status, _ = await tr1.request("GET", "/queue", allow_redirects=False)
        assert status == 403
    # The supervisor sees the submitted attempt, never the one kept private.
    async with client(base, "sup1") as sup1:
        for path in reads:
            status, _ = await sup1.request("GET", path)
            assert status == 200, path
        status, body = await sup1.request("GET", f"/media/attempt/{private}")
        assert status == 403 and no_data(body)
        status, _ = await sup1.request("GET", "/library", allow_redirects=False)
        assert status == 403
    # Signed out: 401 on data, a redirect to sign in on pages, no data either way.
    async with client(base, None) as anonymous:
        for path in [*reads, "/api/clips", f"/media/clip/{folder.clip}", "/api/queue", "/api/progress"]:
            status, body = await anonymous.request("GET", path)
            assert status == 401 and no_data(body), path
        for page in ("/library", "/clip", "/queue", "/review", "/progress", "/"):
            status, _ = await anonymous.request("GET", page, allow_redirects=False)
            assert status == 302, page


async def test_trainee_sees_scores_trace_and_reply(folder: Folder, base: str, response_bytes: bytes) -> None:
    ids = await reviewed_attempt(base, folder, response_bytes)
    async with client(base, "tr1") as tr1:
        clip = await tr1.get_json(f"/api/clips/{folder.clip}")
        assert isinstance(clip, dict)
        first, second = clip["attempts"]  # type: ignore[misc]
        assert first["review"]["scores"]["empathy"] == 5 and first["review"]["feedback"] == "Named it well."
        assert first["review"]["trace"]["samples"] == [[0.0, 0.0], [0.5, 5.0], [1.0, 10.0]]
        assert second["submitted"] is None and second["review"] is None
        status, body = await tr1.request("GET", f"/media/reply/{ids['review']}")
        assert status == 200 and body == response_bytes
        progress = await tr1.get_json("/api/progress")
        assert isinstance(progress, list) and progress[0]["scores"]["collaboration"] == 2
    async with client(base, "boss") as admin:
        queue = await admin.get_json("/api/queue")
        assert isinstance(queue, list) and queue[0]["reviewed"] == 1
    database = db.connect(folder.data)
    export(database, folder.data.parent / "out")
    database.close()
    scores = rows(folder.data.parent / "out" / "scores.csv")
    assert {row["item"]: row["score"] for row in scores}["empathy"] == "5"
    assert [row["value"] for row in rows(folder.data.parent / "out" / "traces.csv")] == ["0.0", "5.0", "10.0"]
    (reviewed, _) = rows(folder.data.parent / "out" / "attempts.csv")
    assert reviewed["trainee"] == "tr1" and reviewed["note"] == "first go"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


async def test_review_checks_the_rubric(folder: Folder, base: str, response_bytes: bytes) -> None:
    async with client(base, "tr1") as tr1:
        attempt = await tr1.upload(response_bytes, clip=folder.clip)
        await tr1.request("POST", f"/api/attempts/{attempt['id']}/submit", json={})
        status, body = await tr1.request("POST", f"/api/attempts/{attempt['id']}/submit", json={})
        assert status == 400 and b"already waiting" in body
    async with client(base, "sup1") as sup1:
        status, body = await sup1.request(
            "POST", f"/api/attempts/{attempt['id']}/review", json={"scores": {"empathy": 3}}
        )
        assert status == 400 and b"score every rubric item" in body
        scores = dict.fromkeys(
            ("addresses_rupture", "empathy", "invites_view", "non_defensive", "collaboration"), 9
        )
        status, body = await sup1.request(
            "POST", f"/api/attempts/{attempt['id']}/review", json={"scores": scores}
        )
        assert status == 400 and b"1 to 5" in body
        scores = dict.fromkeys(scores, 3)
        trace = {"samples": [[1.0, 80]]}
        status, body = await sup1.request(
            "POST", f"/api/attempts/{attempt['id']}/review", json={"scores": scores, "trace": trace}
        )
        assert status == 400 and b"-50..50" in body
