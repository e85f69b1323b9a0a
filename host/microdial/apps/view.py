"""`microdial view`: the live page (microdial.web.live) or, with --review, a recording under its video."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from microdial.apps import run_until_signalled
from microdial.config import add_config_argument, load_settings
from microdial.errors import ConfigError
from microdial.mqtt.address import DEFAULT_URL
from microdial.web.base import check_exposure
from microdial.web.live import ViewSettings, serve
from microdial.web.review import open_review, serve_review

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help=f"MQTT broker URL (default {DEFAULT_URL})")
    parser.add_argument("--session", help="session code to show")
    parser.add_argument(
        "--review",
        metavar="SESSION_DIR",
        help="instead of live: a recorded session folder, shown under its video (needs --video)",
    )
    parser.add_argument("--video", help="with --review: the session's video file, played in the page")
    parser.add_argument("--bind", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8765; 0 picks a free one)")
    parser.add_argument(
        "--token",
        help="opens the unblinded view (every role) as ?token=; with tokens, a request without a "
        "valid one gets nothing (required off loopback; generated when only --role-token is given)",
    )
    parser.add_argument(
        "--role-token",
        action="append",
        metavar="ROLE=TOKEN",
        help="a token that opens a view of one role only (blinding); repeatable",
    )
    add_config_argument(parser)


def _role_tokens(given: list[str] | None) -> dict[str, str] | None:
    if not given:
        return None
    tokens: dict[str, str] = {}
    for item in given:
        role, sep, token = item.partition("=")
        if not sep or not role or len(token) < 8:
            raise ConfigError(f"--role-token {item!r}: use ROLE=TOKEN with a token of 8 or more characters")
        tokens[role] = token
    return tokens


def run(args: argparse.Namespace) -> int:
    settings = load_settings(
        ViewSettings,
        "view",
        {
            "broker": args.broker,
            "session": args.session,
            "bind": args.bind,
            "port": args.port,
            "token": args.token,
            "role_tokens": _role_tokens(args.role_token),
        },
        args.config,
    )
    if args.review is not None:
        return run_review(settings, args)
    if args.video is not None:
        raise ConfigError("--video is for review mode: give --review SESSION_DIR too")
    if settings.session is None:
        raise ConfigError("no session code: give --session CODE")
    run_until_signalled(serve(settings))
    return 0


def run_review(settings: ViewSettings, args: argparse.Namespace) -> int:
    if args.video is None:
        raise ConfigError("--review needs --video VIDEO: the recording's video file")
    check_exposure(settings.bind, settings.access())  # before the slow read, not after it
    video = Path(args.video)
    log.info("reading %s (a two-hour session takes some seconds)", args.review)
    recording = open_review(Path(args.review), video)

    run_until_signalled(serve_review(settings, recording, video))
    return 0
