"""The practice database: SQLite in WAL mode, its schema applied as numbered migrations.

A version table holds the number of the last migration applied; opening the database applies the
ones after it, each in its own transaction, so a later release adds MIGRATIONS[n] and old folders
upgrade on their next start. Media files live beside it (see media_dir); rows name them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

DB_FILE = "practice.sqlite3"

MIGRATIONS: list[str] = [
    # 1: users, one-time links, sign-ins, clips, uploads in progress, attempts, reviews.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('trainee', 'supervisor', 'admin')),
        supervisor_id INTEGER REFERENCES users(id),
        password_hash TEXT,
        created REAL NOT NULL
    );
    CREATE TABLE invites (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        expires REAL NOT NULL,
        used REAL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        csrf TEXT NOT NULL,
        expires REAL NOT NULL
    );
    CREATE TABLE clips (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('confrontation', 'withdrawal', 'other')),
        notes TEXT NOT NULL DEFAULT '',
        file TEXT NOT NULL,
        mime TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        consent TEXT,
        created REAL NOT NULL
    );
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        purpose TEXT NOT NULL CHECK (purpose IN ('attempt', 'reply')),
        clip_id TEXT REFERENCES clips(id),
        size INTEGER NOT NULL,
        mime TEXT NOT NULL,
        created REAL NOT NULL,
        file TEXT
    );
    CREATE TABLE attempts (
        id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        clip_id TEXT NOT NULL REFERENCES clips(id),
        number INTEGER NOT NULL,
        file TEXT NOT NULL,
        mime TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        created REAL NOT NULL,
        submitted REAL,
        note TEXT NOT NULL DEFAULT '',
        UNIQUE (user_id, clip_id, number)
    );
    CREATE TABLE reviews (
        id TEXT PRIMARY KEY,
        attempt_id TEXT NOT NULL UNIQUE REFERENCES attempts(id),
        reviewer_id INTEGER NOT NULL REFERENCES users(id),
        rubric TEXT NOT NULL,
        scores TEXT NOT NULL,
        feedback TEXT NOT NULL DEFAULT '',
        reply_file TEXT,
        reply_mime TEXT,
        trace TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX attempts_by_user ON attempts (user_id, clip_id);
    """,
]


def media_dir(data: Path) -> Path:
    return data / "media"


def parts_dir(data: Path) -> Path:
    """Uploads in progress: never shown anywhere until finished and moved to media_dir."""
    return data / "uploads"


def connect(data: Path) -> sqlite3.Connection:
    """The database under data (made if new), migrated to the latest schema."""
    data.mkdir(parents=True, exist_ok=True)
    media_dir(data).mkdir(exist_ok=True)
    parts_dir(data).mkdir(exist_ok=True)
    db = sqlite3.connect(data / DB_FILE, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    # FULL: a finished upload's row survives power loss, not only a killed process.
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    migrate(db)
    return db


def version(db: sqlite3.Connection) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(db: sqlite3.Connection) -> None:
    current = version(db)
    for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
        # executescript commits first, so BEGIN/COMMIT go inside the script: all of it or none.
        try:
            db.executescript(
                f"BEGIN IMMEDIATE; {script}; DELETE FROM schema_version; "
                f"INSERT INTO schema_version VALUES ({number}); COMMIT;"
            )
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            db.close()
            raise
