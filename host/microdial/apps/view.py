"""`microdial view`: the live page (microdial.web.live) or, with --review, a recording under its video."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from microdial.apps import run_until_signalled
from microdial.config import Options
from microdial.errors import ConfigError
from microdial.web.base import check_exposure
from microdial.web.live import ViewSettings, serve
from microdial.web.review import open_review, serve_review

log = logging.getLogger(__name__)


OPTIONS = Options(ViewSettings, "view")


def configure(parser: argparse.ArgumentParser) -> None:
    OPTIONS.add_to(parser)
    parser.add_argument(
        "--review",
        metavar="SESSION_DIR",
        help="instead of live: a recorded session folder, shown under its video (needs --video)",
    )
    parser.add_argument("--video", help="with --review: the session's video file, played in the page")


def load(args: argparse.Namespace) -> ViewSettings:
    settings = OPTIONS.load(args)
    for role, token in settings.role_tokens.items():
        if len(token) < 8:
            raise ConfigError(f"--role-token {role}=...: use ROLE=TOKEN with a token of 8 or more characters")
    return settings


def run(args: argparse.Namespace) -> int:
    settings = load(args)
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
