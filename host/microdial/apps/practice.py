"""`microdial practice`: the practice server for trainees and supervisors, and its admin commands.

  practice serve                      the pages (127.0.0.1:8094 by default)
  practice user add CODE --role R     add a user (or renew their sign-in link); prints the link
  practice clip add VIDEO --title T   a video into the clip library
  practice clip add --from-session SESSION_DIR --video VIDEO --rupture N --role ROLE --consent REF
  practice export --out DIR           every attempt, score, feedback and trace as CSV
Every command takes --data DIR, the folder the server uses.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from microdial.apps import run_until_signalled
from microdial.config import Options
from microdial.errors import ConfigError
from microdial.practice import auth, db
from microdial.practice.export import export
from microdial.practice.records import KINDS
from microdial.practice.server import serve
from microdial.practice.settings import PracticeSettings

OPTIONS = Options(PracticeSettings, "practice")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "commands:\n" + __doc__.split("\n\n")[1] + "\n\nsee docs/practice.md"
    commands = parser.add_subparsers(dest="practice_command", required=True, metavar="COMMAND")
    OPTIONS.add_to(commands.add_parser("serve", help="serve the practice pages"))

    user = commands.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", help="add a user, or give them a new sign-in link; prints the link")
    add.add_argument("code", help="the user's sign-in code (a pseudonym, not a name)")
    add.add_argument("--role", choices=auth.ROLES, required=True)
    add.add_argument("--supervisor", metavar="CODE", help="a trainee's supervisor (required for trainees)")
    OPTIONS.add_to(add)

    clip = commands.add_parser("clip", help="clips").add_subparsers(dest="clip_command", required=True)
    new = clip.add_parser("add", help="add a clip: a video file, or a rupture cut from a session")
    new.add_argument("video", nargs="?", type=Path, help="a video file (WebM or MP4)")
    new.add_argument("--title", help="what the library shows")
    new.add_argument("--kind", choices=KINDS, default="other", help="the rupture's kind")
    new.add_argument("--notes", default="", help="notes for trainees")
    new.add_argument("--from-session", type=Path, metavar="SESSION_DIR", help="a recorded session folder")
    new.add_argument(
        "--video", dest="session_video", type=Path, metavar="VIDEO", help="with --from-session: its video"
    )
    new.add_argument("--rupture", type=int, metavar="N", help="with --from-session: the rupture's number")
    new.add_argument("--role", help="with --from-session: whose rating located it (client, therapist)")
    new.add_argument("--consent", metavar="REF", help="with --from-session: the client's consent reference")
    OPTIONS.add_to(new)

    out = commands.add_parser("export", help="every attempt, rating and feedback as CSV")
    out.add_argument("--out", type=Path, required=True, help="folder for the CSV files")
    OPTIONS.add_to(out)


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    if args.practice_command == "serve":
        run_until_signalled(serve(settings))
        return 0
    database = db.connect(settings.data)
    try:
        if args.practice_command == "user":
            return add_user(args, settings, database)
        if args.practice_command == "clip":
            return add_clip_command(args, settings, database)
        for path in export(database, args.out):
            print(path)
        return 0
    finally:
        database.close()


def add_user(args: argparse.Namespace, settings: PracticeSettings, database: sqlite3.Connection) -> int:
    try:
        token = auth.add_user(database, args.code, args.role, args.supervisor, settings.invite_hours)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    print(f"{args.code} ({args.role}) signs in once with this link, then sets a password:")
    # In the fragment, the token never reaches a server log or a Referer header.
    print(f"{settings.origin()}/welcome#{token}")
    return 0


def add_clip_command(
    args: argparse.Namespace, settings: PracticeSettings, database: sqlite3.Connection
) -> int:
    # The analysis (numpy, pyarrow) loads only here: the server stays small without it.
    from microdial.practice.media import add_clip, add_rupture_clip

    if args.from_session is None:
        if args.video is None or not args.title:
            raise ConfigError("give VIDEO and --title T, or --from-session SESSION_DIR")
        clip_id = add_clip(database, settings.data, args.video, args.title, args.kind, args.notes)
    else:
        if args.session_video is None or args.rupture is None or args.role is None:
            raise ConfigError("--from-session needs --video VIDEO, --rupture N and --role ROLE")
        clip_id = add_rupture_clip(
            database, settings.data, args.from_session, args.session_video, args.rupture, args.role,
            args.consent, title=args.title, kind=args.kind, notes=args.notes,
        )  # fmt: skip
    print(f"clip {clip_id} added")
    return 0
