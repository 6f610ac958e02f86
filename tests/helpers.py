"""Plain functions shared by the tests: small graphs written to a folder, the shared data sets
(skipped cleanly where absent), a tiny run, and waiting on a condition. Fixtures live in conftest.py."""
from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

# The shared data sets sit beside the repository (../shared/data), read in place, never copied.
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MUSEUMS = Path(__file__).resolve().parent / "museums"  # one export per museum convention (test_museums)


def shared(name: str) -> Path:
    """The shared data set ``name``; the calling test is skipped where it is absent."""
    p = SHARED / name
    if not p.is_dir():
        pytest.skip(f"{p} is not available")
    return p


def wait_until(cond: Callable[[], object], timeout: float, what: str, every: float = 0.05):
    """Poll ``cond`` until it returns something truthy and return that; fail naming ``what`` if it
    has not within ``timeout`` seconds (a hang guard, not a measurement)."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


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


def make_chain_graph(folder: Path, n: int = 20, holdout_every: int = 7) -> Path:
    """A plain (untyped), transductive graph: "next" around a ring of n nodes, and its inverse
    "prev", part of which is held out for val/test; learnable from the training triples."""
    ents = [(f"e{i}", "node", f"node {i}", "", "") for i in range(n)]
    trip = [(f"e{i}", "next", f"e{(i + 1) % n}", "train") for i in range(n)]
    trip += [(f"e{(i + 1) % n}", "prev", f"e{i}",
              "test" if i % holdout_every == 0 else "val" if i % holdout_every == 1 else "train") for i in range(n)]
    return write_graph(folder, ents, trip)


ARTISTS = [("claude-monet", "Claude Monet", "impressionism", "French"),
           ("pierre-auguste-renoir", "Pierre-Auguste Renoir", "impressionism", "French"),
           ("joaquin-sorolla", "Joaquín Sorolla", "impressionism", "Spanish"),
           ("rembrandt", "Rembrandt", "baroque", "Dutch"),
           ("frans-hals", "Frans Hals", "baroque", "Dutch"),
           ("katsushika-hokusai", "Katsushika Hokusai", "ukiyo-e", "Japanese")]
GENRES = ["landscape", "portrait", "marina"]
TITLES = ["Harbour at dawn", "Portrait of a woman", "Stormy sea at night", "Garden in bloom",
          "Self-portrait", "The bridge"]
COLOURS = {"impressionism": (150, 190, 230), "baroque": (60, 40, 20), "ukiyo-e": (230, 220, 190)}


def make_app_graph(folder: Path, per_artist: int = 6) -> Path:
    """Artworks (with small images) by six artists, with style, genre, decade; artists with
    nationality and style; inductive val/test artworks. One artwork's image file is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    ents = [("style_impressionism", "style", "Impressionism", "", ""),
            ("style_baroque", "style", "Baroque", "", ""),
            ("style_ukiyo-e", "style", "Ukiyo-e", "", "")]
    ents += [(f"genre_{g}", "genre", g.title(), "", "") for g in GENRES]
    ents += [(f"decade_{d}", "decade", f"{d}s", "", "") for d in (1630, 1830, 1870)]
    trip = []
    for n in {a[3] for a in ARTISTS}:
        ents.append((f"nationality_{n.lower()}", "nationality", n, "", ""))
    for a, (slug, name, style, nat) in enumerate(ARTISTS):
        ents.append((f"artist_{slug}", "artist", name, f"{nat} painter", ""))
        trip.append((f"artist_{slug}", "hasNationality", f"nationality_{nat.lower()}", "train"))
        trip.append((f"artist_{slug}", "isAssociatedWithArtMovement", f"style_{style}", "train"))
        decade = {"impressionism": 1870, "baroque": 1630, "ukiyo-e": 1830}[style]
        for k in range(per_artist):
            aid = f"artwork_{slug}_{k}"
            img = f"images/{aid}.png"
            if not (a == 0 and k == per_artist - 1):  # one missing image
                col = tuple(min(255, c + 9 * k) for c in COLOURS[style])
                Image.new("RGB", (64, 48), col).save(folder / img)
            title = TITLES[k % len(TITLES)]
            ents.append((aid, "artwork", title, f"{title}, painted by {name}", img))
            mode = "test" if k == 0 else "val" if k == 1 else "train"
            trip += [(aid, "isCreatedByArtist", f"artist_{slug}", mode),
                     (aid, "hasStyle", f"style_{style}", mode),
                     (aid, "belongsToGenre", f"genre_{GENRES[k % 3]}", mode),
                     (aid, "isCreatedInDecade", f"decade_{decade}", mode)]
    return write_graph(folder, ents, trip)


def train_tiny(graph, out: Path, epochs: int = 4):
    from vlkge.training.config import TrainConfig
    from vlkge.pipeline import train_run
    cfg = TrainConfig(dim=16, epochs=epochs, eval_every=2, modalities=["structural"], device="cpu",
                      batch_size=256, negatives=16)
    train_run(graph, cfg, out, progress=False)
    return out


# A messy museum export: attributions, date forms, a row without an id, missing image files.
CATALOGUE_ROWS = [
    # Object Number, Title, Artist, Date, Style, Genre, Medium, Filename, Technique
    ("1985.1", "Portrait of a Lady", "Attributed to Anthony van Dyck (Flemish, 1599–1641)", "c. 1631",
     "Baroque", "portrait", "oil on canvas", "a1.png", "glazing"),
    ("1985.2", "Impression, Sunrise", "Claude Monet (French, 1840-1926)", "1872", "Impressionism",
     "marina", "oil on canvas", "a2.png", ""),
    ("1985.3", "Water Lilies", "claude monet", "1868–70", "Impressionism", "landscape", "", "a3.png", ""),
    ("1985.4", "Haystacks", "Claude Monet", "about 1900", "Impressionism", "landscape", "", "", ""),
    ("1985.5", "Saint Jerome", "Workshop of Anthony Van Dyck", "ca. 1650-1655", "Baroque",
     "religious painting", "", "a5.png", "impasto"),
    ("1985.6", "Bowl", "Unknown", "19th century", "", "", "porcelain", "", ""),
    ("1985.7", "", "Circle of Rembrandt van Rijn (Dutch, 1606–1669)", "1890s", "", "", "", "", ""),
    ("", "No id here", "Claude Monet", "1880", "", "", "", "", ""),
    ("1985.9", "The Cradle", "Berthe Morisot (French, 1841–1895)", "late 18th century", "Impressionism",
     "genre painting", "", "missing.png", ""),
    ("1985.10", "Sunset", "Claude Monet", "", "", "", "", "", ""),
    ("1985.11", "Dune", "Claude MONET", "1880s", "Impressionism", "landscape", "", "", ""),
]


def write_catalogue(tmp: Path, rows=CATALOGUE_ROWS, encoding="utf-8") -> tuple[Path, Path]:
    """CATALOGUE_ROWS as a CSV export in ``tmp``, with images for four of its rows; (csv, image folder)."""
    imgs = tmp / "imgs"
    imgs.mkdir()
    for name in ("a1.png", "a2.png", "a3.png", "a5.png"):
        Image.new("RGB", (8, 8), (len(name) * 20, 10, 10)).save(imgs / name)
    cat = tmp / "catalogue.csv"
    with open(cat, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(("Object Number", "Title", "Artist", "Date", "Style", "Genre", "Medium", "Filename",
                    "Technique"))
        w.writerows(rows)
    return cat, imgs


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A ZIP archive of {name: content}, in memory (an upload)."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()
