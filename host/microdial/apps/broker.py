"""`microdial broker config`: a Mosquitto configuration for the lab, and the command that starts it."""

from __future__ import annotations

import argparse

from microdial.broker_config.mosquitto import BrokerSettings, queue_limits, write_broker
from microdial.config import Options

OPTIONS = Options(BrokerSettings, "broker")


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="broker_command", required=True, metavar="COMMAND")
    config = commands.add_parser(
        "config",
        help="write a Mosquitto configuration for the lab",
        description="Write a Mosquitto configuration for the lab: persistent sessions, queues sized "
        "for a recorder outage, a listener, TLS and users with per-role ACLs when asked.",
    )
    OPTIONS.add_to(config)


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    written = write_broker(settings)
    for path in written.files:
        print(f"wrote {path}")
    limits = queue_limits(settings.dials, settings.rate_hz, settings.outage)
    print(
        f"queues: {limits.messages} messages, {limits.bytes / 1e6:.0f} MB per recorder "
        f"({settings.outage:g} s of {settings.dials} dials at {settings.rate_hz:g} Hz)"
    )
    for name, password in sorted(written.generated_passwords.items()):
        # Shown this once; the password file keeps only its hash.
        print(f"generated password for {name}: {password}")
    print(f"start it: {written.start_command}")
    return 0
