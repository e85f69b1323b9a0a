"""`microdial daemon`: find dials, map their clocks, stamp the video position, publish every sample to MQTT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from microdial.config import add_config_argument, load_settings
from microdial.daemon import DaemonSettings, _main
from microdial.errors import ConfigError
from microdial.mqtt.address import DEFAULT_URL


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", help="the dials' data ports: auto (default), a path, a glob like '/tmp/dials/*'"
    )
    parser.add_argument(
        "--transport", choices=["serial", "hid"], help="how dials are connected (default serial)"
    )
    parser.add_argument("--broker", help=f"MQTT broker URL (default {DEFAULT_URL})")
    parser.add_argument("--session", help="session code (no personal names)")
    parser.add_argument(
        "--rater", help="rater role of a dial the config's [daemon.dials] table does not name"
    )
    parser.add_argument(
        "--player", help="player clock: mpv:SOCKET, vlc:URL, mpris[:NAME], browser[:PORT], free, none"
    )
    parser.add_argument("--video", type=Path, help="video for the built-in browser player (--player browser)")
    parser.add_argument(
        "--status",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a live status line per dial (default: when the terminal is interactive)",
    )
    add_config_argument(parser)


def load(args: argparse.Namespace) -> DaemonSettings:
    settings = load_settings(
        DaemonSettings,
        "daemon",
        {
            "port": args.port,
            "transport": args.transport,
            "broker": args.broker,
            "session": args.session,
            "rater": args.rater,
            "player": args.player,
            "video": args.video,
        },
        args.config,
    )
    if settings.session is None:
        raise ConfigError(
            "no session code: give --session CODE (or MICRODIAL_DAEMON_SESSION, or [daemon] session)"
        )
    return settings


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    show_status = args.status if args.status is not None else sys.stderr.isatty()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_main(settings, show_status))
    return 130
