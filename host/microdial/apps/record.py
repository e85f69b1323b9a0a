"""`microdial record`: subscribe to the broker and write session folders (see microdial.store)."""

from __future__ import annotations

import argparse
from pathlib import Path

from microdial.apps import run_until_signalled
from microdial.config import add_config_argument, load_settings
from microdial.mqtt.address import DEFAULT_URL
from microdial.recorder import RecorderSettings, record


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help=f"MQTT broker URL (default {DEFAULT_URL})")
    parser.add_argument("--out", type=Path, help="folder for session folders (default ./recordings)")
    parser.add_argument("--session", help="record only this session code (default: every session)")
    parser.add_argument("--client-id", help="MQTT client id; the broker queues for it while it is down")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(
        RecorderSettings,
        "record",
        {"broker": args.broker, "out": args.out, "session": args.session, "client_id": args.client_id},
        args.config,
    )
    run_until_signalled(record(settings))
    return 0
