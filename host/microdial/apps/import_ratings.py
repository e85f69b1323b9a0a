"""`microdial import`: bring CARMA, DARMA, Continuum or any time/rating table into a session folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from microdial.store.importers import FORMATS, import_request


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=(*FORMATS, "xdf"), help="the tool that wrote the file")
    parser.add_argument("file", type=Path, help="the exported .csv, .xlsx or .xdf")
    parser.add_argument(
        "--session", help="session code to add the ratings to (xdf: default from the streams' metadata)"
    )
    parser.add_argument(
        "--role",
        action="append",
        help="rater role, e.g. client or therapist; once per --value to give each column its own "
        "(xdf: default from the streams' metadata)",
    )
    parser.add_argument(
        "--stream", action="append", default=[], help="xdf: a rating stream's name; repeatable (default: all)"
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
    if args.format == "xdf":
        # Imported only for XDF files: pyxdf is not needed for the others.
        from microdial.store.xdf import import_xdf

        role = args.role[0] if args.role else None
        dials = import_xdf(args.file, out=args.out, session=args.session, role=role, streams=args.stream)
        print(f"imported {args.file} into {args.out} as {', '.join(dials)}")
        return 0
    dials = import_request(vars(args))
    print(f"imported {args.file} into {args.out / args.session} as {', '.join(dials)}")
    return 0
