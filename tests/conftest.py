"""Fixtures shared by the tests (plain helper functions live in helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_art_graph


@pytest.fixture(autouse=True)
def workspace(tmp_path_factory, monkeypatch):
    """Every test gets its own $VLKGE_HOME (runs, verdicts, imports), never the user's; servers and
    CLIs started by a test inherit it."""
    home = tmp_path_factory.mktemp("vlkge-home")
    monkeypatch.setenv("VLKGE_HOME", str(home))
    return home


@pytest.fixture
def art_graph(tmp_path: Path) -> Path:
    return make_art_graph(tmp_path / "art")
