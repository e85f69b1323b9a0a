"""`microdial practice serve`: the pages, the API and the media behind a session cookie.

Built on microdial.web.base for assets and no-store pages; the practice server signs users in with
cookies (see auth), not the ?token= of the other pages. It listens on 127.0.0.1 unless told
otherwise, and off loopback only with TLS: --cert/--key, or --behind-tls-proxy when a reverse proxy
(Caddy, nginx) terminates TLS in front of it.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import sqlite3
import ssl
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import ValidationError

from microdial.errors import ConfigError
from microdial.practice import db
from microdial.practice.api import Api, signed_in
from microdial.practice.settings import PracticeSettings, load_rubric
from microdial.practice.uploads import UploadError, Uploads
from microdial.web.base import NO_STORE, STATIC, add_assets, url_host

log = logging.getLogger(__name__)

FOLDER = STATIC / "practice"
ASSETS = (
    "practice.css", "common.js", "recorder.js", "trace.js", "login.js", "welcome.js",
    "library.js", "clip.js", "progress.js", "queue.js", "review.js",
)  # fmt: skip
# Pages anyone may load (they hold no data), and the pages of each role.
OPEN_PAGES = ("login", "welcome")
PAGES = {
    "library": "trainee",
    "clip": "trainee",
    "progress": "trainee",
    "queue": "supervisor",
    "review": "supervisor",
}
# Script and media from this server only; recordings play from blob: URLs before they are sent.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def guard(database: sqlite3.Connection) -> Middleware:
    """CSRF on every state change, errors as JSON."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        found = signed_in(database, request)
        if request.method not in SAFE_METHODS:
            if found is not None:
                given = request.headers.get("X-CSRF-Token", "")
                if not hmac.compare_digest(given.encode(), found[1].encode()):
                    return _error(403, "missing or wrong CSRF token: reload the page")
            elif request.headers.get("X-Requested-With") != "microdial-practice":
                return _error(403, "cross-site request refused")
        try:
            return await handler(request)
        except PermissionError as err:
            return _error(403, str(err) or "not yours")
        except UploadError as err:
            return _error(err.status, str(err))
        except ValidationError as err:
            return _error(400, f"bad request: {err.errors()[0]['msg']}")
        except (ValueError, json.JSONDecodeError) as err:
            return _error(400, str(err))

    return middleware


async def _security_headers(_: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def _page(database: sqlite3.Connection, name: str, role: str | None) -> Handler:
    path = FOLDER / f"{name}.html"

    async def handler(request: web.Request) -> web.StreamResponse:
        if role is not None:
            found = signed_in(database, request)
            if found is None:
                raise web.HTTPFound("/login")
            user = found[0]
            if user.role != role and not (role == "supervisor" and user.role == "admin"):
                raise web.HTTPForbidden(text="this page is for another role")
        return web.FileResponse(path, headers=NO_STORE)

    return handler


def _home(database: sqlite3.Connection) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        found = signed_in(database, request)
        if found is None:
            raise web.HTTPFound("/login")
        raise web.HTTPFound("/library" if found[0].role == "trainee" else "/queue")

    return handler


def build_app(settings: PracticeSettings, database: sqlite3.Connection) -> web.Application:
    uploads = Uploads(database, settings.data, settings.max_upload_mb * 1_000_000)
    swept = uploads.sweep()
    if swept:
        log.info("removed %d media files that no record names (left by an interrupted finish)", swept)
    app = web.Application(middlewares=[guard(database)])
    app.on_response_prepare.append(_security_headers)
    Api(database, settings, load_rubric(settings), uploads).routes(app)
    app.router.add_get("/", _home(database))
    for name in OPEN_PAGES:
        app.router.add_get(f"/{name}", _page(database, name, None))
    for name, role in PAGES.items():
        app.router.add_get(f"/{name}", _page(database, name, role))
    add_assets(app, FOLDER, ASSETS)
    return app


def _ssl(settings: PracticeSettings) -> ssl.SSLContext | None:
    if settings.cert is None:
        if settings.key is not None:
            raise ConfigError("--key needs --cert")
        return None
    if settings.key is None:
        raise ConfigError("--cert needs --key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.cert, settings.key)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"cannot load --cert/--key: {err}") from None
    return context


def check_bind(settings: PracticeSettings) -> None:
    """Passwords and recordings cross the network only encrypted."""
    try:
        loopback = ipaddress.ip_address(settings.bind).is_loopback
    except ValueError:
        loopback = settings.bind == "localhost"
    if not loopback and not settings.tls and not settings.behind_tls_proxy:
        raise ConfigError(
            f"--bind {settings.bind} exposes sign-ins and recordings: give --cert/--key, "
            "or --behind-tls-proxy when a TLS reverse proxy fronts this server"
        )


async def serve(settings: PracticeSettings, bound: asyncio.Future[int] | None = None) -> None:
    """Serve until cancelled; bound gets the port once listening (port 0 picks a free one)."""
    check_bind(settings)
    context = _ssl(settings)
    database = db.connect(settings.data)
    runner = web.AppRunner(build_app(settings, database), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.bind, settings.port, ssl_context=context)
        try:
            await site.start()
        except OSError as err:
            raise ConfigError(f"cannot listen on {settings.bind}:{settings.port}: {err.strerror}") from None
        port = runner.addresses[0][1]
        scheme = "https" if context else "http"
        log.info("practice: %s://%s:%d/ (data in %s)", scheme, url_host(settings.bind), port, settings.data)
        if bound is not None:
            bound.set_result(port)
        while True:
            await asyncio.sleep(3600)
            database.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
    finally:
        await runner.cleanup()
        database.close()
