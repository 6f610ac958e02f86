"""The embedding map's data without Streamlit: every entity packed for the map component,
hover thumbnails only for entities with an image, the component's events read defensively,
and a selection's predictions sent to the Audit queue."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from PIL import Image

from helpers import make_app_graph, train_tiny, wait_until
from vlkge.app import map_data, map_event, map_view_folder, selection_links, selection_relations, start_thumbnails, view_args
from vlkge.app.display import plotly_text
from vlkge.app.mapview import THUMB_SIDE, plotly_js, thumbnail_names, write_thumbnails
from vlkge.curation.audit import AuditStore
from vlkge.data.readers import load_graph
from vlkge.prediction.projection import compute_projection


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    base = tmp_path_factory.mktemp("map")
    root = make_app_graph(base / "graph")
    g = load_graph(root)
    from vlkge.prediction.run import load_run
    run = load_run(train_tiny(g, base / "run", epochs=2), graph=g)
    return g, run, compute_projection(run, "fused", "pca")


def _arr(b: bytes, dtype: str) -> np.ndarray:
    return np.frombuffer(b, dtype=dtype)


def test_every_entity_packed_with_its_colour_label_and_type(art):
    g, run, p = art
    d = map_data(g, p, "hasStyle")
    a = d.args
    assert a["n"] == d.points == g.num_entities  # every entity, no sample
    ents = _arr(a["entity"], "<i4")
    np.testing.assert_array_equal(ents, p["index"])
    np.testing.assert_allclose(_arr(a["xy"], "<f4").reshape(-1, 2), p["xy"])
    cats = list(d.colours)
    codes = _arr(a["cat"], "<u2")
    assert [cats[k] for k in codes] == d.values.tolist()  # each point's colour is its category's
    assert len(set(a["colours"])) == len(a["colours"]) == len(cats)
    monet_work = g.entity_index["artwork_claude-monet_0"]
    assert d.values[list(ents).index(monet_work)] == "Impressionism"
    assert a["legend"][cats.index("Impressionism")] == "Impressionism (18)"  # three artists, six works each
    labels = json.loads(a["labels"].decode())
    types = json.loads(a["types"].decode())
    type_of = _arr(a["type"], "<u2")
    assert all(labels[k] == (g.labels[e] or g.entities[e]) and types[type_of[k]] == g.types[e]
               for k, e in enumerate(ents))


def test_catalogue_text_reaches_plotly_escaped_and_the_browser_as_data(art, tmp_path):
    g, run, p = art
    i = g.entity_index["style_baroque"]
    g.labels[i] = "<img src=http://evil.invalid/x.png>Baroque"
    try:
        d = map_data(g, p, "hasStyle")
    finally:
        g.labels[i] = "Baroque"
    assert any(name.startswith(plotly_text("<img src=http://evil.invalid/x.png>Baroque")) for name in d.args["legend"])
    assert not any("<img" in name for name in d.args["legend"])
    # labels are JSON for textContent, as typed
    assert "<img src=http://evil.invalid/x.png>Baroque" in json.loads(d.args["labels"].decode())
    va = view_args(d, [], [], "<b>q</b>", [])
    assert va["highlight_name"] == "&lt;b&gt;q&lt;/b&gt;"


def test_highlight_filter_and_selection_as_point_positions(art):
    g, run, p = art
    d = map_data(g, p, "type")
    monet = [g.entity_index[f"artwork_claude-monet_{k}"] for k in range(6)]
    va = view_args(d, ["artwork"], monet + [g.entity_index["artist_claude-monet"]], "Monet", monet[:2])
    ents = _arr(d.args["entity"], "<i4")
    assert va["shown"] == [list(d.colours).index("artwork")]
    assert sorted(ents[va["highlight"]].tolist()) == sorted(monet)  # the artist is filtered out
    assert ents[va["selected"]].tolist() == monet[:2]
    assert view_args(d, [], [], "", [])["shown"] is None


def test_hover_thumbnails_only_for_entities_with_images(art, tmp_path):
    g, run, p = art
    names = thumbnail_names(g)
    imaged = {i for i, rel in enumerate(g.images) if rel and (g.root / rel).is_file()}
    assert set(names) == imaged and len(imaged) == 35  # 36 artworks, one image file missing
    assert write_thumbnails(g, names, tmp_path) == 35
    assert write_thumbnails(g, names, tmp_path) == 0  # kept on disk
    for n in names.values():
        with Image.open(tmp_path / n) as im:
            assert im.format == "JPEG" and max(im.size) <= THUMB_SIDE
    d = map_data(g, p, "type", names)
    ents = _arr(d.args["entity"], "<i4")
    assert {int(ents[int(k)]) for k in d.args["thumbs"]} == imaged
    # an image replaced in the catalogue gets a new thumbnail, never the stale one
    i = min(imaged)
    Image.new("RGB", (30, 30), (255, 0, 0)).save(g.root / g.images[i])
    os.utime(g.root / g.images[i], ns=(time.time_ns(), time.time_ns() + 10**9))
    assert thumbnail_names(g)[i] != names[i]


def test_thumbnails_written_in_the_background(art, tmp_path):
    g, run, p = art
    names, worker = start_thumbnails(g, tmp_path)
    assert worker is not None
    wait_until(lambda: all((tmp_path / n).exists() for n in names.values()), 60, "the thumbnails")
    worker.join(60)
    assert start_thumbnails(g, tmp_path)[1] is None  # nothing left to write


def test_component_folder_serves_plotly_from_the_wheel(tmp_path):
    f = map_view_folder(tmp_path / "view")
    assert (f / "plotly.min.js").read_bytes() == plotly_js().read_bytes()
    assert {"index.html", "map.js", "map.css"} <= {x.name for x in f.iterdir()}
    assert (f / "thumbs").is_dir()
    html = (f / "index.html").read_text()
    assert 'src="plotly.min.js"' in html and "connect-src 'none'" in html and "http" not in html.replace(
        "http-equiv", "")


def test_events_from_the_browser_are_checked(art):
    g, run, p = art
    d = map_data(g, p, "type")
    a, b = int(d.index[0]), int(d.index[1])
    assert map_event({"kind": "open", "entities": [a], "t": 5}, d) == ("open", [a], 5)
    assert map_event({"kind": "select", "entities": [a, b, a, 10**9, True, "x"], "t": 6}, d) == ("select", [a, b], 6)
    assert map_event({"kind": "select", "entities": [], "t": 7}, d) == ("select", [], 7)
    for bad in (None, [], "open", {"kind": "open", "entities": [a, b]}, {"kind": "drop", "entities": [a]},
                {"kind": "select", "entities": "1,2"}, {"kind": "open", "entities": [10**9]}):
        assert map_event(bad, d) is None


def test_selection_predictions_sent_to_the_audit_queue(art, tmp_path):
    g, run, p = art
    works = [g.entity_index[f"artwork_claude-monet_{k}"] for k in range(3)]
    artist = g.entity_index["artist_claude-monet"]
    rels = selection_relations(run, works + [artist])
    assert "hasStyle" in rels and "hasNationality" in rels and "isCreatedByArtist" in rels
    links = selection_links(run, works + [artist], "hasStyle")
    # only the artworks take hasStyle as heads; each one's top novel (not already known) style
    assert [lk.head for lk in links] == [g.entities[w] for w in works]
    known = {(h, t) for h, r, t in g.all_triples().tolist() if r == g.relation_index["hasStyle"]}
    assert all((g.entity_index[lk.head], g.entity_index[lk.tail]) not in known for lk in links)
    assert all(g.types[g.entity_index[lk.tail]] == "style" for lk in links)
    assert len(selection_links(run, works + [artist], "hasStyle", limit=2)) == 2
    with AuditStore(tmp_path / "a.sqlite") as store:
        assert store.suggest(links, "Ada", run_id="r") == 3
        assert store.suggest(links, "Ada", run_id="r") == 0  # queued once
        got = store.suggestions("hasStyle")
        assert [(s["head"], s["tail"]) for s in got] == [(lk.head, lk.tail) for lk in links]


def test_a_link_sent_from_the_map_and_held_by_the_models_queue_is_listed_once(art):
    from vlkge.app import audit_queue, review_queue
    g, run, p = art
    model = audit_queue(run, "hasStyle", heads=40)
    sent = selection_links(run, [g.entity_index[lk.head] for lk in model[:2]], "hasStyle")
    assert {(c.head, c.tail) for c in sent} <= {(c.head, c.tail) for c in model}  # the same top links
    queue = review_queue(sent, model)
    keys = [(c.head, c.relation, c.tail) for c in queue]
    assert len(keys) == len(set(keys)) == len(model) and queue[:2] == sent
