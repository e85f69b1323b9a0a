"""`microdial study serve --session CODE --video VIDEO`: the study session from the rater's chair.

Prints the researcher's console link and one link per rater, each with its own token; the
console shows who is where, the live traces and the segments; each rater's page leads them through
instructions, dial check, practice, the whole video, and the clips and questions of their own
ruptures and repairs. See docs/study.md.
"""

from __future__ import annotations

import argparse
import functools

from microdial.apps import run_until_signalled
from microdial.config import Options
from microdial.study.serve import StudySettings, serve_study

OPTIONS = Options(StudySettings, "study")


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the console and the rater pages of one session")
    OPTIONS.add_to(serve)


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    run_until_signalled(serve_study(settings, announce=functools.partial(print, flush=True)))
    return 0
