"""Shared fixtures: a small typed art graph written to a temp folder, and the shared data sets."""
from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(name: str) -> Path:
    p = SHARED / name
    if not p.exists():
        pytest.skip(f"{p} is not available")
    return p


@pytest.fixture(autouse=True)
def workspace(tmp_path_factory, monkeypatch):
    """Every test gets its own $VLKGE_HOME (runs, verdicts, imports), never the user's; servers and
    CLIs started by a test inherit it."""
    home = tmp_path_factory.mktemp("vlkge-home")
    monkeypatch.setenv("VLKGE_HOME", str(home))
    return home


def write_graph(folder: Path, entities: list[tuple], triples: list[tuple]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "entities.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "type", "label", "description", "image"])
        w.writerows(entities)
    with open(folder / "triples.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["head", "relation", "tail", "mode"])
        w.writerows(triples)
    return folder


def make_art_graph(folder: Path, n_artists: int = 6, per_artist: int = 8, seed: int = 0) -> Path:
    """Artworks by artists; each artist has one style; artworks inherit it. Val/test artworks
    are inductive (never in train), like WikiArt-MKG."""
    rng = random.Random(seed)
    styles = ["impressionism", "baroque", "ukiyo-e"]
    names = ["Claude Monet", "Rembrandt van Rijn", "Katsushika Hokusai", "Berthe Morisot", "Peter Paul Rubens",
             "Utagawa Hiroshige", "Camille Pissarro", "Frans Hals", "Kitagawa Utamaro"]
    subjects = ["Harbour at dawn", "Portrait of a woman", "Garden", "River bank", "Still life", "Winter road",
                "The bridge", "Self-portrait", "Evening", "Boats", "Mountain view", "Market"]
    ents, trip = [], []
    for s in styles:
        ents.append((f"style_{s}", "style", s.title(), f"The {s} style", ""))
    for a in range(n_artists):
        style = styles[a % len(styles)]
        name = names[a % len(names)]
        ents.append((f"artist_{a}", "artist", name, f"A painter of {style}", ""))
        trip.append((f"artist_{a}", "hasStyleOfArtist", f"style_{style}", "train"))
        for k in range(per_artist):
            aid = f"artwork_{a}_{k}"
            ents.append((aid, "artwork", f"{subjects[k % len(subjects)]} by {name}", "", ""))
            mode = "test" if k == 0 else "val" if k == 1 else "train"
            trip.append((aid, "isCreatedByArtist", f"artist_{a}", mode))
            trip.append((aid, "hasStyle", f"style_{style}", mode))
    rng.shuffle(trip)
    return write_graph(folder, ents, trip)


@pytest.fixture
def art_graph(tmp_path: Path) -> Path:
    return make_art_graph(tmp_path / "art")


def make_chain_graph(folder: Path, n: int = 20, holdout_every: int = 7) -> Path:
    """A plain (untyped), transductive graph: "next" around a ring of n nodes, and its inverse
    "prev", part of which is held out for val/test; learnable from the training triples."""
    ents = [(f"e{i}", "node", f"node {i}", "", "") for i in range(n)]
    trip = [(f"e{i}", "next", f"e{(i + 1) % n}", "train") for i in range(n)]
    trip += [(f"e{(i + 1) % n}", "prev", f"e{i}",
              "test" if i % holdout_every == 0 else "val" if i % holdout_every == 1 else "train") for i in range(n)]
    return write_graph(folder, ents, trip)
