"""The one aiohttp base every page microdial serves is built on: who a request is, start-up,
assets, WebSocket fan-out.

Access. With no token configured a server listens on loopback only and every request sees every
role (a page may narrow itself with ?role=). With any token configured, every page, every answer
that carries data and every WebSocket needs a valid ?token=: what that token opens (a Visitor) is
all the request gets; anything else is 403 and no data. JS and CSS carry no data and are served
to anyone.

A new kind of page (study, practice) brings its own token scope: an Access of its own grants
(say one token per rater, each opening that rater's role, and one for the console), guarding its
routes with `page`, `data_file` or `Access.visitor`, and handed to `listening` with the others, so
that its URLs are logged and an exposed bind is refused while any scope is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from socket import gethostname
from urllib.parse import urlencode

from aiohttp import WSCloseCode, WSMsgType, web

from microdial.errors import ConfigError

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent.parent / "static"

# Pages change with every release and every answer is someone's data: no browser or proxy keeps them.
NO_STORE = {"Cache-Control": "no-store"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Visitor:
    """What a request may see: `label` names its grant in logs, `roles` None means every role."""

    label: str
    roles: frozenset[str] | None = None

    def sees(self, role: str | None) -> bool:
        return self.roles is None or role in self.roles

    def narrowed(self, role: str | None) -> Visitor:
        """The view of one role a page asked for with ?role=; a role grant cannot ask for another."""
        if role is None or self.roles == frozenset({role}):
            return self
        if self.roles is not None:
            raise web.HTTPForbidden(text="this token opens one role only")
        return Visitor(self.label, frozenset({role}))


EVERYONE = Visitor("every role")


@dataclass(frozen=True)
class Access:
    """The tokens a server accepts (token → what it opens); none at all: loopback only, open."""

    grants: Mapping[str, Visitor] = field(default_factory=dict)
    # Tokens made up at start-up (the operator did not choose them): the log says so.
    generated: frozenset[str] = frozenset()
    # Where the page these tokens open lives: the start-up log prints its URL per grant.
    path: str = "/"

    @classmethod
    def for_roles(cls, unblinded: str | None, role_tokens: Mapping[str, str]) -> Access:
        """The unblinded token sees every role, each role token its role only. Role tokens
        without an unblinded one get a generated unblinded token, printed at start-up, so the
        operator still has a full view and no request goes without a token."""
        tokens = list(role_tokens.values()) + ([unblinded] if unblinded is not None else [])
        if len(set(tokens)) != len(tokens):
            raise ConfigError("every --token and --role-token must be different: a shared token opens both")
        generated: frozenset[str] = frozenset()
        if unblinded is None and role_tokens:
            unblinded = secrets.token_urlsafe(16)
            generated = frozenset({unblinded})
        grants = {token: Visitor(f"role {role}", frozenset({role})) for role, token in role_tokens.items()}
        if unblinded is not None:
            grants[unblinded] = Visitor("unblinded")
        return cls(grants, generated)

    @property
    def open(self) -> bool:
        return not self.grants

    def visitor(self, request: web.Request) -> Visitor:
        """Who the request is; 403 when its token opens nothing here."""
        if self.open:
            return EVERYONE.narrowed(request.query.get("role"))
        given = request.query.get("token", "").encode()
        for token, visitor in self.grants.items():
            if hmac.compare_digest(given, token.encode()):
                return visitor.narrowed(request.query.get("role"))
        raise web.HTTPForbidden(text="a valid ?token= is required")

    def urls(self, origin: str) -> list[tuple[str, str]]:
        """(whom it is for, URL) for every grant, to print at start-up."""
        url = origin + self.path
        if self.open:
            return [("anyone on this machine (no token configured)", url)]
        return [
            (
                visitor.label + (" (generated token)" if token in self.generated else ""),
                f"{url}?{urlencode({'token': token})}",
            )
            for token, visitor in self.grants.items()
        ]


def check_exposure(bind: str, *accesses: Access) -> None:
    """Off loopback, pages are reachable from other machines: only with tokens, in every scope."""
    try:
        loopback = ipaddress.ip_address(bind).is_loopback
    except ValueError:
        loopback = bind == "localhost"
    if not loopback and any(access.open for access in accesses):
        raise ConfigError(f"--bind {bind} makes the pages reachable from other machines: give --token T")


def url_host(bind: str) -> str:
    """Where others reach a server bound to bind: a wildcard means this machine's name."""
    if bind in ("", "0.0.0.0", "::"):
        return gethostname()
    return f"[{bind}]" if ":" in bind else bind


def page(access: Access, path: Path) -> Handler:
    """An HTML page, for visitors with a valid token only."""

    async def handler(request: web.Request) -> web.StreamResponse:
        access.visitor(request)
        return web.FileResponse(path, headers=NO_STORE)

    return handler


def data_file(access: Access, path: Path) -> Handler:
    """A file that is data (a video): token checked; FileResponse answers the Range requests a
    <video> element needs to seek."""

    async def handler(request: web.Request) -> web.StreamResponse:
        access.visitor(request)
        return web.FileResponse(path)

    return handler


def add_assets(app: web.Application, folder: Path, names: Iterable[str]) -> None:
    """Scripts and styles: no data in them, so no token (pages load them by plain relative URLs)."""
    for name in names:
        path = folder / name

        async def asset(_: web.Request, path: Path = path) -> web.StreamResponse:
            return web.FileResponse(path, headers=NO_STORE)

        app.router.add_get("/" + name, asset)


@dataclass(eq=False)
class Socket:
    """One open WebSocket and who is at the other end."""

    ws: web.WebSocketResponse
    visitor: Visitor


class Fanout:
    """The open WebSockets of one kind of page, each sent only what its visitor may see."""

    def __init__(self, heartbeat: float = 10.0) -> None:
        self.heartbeat = heartbeat
        self.sockets: set[Socket] = set()
        self._sends: set[asyncio.Task[None]] = set()

    async def accept(
        self, request: web.Request, visitor: Visitor, first: Callable[[], object] | None = None
    ) -> web.WebSocketResponse:
        """Hold the socket open until the page goes; first() (as JSON) is its first message,
        taken once the socket is open so that no update falls between it and the next push."""
        ws = web.WebSocketResponse(heartbeat=self.heartbeat)
        await ws.prepare(request)
        socket = Socket(ws, visitor)
        if first is not None:
            await ws.send_str(json.dumps(first()))
        self.sockets.add(socket)
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self.sockets.discard(socket)
        return ws

    async def send(self, message_for: Callable[[Visitor], object | None]) -> None:
        """To each page, message_for(its visitor) as JSON; None sends that page nothing."""
        for socket in list(self.sockets):
            message = message_for(socket.visitor)
            if message is None or socket.ws.closed:
                continue
            try:
                await socket.ws.send_str(json.dumps(message))
            except ConnectionError:
                self.sockets.discard(socket)

    def broadcast(self, message: object) -> None:
        """The same message to every page, without waiting (for callers that cannot await)."""
        text = json.dumps(message)
        for socket in list(self.sockets):
            if socket.ws.closed:
                self.sockets.discard(socket)
                continue
            task = asyncio.get_running_loop().create_task(socket.ws.send_str(text))
            self._sends.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        # A page that went away mid-send: its socket leaves the set when its handler ends.
        if not task.cancelled():
            task.exception()

    async def close(self) -> None:
        # Open pages would otherwise hold the shutdown for aiohttp's whole grace period.
        for socket in list(self.sockets):
            await socket.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")


@contextlib.asynccontextmanager
async def listening(
    app: web.Application,
    bind: str,
    port: int,
    *accesses: Access,
    title: str,
    fanouts: Iterable[Fanout] = (),
) -> AsyncIterator[int]:
    """Serve app on bind:port while the block runs; yields the port (0 picks a free one) once
    listening, after logging the URL of each grant of each scope. Refuses an exposed bind
    while a scope has no tokens."""
    check_exposure(bind, *accesses)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, bind, port)
        try:
            await site.start()
        except OSError as err:
            raise ConfigError(f"cannot listen on {bind}:{port}: {err.strerror}") from None
        port = runner.addresses[0][1]
        for access in accesses:
            for whom, url in access.urls(f"http://{url_host(bind)}:{port}"):
                log.info("%s, %s: %s", title, whom, url)
        yield port
    finally:
        for fanout in fanouts:
            await fanout.close()
        await runner.cleanup()
