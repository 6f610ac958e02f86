"""The embedded demo graph: builds offline, once; real facts; no answer leakage."""
from __future__ import annotations

import csv

import pytest
from PIL import Image

from vlkge.data import demo
from vlkge.data.readers import load_graph


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("VLKGE_CACHE", str(cache))
    mp.delenv("VLKGE_DATA", raising=False)
    yield demo.demo_graph_path(), cache
    mp.undo()


def test_builds_into_cache_once(built):
    path, cache = built
    assert path.parent == cache and path.name == f"demo-{demo.demo_version()}"
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temp folders left behind
    before = {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in path.glob("*.csv")}
    assert {"entities.csv", "triples.csv"} <= set(before)
    assert demo.demo_graph_path() == path  # a cache hit: nothing rewritten or replaced
    assert {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in path.glob("*.csv")} == before
    assert [p.name for p in cache.iterdir()] == [path.name]


def test_asking_whether_a_folder_is_the_demo_builds_nothing(built, tmp_path, monkeypatch):
    """The app asks on every graph it opens; a fresh workspace must not draw the demo's ~400
    illustrations (~30 s) for a curator who opened their own collection."""
    path, _ = built
    assert demo.is_demo_folder(path) and demo.is_demo_folder(str(path / ".." / path.name))
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path / "fresh"))
    assert not demo.is_demo_folder(path) and not demo.is_demo_folder(tmp_path) and not demo.is_demo_folder(None)
    assert not (tmp_path / "fresh").exists()


def test_default_data(built, monkeypatch):
    path, cache = built
    monkeypatch.setenv("VLKGE_CACHE", str(cache))
    monkeypatch.delenv("VLKGE_DATA", raising=False)
    assert demo.default_data() == path
    monkeypatch.setenv("VLKGE_DATA", "pykeen:nations")
    assert demo.default_data() == "pykeen:nations"


def test_graph_contents(built):
    path, _ = built
    g = load_graph(path)
    assert not g.warnings
    s = g.summary()
    types = s["entities_per_type"]
    assert types["artist"] >= 40 and types["artwork"] >= 300
    assert all(g.images[i] for i, t in enumerate(g.types) if t == "artwork")
    idx = g.entity_index
    known = {(g.entities[h], g.relations[r], g.entities[t]) for h, r, t in g.all_triples().tolist()}
    wave = "artwork_katsushika-hokusai_the-great-wave-off-kanagawa"
    for fact in [
        ("artist_andrea-del-verrocchio", "isTeacherOf", "artist_leonardo-da-vinci"),
        ("artist_leonardo-da-vinci", "isPupilOf", "artist_andrea-del-verrocchio"),
        ("artist_pietro-perugino", "isTeacherOf", "artist_raphael"),
        ("artist_peter-paul-rubens", "isTeacherOf", "artist_anthony-van-dyck"),
        ("artist_charles-gleyre", "isTeacherOf", "artist_frederic-bazille"),
        ("artist_paul-cezanne", "isInfluencedBy", "artist_camille-pissarro"),
        ("artist_vincent-van-gogh", "isInfluencedBy", "artist_katsushika-hokusai"),
        ("artist_claude-monet", "hasNationality", "nationality_french"),
        ("artwork_claude-monet_impression-sunrise", "isCreatedByArtist", "artist_claude-monet"),
        ("artwork_claude-monet_impression-sunrise", "isCreatedInDecade", "decade_1870s"),
        ("artwork_johannes-vermeer_girl-with-a-pearl-earring", "isCreatedInDecade", "decade_1660s"),
        (wave, "hasStyle", "style_ukiyo-e"),
        (wave, "isCreatedInDecade", "decade_1830s"),
    ]:
        assert fact in known, fact
    assert g.labels[idx[wave]] == "The Great Wave off Kanagawa"
    assert g.types[idx["decade_1830s"]] == "year"
    assert g.descriptions[idx["artist_claude-monet"]] == "French painter, 1840–1926"


def test_artwork_descriptions_do_not_leak(built):
    path, _ = built
    g = load_graph(path)
    for i, t in enumerate(g.types):
        if t == "artwork":
            assert g.descriptions[i] == demo.ARTWORK_DESCRIPTION
            assert "not the artwork" in g.descriptions[i]
    assert "not the artwork" in demo.DEMO_IMAGE_NOTICE


def test_split_inductive(built):
    path, _ = built
    g = load_graph(path)
    tr = g.split("train")
    train_ents = set(tr[:, 0].tolist()) | set(tr[:, 2].tolist())
    n_art = sum(t == "artwork" for t in g.types)
    held = set()
    for s in ("val", "test"):
        t = g.split(s)
        assert t.shape[0] > 0
        for h, _, tail in t.tolist():
            assert g.types[h] == "artwork" and h not in train_ents and tail in train_ents
            held.add(h)
    assert 0.1 * n_art < len(held) <= 0.2 * n_art


def test_images_are_small_and_deterministic(built):
    path, _ = built
    with open(path / "entities.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["type"] == "artwork"][:5]
    for r in rows:
        im = Image.open(path / r["image"])
        assert max(im.size) <= 128
    a = demo.render_illustration("k", "Impressionism", "landscape")
    b = demo.render_illustration("k", "Impressionism", "landscape")
    c = demo.render_illustration("k", "Baroque", "portrait")
    assert a.tobytes() == b.tobytes() != c.tobytes()


def test_fact_tables_consistent():
    arts = list(csv.DictReader(open(demo._HERE / "demo_artworks.csv", encoding="utf-8")))
    people = {r["name"]: r for r in csv.DictReader(open(demo._HERE / "demo_artists.csv", encoding="utf-8"))}
    for a in arts:
        p = people[a["artist"]]
        y = int(a["year"])
        # a work dated within the artist's life (where both dates are known)
        if p["born"]:
            assert int(p["born"]) + 10 <= y, a
        if p["died"]:
            assert y <= int(p["died"]), a
        assert a["style"] in demo.PALETTES


@pytest.mark.slow  # two processes each build the whole demo graph
def test_concurrent_builds(tmp_path, monkeypatch):
    import multiprocessing as mp
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path))
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=demo.demo_graph_path) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert [p.name for p in tmp_path.iterdir()] == [f"demo-{demo.demo_version()}"]
    assert load_graph(demo.demo_graph_path()).num_entities > 400
