"""`microdial daemon`: find dials, map their clocks, stamp the video position, publish every sample to MQTT."""

from __future__ import annotations

import argparse
import contextlib
import sys

from microdial.config import Options
from microdial.daemon import DaemonSettings, _main
from microdial.errors import ConfigError
from microdial.shutdown import run as run_on_loop

OPTIONS = Options(DaemonSettings, "daemon")


def configure(parser: argparse.ArgumentParser) -> None:
    OPTIONS.add_to(parser)
    parser.add_argument(
        "--status",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a live status line per dial (default: when the terminal is interactive)",
    )


def load(args: argparse.Namespace) -> DaemonSettings:
    settings = OPTIONS.load(args)
    if settings.session is None:
        raise ConfigError(
            "no session code: give --session CODE (or MICRODIAL_DAEMON_SESSION, or [daemon] session)"
        )
    return settings


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    show_status = args.status if args.status is not None else sys.stderr.isatty()
    with contextlib.suppress(KeyboardInterrupt):
        return run_on_loop(_main(settings, show_status))
    return 130
