"""Schema migrations: applied once each, in order, recorded in the version table."""

from __future__ import annotations

from pathlib import Path

import pytest

from microdial.practice import db


def test_migrations_apply_once_and_upgrade_old_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = db.connect(tmp_path)
    assert db.version(database) == len(db.MIGRATIONS)
    database.execute("INSERT INTO users (code, role, created) VALUES ('a', 'admin', 0)")
    database.close()
    database = db.connect(tmp_path)  # nothing re-applied: the row is still there
    assert [tuple(row) for row in database.execute("SELECT code FROM users")] == [("a",)]
    database.close()
    later = [*db.MIGRATIONS, "ALTER TABLE users ADD COLUMN display_name TEXT"]
    monkeypatch.setattr(db, "MIGRATIONS", later)
    database = db.connect(tmp_path)
    assert db.version(database) == len(later)
    assert [tuple(row) for row in database.execute("SELECT code, display_name FROM users")] == [("a", None)]


def test_a_failing_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db.connect(tmp_path).close()
    monkeypatch.setattr(
        db, "MIGRATIONS", [*db.MIGRATIONS, "CREATE TABLE extra (x); ALTER TABLE nowhere ADD y"]
    )
    with pytest.raises(Exception, match="nowhere"):
        db.connect(tmp_path)
    monkeypatch.undo()
    database = db.connect(tmp_path)
    assert db.version(database) == len(db.MIGRATIONS)
    assert database.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchone() is None
