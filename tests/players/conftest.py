from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.players.support import make_video, shared_folder


@pytest.fixture(scope="session")
def media_folder() -> Iterator[Path]:
    folder = shared_folder()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def video(media_folder: Path) -> Path:
    return make_video(media_folder)
