"""`microdial import`: bring CARMA, DARMA or any time/rating table into a session folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from microdial.errors import ConfigError
from microdial.model import Code
from microdial.store.importers import FORMATS, ColumnLayout, import_file

_CODE: TypeAdapter[str] = TypeAdapter(Code)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=FORMATS, help="the tool that wrote the file")
    parser.add_argument("file", type=Path, help="the exported .csv or .xlsx")
    parser.add_argument("--session", required=True, help="session code to add the ratings to")
    parser.add_argument("--role", required=True, help="rater role, e.g. client or therapist")
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
    for flag in ("session", "role", "dial"):
        value = getattr(args, flag)
        if value is None:
            continue
        try:
            _CODE.validate_python(value)
        except ValidationError:
            raise ConfigError(
                f"--{flag} {value!r}: use letters, digits, '_', '.', '-' (at most 64)"
            ) from None
    if args.session in (".", ".."):
        raise ConfigError(f"--session {args.session!r} is not a session code")
    layout = None
    if args.format == "columns":
        if args.time is None or not args.value or args.scale is None:
            raise ConfigError("columns needs --time COLUMN, --value COLUMN and --scale LOW HIGH")
        layout = ColumnLayout(
            time=args.time,
            values=args.value,
            low=args.scale[0],
            high=args.scale[1],
            time_unit=args.time_unit,
            tool=args.tool,
            lower_label=args.lower_label,
            upper_label=args.upper_label,
        )
    elif args.time or args.value or args.scale or args.tool:
        raise ConfigError(f"--time, --value, --scale and --tool are for 'columns', not {args.format}")
    dials = import_file(
        args.format,
        args.file,
        session=args.session,
        role=args.role,
        out=args.out,
        dial=args.dial,
        layout=layout,
    )
    print(f"imported {args.file} into {args.out / args.session} as {', '.join(dials)}")
    return 0
