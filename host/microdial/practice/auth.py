"""Who a request is: one-time sign-in links, passwords (scrypt), session cookies, CSRF tokens and
a login rate limit.

A link's token and a session's token are stored only as SHA-256 hashes, so a copy of the database
signs nobody in. Every state-changing request of a signed-in user carries the session's CSRF token
in the X-CSRF-Token header (a header no other site's form or image can send); the two requests made
before there is a session (sign in, set a password from a link) must carry X-Requested-With, which a
cross-site page cannot add without a CORS preflight this server never grants.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import sqlite3
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Literal

Role = Literal["trainee", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("trainee", "supervisor", "admin")
MIN_PASSWORD = 10

# RFC 7914's interactive parameters: 16 MiB and some tens of milliseconds per guess.
_N, _R, _P = 2**14, 8, 1


@dataclass(frozen=True)
class User:
    id: int
    code: str
    role: Role
    supervisor_id: int | None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str | None) -> bool:
    """Whether password matches; as slow for a user without a password (or no user: None), so
    the time an answer takes does not tell which codes exist."""
    if not stored:
        check_password(password, _dummy())
        return False
    _, n, r, p, salt, digest = stored.split("$")
    given = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(given, base64.b64decode(digest))


@functools.cache
def _dummy() -> str:
    return hash_password(secrets.token_urlsafe(16))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_from_row(row: sqlite3.Row) -> User:
    return User(row["id"], row["code"], row["role"], row["supervisor_id"])


def user_by_code(db: sqlite3.Connection, code: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute("SELECT * FROM users WHERE code = ?", (code,)).fetchone()
    return row


def add_user(
    db: sqlite3.Connection, code: str, role: Role, supervisor: str | None, invite_hours: float
) -> str:
    """The new user's one-time sign-in token. An existing code gets a fresh link (a forgotten
    password is a new link from the operator), keeping its role unless told otherwise."""
    supervisor_id = None
    if supervisor is not None:
        boss = user_by_code(db, supervisor)
        if boss is None or boss["role"] == "trainee":
            raise ValueError(f"--supervisor {supervisor}: no supervisor or admin with that code")
        supervisor_id = boss["id"]
    if role == "trainee" and supervisor_id is None:
        raise ValueError("a trainee needs --supervisor CODE: the person their attempts go to")
    existing = user_by_code(db, code)
    with db:
        db.execute("BEGIN IMMEDIATE")
        if existing is None:
            cursor = db.execute(
                "INSERT INTO users (code, role, supervisor_id, created) VALUES (?, ?, ?, ?)",
                (code, role, supervisor_id, time.time()),
            )
            user_id = cursor.lastrowid
        else:
            user_id = existing["id"]
            db.execute(
                "UPDATE users SET role = ?, supervisor_id = ?, password_hash = NULL WHERE id = ?",
                (role, supervisor_id, user_id),
            )
            db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
        token = secrets.token_urlsafe(24)
        db.execute(
            "INSERT INTO invites (token_hash, user_id, expires) VALUES (?, ?, ?)",
            (token_hash(token), user_id, time.time() + invite_hours * 3600),
        )
    return token


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"choose a password of at least {MIN_PASSWORD} characters")


def redeem_invite(db: sqlite3.Connection, token: str, hashed: str) -> int:
    """The invited user's id, their password hash (hash_password) now set; the link works once only."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute(
            "SELECT user_id FROM invites WHERE token_hash = ? AND used IS NULL AND expires > ?",
            (token_hash(token), time.time()),
        ).fetchone()
        if row is None:
            raise PermissionError("this sign-in link is used up or has expired: ask for a new one")
        db.execute("UPDATE invites SET used = ? WHERE token_hash = ?", (time.time(), token_hash(token)))
        db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (hashed, row["user_id"]))
    return int(row["user_id"])


def start_session(db: sqlite3.Connection, user_id: int, hours: float) -> str:
    token = secrets.token_urlsafe(32)
    with db:
        db.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires) VALUES (?, ?, ?, ?)",
            (token_hash(token), user_id, secrets.token_urlsafe(24), time.time() + hours * 3600),
        )
    return token


def session_user(db: sqlite3.Connection, token: str) -> tuple[User, str] | None:
    """The signed-in user and their CSRF token, for a live session cookie."""
    row = db.execute(
        "SELECT users.*, sessions.csrf FROM sessions JOIN users ON users.id = sessions.user_id "
        "WHERE sessions.token_hash = ? AND sessions.expires > ?",
        (token_hash(token), time.time()),
    ).fetchone()
    return None if row is None else (user_from_row(row), row["csrf"])


def end_session(db: sqlite3.Connection, token: str) -> None:
    with db:
        db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))


class LoginLimiter:
    """At most `attempts` failed sign-ins per `window` seconds per key (a user code, an address):
    then every try waits, the right password too, until the oldest failure ages out."""

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def wait(self, key: str) -> float:
        """Seconds until key may try again (0: now)."""
        now = time.monotonic()
        times = self._recent(key, now)
        return times[0] + self.window - now if len(times) >= self.attempts else 0.0

    def failed(self, key: str) -> None:
        self._failures[key].append(time.monotonic())
