"""The `microdial` command: one subcommand per app, each imported only when used."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from typing import Protocol

from microdial import __version__
from microdial.config import print_config
from microdial.errors import MicrodialError

# name -> (module, one-line help). Each module has configure(parser) and run(args) -> int.
APPS: dict[str, tuple[str, str]] = {
    "demo": ("microdial.apps.demo", "two simulated dials, daemon, broker and recorder, live in the terminal"),
    "daemon": ("microdial.apps.daemon", "read dials, map their clocks, publish samples to MQTT"),
    "record": ("microdial.apps.record", "subscribe and write session recordings"),
    "import": (
        "microdial.apps.import_ratings",
        "bring CARMA, DARMA, Continuum or any rating table into a session folder",
    ),
    "view": ("microdial.apps.view", "live web page of every rater's trace (WebSocket, canvas)"),
    "watch": ("microdial.apps.watch", "live terminal table of the dials on the broker"),
    "analyze": ("microdial.apps.analyze", "statistics, ruptures, repairs, figure and report for one session"),
    "analyze-course": ("microdial.apps.analyze_course", "ruptures and repairs across a treatment's sessions"),
    "analyze-study": (
        "microdial.apps.analyze_study",
        "one row per dyad x session: congruence, ruptures, repairs",
    ),
    "export": ("microdial.apps.export", "the per-second grid of a session as CSV and Parquet"),
    "player": ("microdial.apps.player", "play a video in the browser and follow its frames for media time"),
    "sim": ("microdial.apps.sim", "a simulated dial running the real firmware on a pseudo-terminal"),
    "firmware": ("microdial.apps.firmware", "check dial settings; install the firmware on a CIRCUITPY drive"),
    "broker": ("microdial.apps.broker", "write a Mosquitto configuration for the lab: queues, TLS, users"),
    "study": ("microdial.apps.study", "a study session: console and rater pages, rating, clips, questions"),
    "doctor": ("microdial.apps.doctor", "check dials, permissions, udev rule, broker, player: what to fix"),
    "practice": ("microdial.apps.practice", "practise responding to rupture clips; supervisors review"),
}


class App(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _load(name: str) -> App:
    module: App = importlib.import_module(APPS[name][0])
    return module


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microdial", description=__doc__)
    parser.add_argument("--version", action="version", version=f"microdial {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="json: one JSON object per log line, for log collectors",
    )
    sub = parser.add_subparsers(dest="app", required=True, metavar="COMMAND")
    wanted = next((arg for arg in argv if arg in APPS), None)
    for name, (_, help_text) in APPS.items():
        # No abbreviations: `--password SECRET` must be refused, not taken for --password-file.
        app_parser = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        # Only the chosen app's module is imported, so a broken optional part never blocks the others.
        if name == wanted:
            _load(name).configure(app_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if args.log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    try:
        if print_config(args):
            return 0
        return _load(args.app).run(args)
    except MicrodialError as err:
        print(f"microdial {args.app}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
