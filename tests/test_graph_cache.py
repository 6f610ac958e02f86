"""The parsed-graph cache: a second load_graph of unchanged CSVs comes from the cache and is
the same graph; any change to the CSVs, a damaged cache file or changed image files is never
served stale."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from helpers import make_art_graph, shared, write_graph
from vlkge.data import cache as graph_cache
from vlkge.data.graph import SPLITS
from vlkge.data.readers import load_graph


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path / "cache"))


def cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "graphs").glob("*/*.safetensors"))


def assert_same_graph(a, b):
    for f in ("entities", "relations", "types", "labels", "descriptions", "images", "root", "source",
              "fingerprint", "warnings", "excluded_from_eval"):
        assert getattr(a, f) == getattr(b, f), f
    assert set(a.triples) == set(b.triples)
    for s in SPLITS:
        assert a.split(s).dtype == b.split(s).dtype
        assert torch.equal(a.split(s), b.split(s)), s


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def parses(monkeypatch) -> list[int]:
    """Count the CSV parses behind load_graph (a cache hit makes none)."""
    calls = []
    real = graph_cache.CacheEntry.__init__

    def counting(self, *a, **k):
        calls.append(1)
        real(self, *a, **k)
    monkeypatch.setattr(graph_cache.CacheEntry, "__init__", counting)
    return calls


def test_second_load_is_the_cached_graph_and_equal(tmp_path, monkeypatch):
    folder = make_art_graph(tmp_path / "art")
    calls = parses(monkeypatch)
    fresh = load_graph(folder)
    assert len(calls) == 1 and len(cache_files(tmp_path)) == 1
    again = load_graph(folder)
    assert len(calls) == 1, "the unchanged graph was parsed again"
    assert_same_graph(fresh, again)


def test_changed_csv_is_not_served_from_the_cache(tmp_path, monkeypatch):
    folder = make_art_graph(tmp_path / "art")
    load_graph(folder)
    calls = parses(monkeypatch)
    trip = folder / "triples.csv"
    text = trip.read_text()
    # same size, one character different: the fingerprint is of content, not size or mtime
    trip.write_text(text.replace("hasStyle,", "hasStylE,", 1))
    g = load_graph(folder)
    assert len(calls) == 1
    assert "hasStylE" in g.relations
    assert len(cache_files(tmp_path)) == 1, "the stale entry of the same folder was not replaced"
    labels = folder / "entities.csv"
    labels.write_text(labels.read_text().replace("Garden", "Gardens"))
    assert any("Gardens" in x for x in load_graph(folder).labels)
    assert len(calls) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "out of range"])
def test_damaged_cache_file_is_ignored_and_rebuilt(damage, tmp_path, monkeypatch):
    folder = make_art_graph(tmp_path / "art")
    fresh = load_graph(folder)
    (path,) = cache_files(tmp_path)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x00not a safetensors file" * 10)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a well-formed file whose triples name an entity that does not exist
        from vlkge.runs import atomic_save_tensors
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            t = {s: f.get_tensor(s) for s in SPLITS}
        t["train"][0, 2] = 10 ** 6
        atomic_save_tensors(path, t, metadata=meta)
    calls = parses(monkeypatch)
    again = load_graph(folder)
    assert len(calls) == 1
    assert_same_graph(fresh, again)
    calls.clear()
    assert_same_graph(fresh, load_graph(folder))  # rewritten: served from the cache again
    assert not calls


def test_cache_never_writes_into_the_data_folder(tmp_path):
    folder = make_art_graph(tmp_path / "art")
    before = snapshot(folder)
    load_graph(folder)
    load_graph(folder)
    assert snapshot(folder) == before
    assert cache_files(tmp_path)


def test_unwritable_cache_still_loads(tmp_path, monkeypatch):
    folder = make_art_graph(tmp_path / "art")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("VLKGE_CACHE", str(blocker))
    assert load_graph(folder).num_entities > 0


def test_warnings_are_preserved_and_images_rechecked(tmp_path, monkeypatch):
    folder = tmp_path / "g"
    (folder / "img").mkdir(parents=True)
    (folder / "img" / "a.jpg").write_bytes(b"not empty")
    (folder / "img" / "b.jpg").write_bytes(b"not empty")
    ents = [("a", "art", "A", "", "img/a.jpg"), ("b", "art", "B", "", "img/b.jpg"),
            ("c", "art", "C", "", "img/missing.jpg"), ("d", "art", "D", "", "/etc/passwd"),
            ("x", "artist", "X", "", "")]
    trip = [("a", "by", "x", "train"), ("b", "by", "x", "train"), ("c", "by", "x", "test"),
            ("d", "by", "x", "val"), ("a", "by", "x", "train")]
    write_graph(folder, ents, trip)
    fresh = load_graph(folder)
    assert len(fresh.warnings) == 3 and "duplicate" in fresh.warnings[-1]
    calls = parses(monkeypatch)
    assert_same_graph(fresh, load_graph(folder))
    assert not calls
    # image files change while the CSVs stay the same: the cached graph follows the disk
    (folder / "img" / "a.jpg").unlink()
    (folder / "img" / "missing.jpg").write_bytes(b"now here")
    (folder / "img" / "b.jpg").unlink()
    os.symlink("/etc/hostname", folder / "img" / "b.jpg")  # swapped for a link out of the folder
    g = load_graph(folder)
    assert not calls
    assert g.images[:3] == ["", "", "img/missing.jpg"]
    assert any("a.jpg" in w and "not found" in w for w in g.warnings)
    assert any("b.jpg" in w and "leaves the graph folder" in w for w in g.warnings)
    assert not any("missing.jpg" in w for w in g.warnings)
    assert "duplicate" in g.warnings[-1]
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path / "other-cache"))  # a fresh parse of today's disk
    assert_same_graph(load_graph(folder), g)
    assert len(calls) == 1


def test_triples_csv_without_entities_is_cached(tmp_path, monkeypatch):
    p = tmp_path / "t.csv"
    p.write_text("head,relation,tail\na,r,b\nb,r,c\n")
    fresh = load_graph(p)
    assert "no mode column" in fresh.warnings[0]
    calls = parses(monkeypatch)
    assert_same_graph(fresh, load_graph(p))
    assert not calls


@pytest.mark.slow
def test_wikiart_labels_from_cache_equals_the_csv(tmp_path, monkeypatch):
    folder = shared("wikiart-labels")
    fresh = load_graph(folder)
    calls = parses(monkeypatch)
    assert_same_graph(fresh, load_graph(folder))
    assert not calls
