"""The practice server's JSON routes and media routes; who may do what is decided in records."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any, Literal

from aiohttp import ClientPayloadError, web
from pydantic import BaseModel, Field

from microdial.practice import auth, records
from microdial.practice.db import media_dir
from microdial.practice.settings import PracticeSettings, Rubric
from microdial.practice.uploads import UploadError, Uploads

log = logging.getLogger(__name__)

COOKIE = "practice_session"


class Login(BaseModel):
    code: str = Field(max_length=100)
    password: str = Field(max_length=1000)


class Welcome(BaseModel):
    invite: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class NewUpload(BaseModel):
    purpose: Literal["attempt", "reply"]
    clip: str | None = None
    size: int
    type: str = Field(max_length=200)


class Submission(BaseModel):
    note: str = Field("", max_length=5000)


class Review(BaseModel):
    scores: dict[str, int]
    feedback: str = Field("", max_length=20000)
    trace: records.Trace = Field(default_factory=records.Trace)
    reply: str | None = None


def signed_in(db: sqlite3.Connection, request: web.Request) -> tuple[auth.User, str] | None:
    """The user of the request's live session cookie, and their CSRF token."""
    token = request.cookies.get(COOKIE)
    return auth.session_user(db, token) if token else None


class Api:
    def __init__(
        self, db: sqlite3.Connection, settings: PracticeSettings, rubric: Rubric, uploads: Uploads
    ) -> None:
        self.db = db
        self.settings = settings
        self.rubric = rubric
        self.uploads = uploads
        # Per code: slow guessing of one account. Per address, looser: one machine trying many
        # codes, without locking out a whole office behind one NAT.
        self.per_code = auth.LoginLimiter(attempts=5)
        self.per_peer = auth.LoginLimiter(attempts=20)
        # Each scrypt takes 16 MiB: a burst of sign-ins queues here instead of growing the server.
        self.hashing = asyncio.Semaphore(2)

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/login", self.login)
        r.add_post("/api/welcome", self.welcome)
        r.add_post("/api/logout", self.logout)
        r.add_get("/api/me", self.me)
        r.add_get("/api/rubric", self.get_rubric)
        r.add_get("/api/clips", self.list_clips)
        r.add_get("/api/clips/{id}", self.get_clip)
        r.add_post("/api/uploads", self.new_upload)
        r.add_get("/api/uploads/{id}", self.upload_offset)
        r.add_put("/api/uploads/{id}", self.upload_chunk)
        r.add_post("/api/uploads/{id}/finish", self.upload_finish)
        r.add_get("/api/attempts/{id}", self.get_attempt)
        r.add_post("/api/attempts/{id}/submit", self.submit)
        r.add_post("/api/attempts/{id}/review", self.review)
        r.add_get("/api/queue", self.get_queue)
        r.add_get("/api/progress", self.get_progress)
        r.add_get("/media/clip/{id}", self.clip_media)
        r.add_get("/media/attempt/{id}", self.attempt_media)
        r.add_get("/media/reply/{id}", self.reply_media)

    def user(self, request: web.Request) -> auth.User:
        """The signed-in user; 401 for a request without a live session."""
        found = signed_in(self.db, request)
        if found is None:
            raise web.HTTPUnauthorized(text='{"error": "sign in first"}', content_type="application/json")
        return found[0]

    # -- signing in -----------------------------------------------------------------------------
    def _signed_in(self, user_id: int) -> web.Response:
        token = auth.start_session(self.db, user_id, self.settings.session_hours)
        response = web.json_response({"ok": True})
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=self.settings.secure_cookies,
            path="/",
            max_age=int(self.settings.session_hours * 3600),
        )
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        given = Login.model_validate(await request.json())
        peer = self.peer(request)
        wait = max(self.per_code.wait(given.code), self.per_peer.wait(peer))
        if wait > 0:
            return web.json_response(
                {"error": f"too many failed sign-ins: try again in {wait:.0f} s"},
                status=429,
                headers={"Retry-After": str(int(wait) + 1)},
            )
        row = auth.user_by_code(self.db, given.code)
        # scrypt takes tens of milliseconds: in a thread, so other requests go on meanwhile.
        stored = None if row is None else row["password_hash"]
        async with self.hashing:
            matches = await asyncio.to_thread(auth.check_password, given.password, stored)
        if not matches or row is None:
            self.per_code.failed(given.code)
            self.per_peer.failed(peer)
            return web.json_response({"error": "wrong code or password"}, status=401)
        return self._signed_in(row["id"])

    def peer(self, request: web.Request) -> str:
        """The client's address; behind the TLS proxy every request comes from the proxy, which
        appends the real one to X-Forwarded-For (the last entry is the one the proxy saw)."""
        forwarded = request.headers.get("X-Forwarded-For")
        if self.settings.behind_tls_proxy and forwarded:
            return forwarded.split(",")[-1].strip()
        return request.remote or "unknown"

    async def welcome(self, request: web.Request) -> web.StreamResponse:
        given = Welcome.model_validate(await request.json())
        auth.check_new_password(given.password)
        async with self.hashing:
            hashed = await asyncio.to_thread(auth.hash_password, given.password)
        return self._signed_in(auth.redeem_invite(self.db, given.invite, hashed))

    async def logout(self, request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(COOKIE)
        if token:
            auth.end_session(self.db, token)
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def me(self, request: web.Request) -> web.StreamResponse:
        found = signed_in(self.db, request)
        if found is None:
            return web.json_response({"error": "sign in first"}, status=401)
        user, csrf = found
        return web.json_response({"code": user.code, "role": user.role, "csrf": csrf})

    # -- clips and attempts ------------------------------------------------------------------------
    async def get_rubric(self, request: web.Request) -> web.StreamResponse:
        self.user(request)
        return web.json_response(self.rubric.model_dump(mode="json"))

    async def list_clips(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(records.clips(self.db, self.user(request)))

    async def get_clip(self, request: web.Request) -> web.StreamResponse:
        user = self.user(request)
        found = records.clip(self.db, request.match_info["id"])
        return web.json_response(
            {key: found[key] for key in ("id", "title", "kind", "notes")}
            | {"attempts": records.attempts(self.db, user, found["id"])}
        )

    async def get_attempt(self, request: web.Request) -> web.StreamResponse:
        attempt = records.visible_attempt(self.db, self.user(request), request.match_info["id"])
        shown = ("id", "clip_id", "trainee", "number", "mime", "created", "submitted", "note", "review")
        return web.json_response({key: attempt[key] for key in shown})

    async def submit(self, request: web.Request) -> web.StreamResponse:
        given = Submission.model_validate(await request.json())
        records.submit(self.db, self.user(request), request.match_info["id"], given.note)
        return web.json_response({"ok": True})

    async def get_queue(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(records.queue(self.db, self.user(request)))

    async def review(self, request: web.Request) -> web.StreamResponse:
        given = Review.model_validate(await request.json())
        review_id = records.save_review(
            self.db, self.user(request), request.match_info["id"], self.rubric,
            given.scores, given.feedback, given.trace, given.reply,
        )  # fmt: skip
        return web.json_response({"id": review_id})

    async def get_progress(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(records.progress(self.db, self.user(request)))

    # -- uploads -------------------------------------------------------------------------------------
    async def new_upload(self, request: web.Request) -> web.StreamResponse:
        given = NewUpload.model_validate(await request.json())
        upload = self.uploads.create(self.user(request), given.purpose, given.clip, given.size, given.type)
        return web.json_response({"id": upload.id, "offset": 0}, status=201)

    async def upload_offset(self, request: web.Request) -> web.StreamResponse:
        upload = self.uploads.get(self.user(request), request.match_info["id"])
        return web.json_response({"offset": self.uploads.offset(upload), "size": upload.size})

    async def upload_chunk(self, request: web.Request) -> web.StreamResponse:
        upload = self.uploads.get(self.user(request), request.match_info["id"])
        try:
            offset = int(request.query["offset"])
        except (KeyError, ValueError):
            raise UploadError(400, "give ?offset=N: where this chunk starts") from None
        try:
            offset = await self.uploads.append(upload, offset, request.content.iter_chunked(64 * 1024))
        except (ConnectionResetError, ClientPayloadError):
            # The client went away mid-piece: what arrived is on disk, it resumes from GET's offset.
            log.info("upload %s: connection lost at %d bytes", upload.id, self.uploads.offset(upload))
            raise web.HTTPBadRequest(text="connection lost") from None
        return web.json_response({"offset": offset})

    async def upload_finish(self, request: web.Request) -> web.StreamResponse:
        upload = self.uploads.get(self.user(request), request.match_info["id"])
        file, mime, digest = await self.uploads.finish(upload)
        if upload.purpose == "attempt":
            return web.json_response(records.commit_attempt(self.db, upload, file, mime, digest))
        return web.json_response(records.commit_reply(self.db, upload, file, mime))

    # -- media: checked on every request, by random id, never by path -----------------------------------
    def _media(self, file: str, mime: str) -> web.FileResponse:
        path: Path = media_dir(self.settings.data) / file
        return web.FileResponse(path, headers={"Content-Type": mime, "Cache-Control": "private, no-store"})

    async def clip_media(self, request: web.Request) -> web.StreamResponse:
        self.user(request)
        found = records.clip(self.db, request.match_info["id"])
        return self._media(found["file"], found["mime"])

    async def attempt_media(self, request: web.Request) -> web.StreamResponse:
        attempt: dict[str, Any] = records.visible_attempt(
            self.db, self.user(request), request.match_info["id"]
        )
        return self._media(attempt["file"], attempt["mime"])

    async def reply_media(self, request: web.Request) -> web.StreamResponse:
        return self._media(*records.reply_media(self.db, self.user(request), request.match_info["id"]))
