"""`microdial broker config`: a Mosquitto configuration for the lab, and the command that starts it."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from microdial.broker_config.access import load_users
from microdial.broker_config.mosquitto import LabBroker, Tls, queue_limits, write_broker
from microdial.config import Options
from microdial.errors import ConfigError


class BrokerConfigSettings(BaseSettings):
    out: Path = Field(
        Path("broker"), description="folder for mosquitto.conf, its data, password and ACL files"
    )
    address: str = Field("127.0.0.1", description="address the broker listens on (0.0.0.0: every interface)")
    port: int = Field(1883, ge=1, le=65535, description="port the broker listens on")
    dials: int = Field(8, ge=1, description="dials of the largest session, for sizing the queues")
    rate_hz: float = Field(100.0, gt=0, description="samples a second per dial, for sizing the queues")
    outage: float = Field(
        600.0,
        gt=0,
        description="seconds a recorder may be away without losing a sample, for sizing the queues",
    )
    cert: Path | None = Field(None, description="the broker's TLS certificate (PEM): turns TLS on")
    key: Path | None = Field(None, description="the private key of --cert (PEM)")
    cafile: Path | None = Field(None, description="CA certificate that signs the clients' certificates")
    require_certificate: bool = Field(
        False, description="clients must present a certificate signed by --cafile"
    )
    users: Path | None = Field(
        None,
        description="TOML file of [users.NAME] tables (role, sessions, password_file or password_env): "
        "writes a password file and an ACL, and turns anonymous access off",
    )
    run_as: str = Field(
        default_factory=getpass.getuser, description="user Mosquitto runs as when started by root"
    )


OPTIONS = Options(BrokerConfigSettings, "broker")


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="broker_command", required=True, metavar="COMMAND")
    config = commands.add_parser(
        "config",
        help="write a Mosquitto configuration for the lab",
        description="Write a Mosquitto configuration for the lab: persistent sessions, queues sized "
        "for a recorder outage, a listener, TLS and users with per-role ACLs when asked.",
    )
    OPTIONS.add_to(config)


def _tls(settings: BrokerConfigSettings) -> Tls | None:
    if settings.cert is None and settings.key is None:
        if settings.cafile is not None or settings.require_certificate:
            raise ConfigError("--cafile and --require-certificate need TLS: give --cert and --key")
        return None
    if settings.cert is None or settings.key is None:
        raise ConfigError("TLS needs both --cert and --key")
    try:
        return Tls(
            cert=settings.cert,
            key=settings.key,
            cafile=settings.cafile,
            require_certificate=settings.require_certificate,
        )
    except ValueError as err:
        raise ConfigError(str(err).splitlines()[-1]) from None


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    broker = LabBroker(
        address=settings.address,
        port=settings.port,
        dials=settings.dials,
        rate_hz=settings.rate_hz,
        outage=settings.outage,
        tls=_tls(settings),
        users=None if settings.users is None else load_users(settings.users),
        run_as=settings.run_as,
    )
    written = write_broker(broker, settings.out)
    for path in written.files:
        print(f"wrote {path}")
    limits = queue_limits(broker.dials, broker.rate_hz, broker.outage)
    print(
        f"queues: {limits.messages} messages, {limits.bytes / 1e6:.0f} MB per recorder "
        f"({broker.outage:g} s of {broker.dials} dials at {broker.rate_hz:g} Hz)"
    )
    for name, password in sorted(written.generated_passwords.items()):
        # Shown this once; the password file keeps only its hash.
        print(f"generated password for {name}: {password}")
    print(f"start it: {written.start_command}")
    return 0
