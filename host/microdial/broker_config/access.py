"""Who may do what on a lab's broker: users with roles, their password file and their ACL file.

A user has one role and, for roles tied to sessions, the session codes it serves. The ACL is
Mosquitto's acl_file (mosquitto.conf(5)): per-user `topic` lines, so a daemon's rights name its
sessions literally. Pattern lines (%u, %c) apply to every user, whatever its role, so they carry
only what every user may have: the broker's version and a probe area of the user's own.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from microdial.errors import ConfigError
from microdial.model import Code
from microdial.mqtt.topics import CONFIRMED, PREFIX, REPLAY

Role = Literal["daemon", "recorder", "viewer", "controller"]
Access = Literal["read", "write", "readwrite"]

# Where `microdial doctor` probes the broker's queues; every user has its own.
PROBE_PREFIX = "microdial/doctor"


@dataclass(frozen=True, slots=True)
class Rule:
    access: Access
    topic: str  # "{session}" becomes each of the user's sessions, or + for users of every session


# End-to-end delivery (protocol/SPEC.md 3.5): a recorder's retained confirmations of each dial's
# journal and its requests for replays; the daemons read both for their sessions.
DELIVERY_TOPICS: tuple[str, ...] = (
    f"{PREFIX}/{{session}}/+/{CONFIRMED}/+",
    f"{PREFIX}/{{session}}/+/{REPLAY}/+",
)
RECORDER_PUBLISHES: tuple[Rule, ...] = tuple(Rule("write", topic) for topic in DELIVERY_TOPICS)

ROLE_RULES: dict[Role, tuple[Rule, ...]] = {
    # Its dials' channels, its own retained status, and replies to the commands it reads.
    "daemon": (
        Rule("write", f"{PREFIX}/{{session}}/+/samples"),
        Rule("write", f"{PREFIX}/{{session}}/+/status"),
        Rule("write", f"{PREFIX}/{{session}}/+/events"),
        Rule("write", f"{PREFIX}/{{session}}/daemon/+"),
        Rule("read", f"{PREFIX}/{{session}}/cmd"),
        Rule("write", f"{PREFIX}/{{session}}/cmd/reply"),
        *(Rule("read", topic) for topic in DELIVERY_TOPICS),
    ),
    "recorder": (Rule("read", f"{PREFIX}/{{session}}/#"), *RECORDER_PUBLISHES),
    "viewer": (Rule("read", f"{PREFIX}/{{session}}/#"),),
    "controller": (
        Rule("write", f"{PREFIX}/{{session}}/cmd"),
        Rule("read", f"{PREFIX}/{{session}}/cmd/reply"),
    ),
}
# A daemon publishes the record: it must name the sessions it may write.
SESSION_REQUIRED: frozenset[Role] = frozenset({"daemon"})

# What mosquitto_passwd 2.0 writes: PBKDF2-SHA512, "$7$<iterations>$<salt>$<hash>" in base64.
# The broker reads the iteration count from each line; more than its default 101 costs a
# millisecond per connection and slows guessing from a stolen file a hundredfold.
HASH_ITERATIONS = 10_000
SALT_BYTES = 12


class BrokerUser(BaseModel):
    """One [users.NAME] table of the users file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    sessions: list[Code] = Field(default_factory=list)
    # Where the password comes from; with neither, an existing entry of the password file is kept,
    # else a password is generated and printed once.
    password_file: Path | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _sessions_given(self) -> BrokerUser:
        if self.role in SESSION_REQUIRED and not self.sessions:
            raise ValueError(f'a {self.role} user needs sessions = ["CODE", ...]: the sessions it may write')
        return self


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: dict[Code, BrokerUser]


def load_users(path: Path) -> dict[str, BrokerUser]:
    try:
        document = tomllib.loads(path.read_text())
        return dict(UsersFile.model_validate(document).users)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"users file {path}: {err}") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"users file {path}: {where}: {first['msg']}") from None


def acl_text(users: dict[str, BrokerUser]) -> str:
    lines = [
        "# Written by `microdial broker config`; edit the users file and run it again instead.",
        "# Every user: the broker's version, and a probe area of its own for `microdial doctor`.",
        "pattern read $SYS/broker/version",
        f"pattern readwrite {PROBE_PREFIX}/%u/#",
    ]
    for name, user in sorted(users.items()):
        lines += [
            "",
            f"user {name}",
            f"# {user.role}" + (f" of {', '.join(user.sessions)}" if user.sessions else ""),
        ]
        for session in user.sessions or ["+"]:
            lines += [
                f"topic {rule.access} {rule.topic.format(session=session)}" for rule in ROLE_RULES[user.role]
            ]
    return "\n".join(lines) + "\n"


def hash_password(password: str, salt: bytes | None = None, iterations: int = HASH_ITERATIONS) -> str:
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _read_hashes(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    entries = (line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)
    return {name: hashed for name, hashed in entries}


def _password(name: str, user: BrokerUser) -> str | None:
    """The password the users file points to, or None when it names no source."""
    if user.password_file is not None:
        try:
            text = user.password_file.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"user {name}: cannot read its password_file: {err}") from None
        if not text or not text[0]:
            raise ConfigError(f"user {name}: its password_file {user.password_file} is empty")
        return text[0]
    if user.password_env is not None:
        value = os.environ.get(user.password_env)
        if not value:
            raise ConfigError(f"user {name}: the environment variable {user.password_env} is not set")
        return value
    return None


def write_password_file(path: Path, users: dict[str, BrokerUser]) -> dict[str, str]:
    """Hashes for every user into path (0600); returns the passwords it generated, by user.

    A user whose password comes from nowhere keeps the hash it has in path already, so running
    the command again changes no one's password.
    """
    existing = _read_hashes(path)
    generated: dict[str, str] = {}
    lines = []
    for name, user in sorted(users.items()):
        password = _password(name, user)
        if password is None and name in existing:
            lines.append(f"{name}:{existing[name]}")
            continue
        if password is None:
            password = generated[name] = secrets.token_urlsafe(18)
        lines.append(f"{name}:{hash_password(password)}")
    _write_private(path, "\n".join(lines) + "\n")
    return generated


def _write_private(path: Path, text: str) -> None:
    """Write text to path readable by its owner alone, from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)
