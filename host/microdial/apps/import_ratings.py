"""`microdial import`: bring CARMA, DARMA, Continuum or any time/rating table into a session folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from microdial.store.importers import FORMATS, import_request


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=FORMATS, help="the tool that wrote the file")
    parser.add_argument("file", type=Path, help="the exported .csv or .xlsx")
    parser.add_argument("--session", required=True, help="session code to add the ratings to")
    parser.add_argument(
        "--role",
        action="append",
        required=True,
        help="rater role, e.g. client or therapist; once per --value to give each column its own",
    )
    parser.add_argument("--treatment", help="treatment (dyad) code, kept in session.json")
    parser.add_argument("--participant", help="participant code, kept in session.json and with the samples")
    parser.add_argument(
        "--changes-only",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the file has a row only when the value changed: hold each value until the next "
        "(default: detected)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("recordings"), help="recordings folder (default ./recordings)"
    )
    parser.add_argument("--dial", help="dial id for the ratings (default: FORMAT-FILENAME)")
    table = parser.add_argument_group(
        "columns", "a table with a header row (Continuum and other tools): which columns, which scale"
    )
    table.add_argument("--time", help="the column of media time")
    table.add_argument("--time-unit", choices=("s", "ms"), default="s", help="unit of --time (default s)")
    table.add_argument(
        "--value", action="append", default=[], help="a rating column; repeat for several dimensions"
    )
    table.add_argument(
        "--scale", nargs=2, type=float, metavar=("LOW", "HIGH"), help="the scale the ratings were made on"
    )
    table.add_argument("--tool", help="the program that wrote the file, kept with the ratings")
    table.add_argument("--lower-label", help="the scale's label at LOW")
    table.add_argument("--upper-label", help="the scale's label at HIGH")


def run(args: argparse.Namespace) -> int:
    dials = import_request(vars(args))
    print(f"imported {args.file} into {args.out / args.session} as {', '.join(dials)}")
    return 0
