"""A Mosquitto configuration for a lab: persistent, with queues that hold a session, optionally TLS and users.

The sizing rule for the queues, per persistent subscriber (each recorder has its own queue):
a recorder away for `outage` seconds while `dials` dials send `rate_hz` samples a second misses
at most dials × outage × (rate_hz + 2) messages: one per sample at worst (the daemon batches, so
in practice fewer), plus a status and an event a second per dial. Their payloads are at most
SAMPLE_BYTES per sample and STATUS_BYTES per status or event. Mosquitto drops, silently, every
message past either limit, so both are set from the rule with that worst case.
"""

from __future__ import annotations

import getpass
import shlex
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from microdial.broker_config.access import BrokerUser, acl_text, load_users, write_password_file

# A sample's JSON is ~380 bytes with a media path of 30 characters; this leaves room for long paths.
SAMPLE_BYTES = 512
STATUS_BYTES = 2048
OTHER_MESSAGES_PER_SECOND = 2  # a status and an event per dial, generously
# Mosquitto writes its whole in-memory database at each autosave: a broker killed (not stopped)
# loses what arrived since the last one. Two seconds bounds that loss without rewriting a large
# backlog many times a second.
AUTOSAVE_SECONDS = 2
# A recorder that never comes back (a laptop that left the lab) stops holding a queue after this.
PERSISTENT_CLIENT_EXPIRATION = "14d"

CONFIG_NAME = "mosquitto.conf"
PASSWORD_NAME = "passwd"
ACL_NAME = "acl"
DATA_DIR = "data"


@dataclass(frozen=True, slots=True)
class QueueLimits:
    messages: int
    bytes: int


def queue_limits(dials: int, rate_hz: float, outage: float) -> QueueLimits:
    """What one persistent subscriber's queue must hold through an outage (the module's sizing rule)."""
    seconds = dials * outage
    return QueueLimits(
        messages=round(seconds * (rate_hz + OTHER_MESSAGES_PER_SECOND)),
        bytes=round(seconds * (rate_hz * SAMPLE_BYTES + OTHER_MESSAGES_PER_SECOND * STATUS_BYTES)),
    )


class BrokerSettings(BaseSettings):
    """Everything the configuration says: the options of `microdial broker config`."""

    out: Path = Field(
        Path("broker"),
        description="folder for mosquitto.conf, its data, password and ACL files",
        json_schema_extra={"metavar": "DIR"},
    )
    address: str = Field("127.0.0.1", description="address the broker listens on (0.0.0.0: every interface)")
    port: int = Field(1883, ge=1, le=65535, description="port the broker listens on")
    dials: int = Field(
        8,
        ge=1,
        description="dials of the largest session, for sizing the queues",
        json_schema_extra={"metavar": "N"},
    )
    rate_hz: float = Field(
        100.0,
        gt=0,
        description="samples a second per dial, for sizing the queues",
        json_schema_extra={"metavar": "HZ"},
    )
    outage: float = Field(
        600.0,
        gt=0,
        description="seconds a recorder may be away without losing a sample, for sizing the queues",
        json_schema_extra={"metavar": "SECONDS"},
    )
    cert: Path | None = Field(
        None,
        description="the broker's TLS certificate (PEM): turns TLS on",
        json_schema_extra={"metavar": "FILE"},
    )
    key: Path | None = Field(
        None, description="the private key of --cert (PEM)", json_schema_extra={"metavar": "FILE"}
    )
    cafile: Path | None = Field(
        None,
        description="CA certificate that signs the clients' certificates",
        json_schema_extra={"metavar": "FILE"},
    )
    require_certificate: bool = Field(
        False, description="clients must present a certificate signed by --cafile"
    )
    users: Path | None = Field(
        None,
        description="TOML file of [users.NAME] tables (role, sessions, password_file or password_env): "
        "writes a password file and an ACL, and turns anonymous access off",
        json_schema_extra={"metavar": "FILE"},
    )
    # Mosquitto started as root switches to this user; it must be able to write the data folder.
    run_as: str = Field(
        default_factory=getpass.getuser,
        description="user Mosquitto runs as when started by root",
        json_schema_extra={"metavar": "USER"},
    )

    @model_validator(mode="after")
    def _whole_tls(self) -> BrokerSettings:
        if (self.cert is None) != (self.key is None):
            raise ValueError("TLS needs both cert and key")
        if self.cert is None and (self.cafile is not None or self.require_certificate):
            raise ValueError("cafile and require_certificate need TLS: give cert and key")
        if self.require_certificate and self.cafile is None:
            raise ValueError("require_certificate needs cafile: the CA that signs the clients' certificates")
        return self


@dataclass(frozen=True, slots=True)
class Written:
    files: list[Path]
    start_command: str
    # Passwords generated for users that had none; shown once, stored nowhere but as hashes.
    generated_passwords: dict[str, str]


def config_text(broker: BrokerSettings, folder: Path, users: dict[str, BrokerUser] | None) -> str:
    limits = queue_limits(broker.dials, broker.rate_hz, broker.outage)
    lines = [
        "# Written by `microdial broker config`: a broker for microdial dials, daemons and recorders.",
        "",
        "# Persistent subscribers (recorders) keep their subscriptions and queued samples across a",
        f"# broker restart; the database reaches disk every {AUTOSAVE_SECONDS} s.",
        "persistence true",
        f"persistence_location {folder / DATA_DIR}/",
        f"autosave_interval {AUTOSAVE_SECONDS}",
        f"persistent_client_expiration {PERSISTENT_CLIENT_EXPIRATION}",
        "",
        f"# Each recorder's queue holds {broker.outage:g} s of {broker.dials} dials at {broker.rate_hz:g} Hz:",
        "# dials x outage x (rate + 2) messages (one per sample at worst, plus status and events),",
        f"# dials x outage x (rate x {SAMPLE_BYTES} + 2 x {STATUS_BYTES}) payload bytes. Stock Mosquitto",
        "# holds 1000 messages, a few seconds of 8 dials, and drops the rest without a word.",
        f"max_queued_messages {limits.messages}",
        f"max_queued_bytes {limits.bytes}",
        "queue_qos0_messages false",
        "set_tcp_nodelay true",
        "",
        f"user {broker.run_as}",
        "",
        f"listener {broker.port} {broker.address}",
    ]
    if broker.cert is not None and broker.key is not None:
        lines += [f"certfile {broker.cert.resolve()}", f"keyfile {broker.key.resolve()}"]
        if broker.cafile is not None:
            lines.append(f"cafile {broker.cafile.resolve()}")
        lines.append(f"require_certificate {'true' if broker.require_certificate else 'false'}")
    if users is None:
        lines += [
            "# No users: anyone who reaches this port may publish and read everything.",
            "allow_anonymous true",
        ]
    else:
        lines += [
            "allow_anonymous false",
            f"password_file {folder / PASSWORD_NAME}",
            f"acl_file {folder / ACL_NAME}",
        ]
    return "\n".join(lines) + "\n"


def write_broker(broker: BrokerSettings) -> Written:
    """The configuration (and, with users, the password and ACL files) into broker.out."""
    users = None if broker.users is None else load_users(broker.users)
    folder = broker.out.resolve()
    (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
    files = []
    generated: dict[str, str] = {}
    if users is not None:
        generated = write_password_file(folder / PASSWORD_NAME, users)
        (folder / ACL_NAME).write_text(acl_text(users))
        files += [folder / PASSWORD_NAME, folder / ACL_NAME]
    config = folder / CONFIG_NAME
    config.write_text(config_text(broker, folder, users))
    return Written([config, *files], f"mosquitto -c {shlex.quote(str(config))}", generated)
