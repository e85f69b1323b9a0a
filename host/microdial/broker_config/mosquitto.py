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

from pydantic import BaseModel, ConfigDict, Field, model_validator

from microdial.broker_config.access import BrokerUser, acl_text, write_password_file

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


class Tls(BaseModel):
    model_config = ConfigDict(frozen=True)

    cert: Path
    key: Path
    cafile: Path | None = None
    require_certificate: bool = False

    @model_validator(mode="after")
    def _ca_for_clients(self) -> Tls:
        if self.require_certificate and self.cafile is None:
            raise ValueError("require_certificate needs cafile: the CA that signs the clients' certificates")
        return self


class LabBroker(BaseModel):
    """Everything the configuration says."""

    model_config = ConfigDict(frozen=True)

    address: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    dials: int = Field(8, ge=1)
    rate_hz: float = Field(100.0, gt=0)
    outage: float = Field(600.0, gt=0)
    tls: Tls | None = None
    users: dict[str, BrokerUser] | None = None
    # Mosquitto started as root switches to this user; it must be able to write the data folder.
    run_as: str = Field(default_factory=getpass.getuser)


@dataclass(frozen=True, slots=True)
class Written:
    files: list[Path]
    start_command: str
    # Passwords generated for users that had none; shown once, stored nowhere but as hashes.
    generated_passwords: dict[str, str]


def config_text(broker: LabBroker, folder: Path) -> str:
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
    if broker.tls is not None:
        lines += [f"certfile {broker.tls.cert.resolve()}", f"keyfile {broker.tls.key.resolve()}"]
        if broker.tls.cafile is not None:
            lines.append(f"cafile {broker.tls.cafile.resolve()}")
        lines.append(f"require_certificate {'true' if broker.tls.require_certificate else 'false'}")
    if broker.users is None:
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


def write_broker(broker: LabBroker, out: Path) -> Written:
    """The configuration (and, with users, the password and ACL files) into out."""
    folder = out.resolve()
    (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
    files = []
    generated: dict[str, str] = {}
    if broker.users is not None:
        generated = write_password_file(folder / PASSWORD_NAME, broker.users)
        (folder / ACL_NAME).write_text(acl_text(broker.users))
        files += [folder / PASSWORD_NAME, folder / ACL_NAME]
    config = folder / CONFIG_NAME
    config.write_text(config_text(broker, folder))
    return Written([config, *files], f"mosquitto -c {shlex.quote(str(config))}", generated)
