"""Fixtures shared by the tests (plain helper functions live in helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_art_graph


@pytest.fixture
def art_graph(tmp_path: Path) -> Path:
    return make_art_graph(tmp_path / "art")
