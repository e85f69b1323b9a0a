"""`microdial import`: bring CARMA or DARMA rating exports into a session folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from microdial.errors import ConfigError
from microdial.importers import FORMATS, import_file
from microdial.payloads import Code

_CODE: TypeAdapter[str] = TypeAdapter(Code)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=FORMATS, help="the tool that wrote the file")
    parser.add_argument("file", type=Path, help="the exported .csv (CARMA also .xlsx)")
    parser.add_argument("--session", required=True, help="session code to add the ratings to")
    parser.add_argument("--role", required=True, help="rater role, e.g. client or therapist")
    parser.add_argument(
        "--out", type=Path, default=Path("recordings"), help="recordings folder (default ./recordings)"
    )
    parser.add_argument("--dial", help="dial id for the ratings (default: FORMAT-FILENAME)")


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
    dials = import_file(
        args.format, args.file, session=args.session, role=args.role, out=args.out, dial=args.dial
    )
    print(f"imported {args.file} into {args.out / args.session} as {', '.join(dials)}")
    return 0
