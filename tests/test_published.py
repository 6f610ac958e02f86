"""Published benchmarks in their authors' layouts, on small generated fixtures."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vlkge.data.published import V2_EXCLUDED_FROM_EVAL, detect_published
from vlkge.data.readers import load_graph
from vlkge.errors import DataError


def _csv(path: Path, header, rows) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


V1_TRIPLES = [
    ("aw_1", "isCreatedByArtist", "claude-monet", "train"),
    ("aw_1", "hasStyle", "Impressionism", "train"),
    ("aw_1", "belongsToGenre", "landscape", "train"),
    ("aw_2", "isCreatedByArtist", "claude-monet", "train"),
    ("aw_2", "hasStyle", "Impressionism", "train"),
    ("aw_3", "isCreatedByArtist", "claude-monet", "val"),
    ("aw_3", "belongsToGenre", "landscape", "val"),
    ("aw_4", "hasStyle", "Impressionism", "test"),
]


def _v1(folder: Path) -> Path:
    folder.mkdir()
    _csv(folder / "wikiart_mkg_v1_triples.csv", ("head", "relation", "tail", "mode"), V1_TRIPLES)
    _csv(folder / "wikiart_v1.csv", ("image_id", "title", "artist"),
         [("aw_1", "Water Lilies", "claude-monet"), ("aw_2", "Haystacks", "claude-monet")])
    (folder / "features").mkdir()
    return folder


def _v2(folder: Path) -> Path:
    folder.mkdir()
    rows = V1_TRIPLES + [
        ("claude-monet", "hasNationality", "French", "train"),
        ("claude-monet", "isRelatedToArtist", "pierre-auguste-renoir", "train"),
        ("pierre-auguste-renoir", "hasNationality", "French", "train"),
        ("aw_1", "isRelatedToArtwork", "aw_2", "train"),
        ("claude-monet", "hasCreatedArtwork", "aw_1", "train"),
        ("aw_1", "isCreatedInYear", "1899", "train"),
    ]
    _csv(folder / "wikiart_mkg_v2_triples.csv", ("head", "relation", "tail", "mode"), rows)
    _csv(folder / "wikiart_v2_artworks.csv", ("id", "title"), [("aw_3", "Poplars")])
    _csv(folder / "wikiart_v2_artists.csv", ("id", "name"), [("claude-monet", "Claude Monet")])
    (folder / "features").mkdir()
    return folder


def test_wikiart_v1(tmp_path):
    folder = _v1(tmp_path / "wikiart_mkg_v1")
    assert detect_published(folder) == "wikiart-mkg-v1"
    g = load_graph(folder)
    assert g.source.startswith("wikiart-mkg-v1:")
    assert g.excluded_from_eval == []
    assert [int(g.split(s).shape[0]) for s in ("train", "val", "test")] == [5, 2, 1]
    i = g.entity_index
    assert g.types[i["aw_1"]] == "artwork" and g.types[i["claude-monet"]] == "artist"
    assert g.types[i["Impressionism"]] == "style" and g.types[i["landscape"]] == "genre"
    assert g.labels[i["aw_1"]] == "Water Lilies" and g.labels[i["aw_3"]] == "aw_3"
    # the triples file itself, and the forced prefix, read the same graph
    assert load_graph(folder / "wikiart_mkg_v1_triples.csv").num_entities == g.num_entities
    assert load_graph(f"wikiart-mkg:{folder}").entities == g.entities


def test_wikiart_v2_excludes_link_relations(tmp_path):
    folder = _v2(tmp_path / "v2")
    assert detect_published(folder) == "wikiart-mkg-v2"
    g = load_graph(folder)
    assert g.excluded_from_eval == V2_EXCLUDED_FROM_EVAL == [
        "isRelatedToArtwork", "isRelatedToArtist", "hasCreatedArtwork"]
    i = g.entity_index
    assert g.labels[i["claude-monet"]] == "Claude Monet" and g.labels[i["aw_3"]] == "Poplars"
    assert g.types[i["French"]] == "nationality" and g.types[i["1899"]] == "year"
    assert g.types[i["pierre-auguste-renoir"]] == "artist"
    assert load_graph(folder / "wikiart_mkg_v2_triples.csv").excluded_from_eval == V2_EXCLUDED_FROM_EVAL


WN9 = [("n01", "n02", "_hypernym"), ("n02", "n01", "_hyponym"), ("n03", "n02", "_hypernym"),
       ("n04", "n03", "_part_of")]


def test_wn9_ikrl_split_files(tmp_path):
    folder = tmp_path / "WN9-IMG"
    folder.mkdir()
    (folder / "train.txt").write_text("".join("\t".join(t) + "\n" for t in WN9[:3]))
    (folder / "valid.txt").write_text("\t".join(WN9[3]) + "\n")
    (folder / "test.txt").write_text("n01\tn03\t_hypernym\n")
    assert detect_published(folder) == "ikrl"
    g = load_graph(folder)
    assert set(g.relations) == {"_hypernym", "_hyponym", "_part_of"}  # relation is the third column
    h, r, t = g.split("train")[0].tolist()
    assert (g.entities[h], g.relations[r], g.entities[t]) == ("n01", "_hypernym", "n02")
    assert g.split("val").shape[0] == 1 and g.split("test").shape[0] == 1
    assert load_graph(f"ikrl:{folder}").relations == g.relations


def test_pykeen_order_split_folder_is_not_ikrl(tmp_path):
    folder = tmp_path / "wn18rr"
    folder.mkdir()
    (folder / "train.txt").write_text("n01\t_hypernym\tn02\n")
    assert detect_published(folder) is None
    assert load_graph(folder).relations == ["_hypernym"]


def test_wn9_authors_csv(tmp_path):
    folder = tmp_path / "wn9_img"
    folder.mkdir()
    _csv(folder / "wn9_img_triples.csv", ("head", "relation", "tail", "mode"),
         [(h, r, t, m) for (h, t, r), m in zip(WN9, ("train", "train", "train", "val"))])
    assert detect_published(folder) == "wn9-img"
    g = load_graph(folder)
    assert g.source.startswith("wn9-img:") and g.split("val").shape[0] == 1
    assert load_graph(f"wn9-img:{folder}").num_entities == 4


def test_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_graph(f"wikiart-mkg:{tmp_path / 'missing'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="triples file not found"):
        load_graph(f"wikiart-mkg:{tmp_path / 'empty'}")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "wikiart_mkg_v1_triples.csv").write_text("head,relation\nx,y\n")
    with pytest.raises(DataError, match="missing column"):
        load_graph(bad)
