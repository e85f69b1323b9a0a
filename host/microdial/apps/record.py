"""`microdial record`: subscribe to the broker and write session folders (see microdial.recording)."""

from __future__ import annotations

import argparse

from microdial.apps import run_until_signalled
from microdial.config import add_options, settings_from
from microdial.recorder import RecorderSettings, record


def configure(parser: argparse.ArgumentParser) -> None:
    add_options(parser, RecorderSettings, "record")


def run(args: argparse.Namespace) -> int:
    run_until_signalled(record(settings_from(args, RecorderSettings, "record")))
    return 0
