"""`microdial record`: subscribe to the broker and write session folders (see microdial.store)."""

from __future__ import annotations

import argparse

from microdial.apps import run_until_signalled
from microdial.config import Options
from microdial.recorder import RecorderSettings, record

OPTIONS = Options(RecorderSettings, "record")


def configure(parser: argparse.ArgumentParser) -> None:
    OPTIONS.add_to(parser)


def run(args: argparse.Namespace) -> int:
    run_until_signalled(record(OPTIONS.load(args)))
    return 0
