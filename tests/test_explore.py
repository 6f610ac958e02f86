"""vlkge.app: everything the curator app shows, on a small graph built here and (when
present) on wikiart-mini."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import make_app_graph, shared, train_tiny, wait_until
from vlkge.data.readers import load_graph
from vlkge.app import (Adjacency, EntityIndex, TrainProgress, attribute, audit_queue,
                           can_place, contained_path, describe_mode, describe_search,
                           discover_runs, entity_neighbours, evidence, fmt_eta, merge_status,
                           metrics_table, nearest, neighbourhood_html, normalise, paginate,
                           path_text, placeholder, placement_relations, predictions, projection,
                           projection_cached, relations_for, run_card, runs_dir,
                           similar_with_link, stratified_sample, thumbnail, type_colours)
from vlkge.app.predict import answer_text, graph_answers

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = make_app_graph(tmp_path_factory.mktemp("explore") / "graph")
    return load_graph(root)


@pytest.fixture(scope="module")
def small_run(small, tmp_path_factory):
    from vlkge.prediction.run import load_run
    out = train_tiny(small, small.root / "runs" / "tiny")
    return load_run(out, graph=small)


def idx(g, eid):
    return g.entity_index[eid]


# ------------------------------------------------------------------ search, filters, paging
def test_normalise_folds_accents_and_case():
    assert normalise("Joaquín  SOROLLA") == "joaquin sorolla"
    assert normalise("Monét") == normalise("monet")


@pytest.mark.parametrize("query", ["Monet", "Monét", "monnet", "claude monet", "MONET claude"])
def test_search_tolerates_accents_and_typos(small, query):
    ix = EntityIndex(small)
    hits = ix.search(query, types=["artist"])
    assert hits and small.entities[hits[0].index] == "artist_claude-monet"


def test_search_accented_label_and_type_filter(small):
    ix = EntityIndex(small)
    assert small.entities[ix.search("sorolla")[0].index] == "artist_joaquin-sorolla"
    assert all(small.types[h.index] == "artwork" for h in ix.search("stormy sea", types=["artwork"]))
    assert ix.search("") == []


def test_filters_by_type_and_related_entity(small):
    ix = EntityIndex(small)
    arts = ix.filter(types=["artwork"])
    assert len(arts) == 36 and all(small.types[i] == "artwork" for i in arts)
    monet = idx(small, "artist_claude-monet")
    by_monet = ix.filter(types=["artwork"], relation="isCreatedByArtist", related=monet)
    assert {small.entities[i] for i in by_monet} == {f"artwork_claude-monet_{k}" for k in range(6)}
    with_img = ix.filter(types=["artwork"], relation="isCreatedByArtist", related=monet, with_image=True)
    assert len(with_img) == 5
    q = ix.filter(types=["artwork"], relation="hasStyle", related=idx(small, "style_baroque"), query="self portrait")
    assert q and all(small.labels[i] == "Self-portrait" for i in q[:2])
    vals = dict(ix.relation_values("hasStyle"))
    assert vals[idx(small, "style_impressionism")] == 18
    assert ix.relation_values("nope") == []


def test_paginate_clamps():
    p = paginate(list(range(50)), 3, 24)
    assert p.items == [48, 49] and p.pages == 3 and p.start == 48
    assert paginate(list(range(50)), 99, 24).page == 3
    assert paginate([], 1, 24).items == [] and paginate([], 1, 24).pages == 1


# ------------------------------------------------------------------ facts, neighbourhood, paths
def test_facts_grouped_by_relation_with_inverse(small):
    adj = Adjacency(small)
    f = adj.facts(idx(small, "artist_claude-monet"))
    assert "hasNationality" in f and "isCreatedByArtist (inverse)" in f
    assert len(f["isCreatedByArtist (inverse)"]) == 6
    assert {x.split for x in f["isCreatedByArtist (inverse)"]} == {"train", "val", "test"}


def test_neighbourhood_caps_nodes_and_colours(small):
    adj = Adjacency(small)
    i = idx(small, "style_impressionism")
    g2 = adj.neighbourhood(i, hops=2, max_nodes=15)
    assert g2.number_of_nodes() == 15 and g2.nodes[i]["hop"] == 0
    g1 = adj.neighbourhood(idx(small, "artwork_rembrandt_2"), hops=1)
    assert g1.number_of_nodes() == 5
    html = neighbourhood_html(g1, type_colours(small.types), idx(small, "artwork_rembrandt_2"))
    assert "<html" in html and "new vis.Network" in html and "Content-Security-Policy" in html


def test_paths_short_first_and_exclude_explained_link(small):
    adj = Adjacency(small)
    a, t = idx(small, "artwork_claude-monet_2"), idx(small, "style_impressionism")
    paths = adj.paths(a, t, max_hops=3, exclude_relation="hasStyle")
    assert paths and all(len(p) <= 3 for p in paths)
    assert all(not (len(p) == 1 and p[0][1] == "hasStyle") for p in paths)
    assert [len(p) for p in paths] == sorted(len(p) for p in paths)
    txt = path_text(small, paths[0])
    assert txt.startswith("Stormy sea at night") and txt.endswith("Impressionism")
    # direct link shown when not excluded
    assert adj.paths(a, t, max_hops=1)[0][0][1] == "hasStyle"
    assert adj.paths(a, a) == []


# ------------------------------------------------------------------ images
def test_thumbnail_contained_and_placeholder(small, tmp_path):
    root = small.root
    i = idx(small, "artwork_rembrandt_2")
    png, ok = thumbnail(root, small.images[i], 32)
    assert ok and max(Image.open(__import__("io").BytesIO(png)).size) <= 32
    outside = tmp_path / "secret.png"
    Image.new("RGB", (8, 8)).save(outside)
    assert contained_path(root, "../" * 8 + str(outside).lstrip("/")) is None
    assert contained_path(root, str(outside)) is None  # absolute paths are outside too
    (root / "link.png").symlink_to(outside)
    assert contained_path(root, "link.png") is None
    png2, ok2 = thumbnail(root, "../secret.png", 32)
    assert not ok2 and png2 == placeholder(32)
    missing = idx(small, "artwork_claude-monet_5")
    assert small.images[missing] == "" and thumbnail(root, small.images[missing])[1] is False
    (root / "bad.png").write_bytes(b"not an image")
    assert thumbnail(root, "bad.png")[1] is False


# ------------------------------------------------------------------ runs
def test_runs_dir_is_in_the_workspace_and_old_runs_beside_the_graph_are_still_found(small, small_run, workspace,
                                                                                      monkeypatch):
    monkeypatch.delenv("VLKGE_RUN", raising=False)
    d = runs_dir(small.root)
    assert d.parent == workspace / "runs" and d.name.startswith("graph-")
    found = discover_runs(small)  # small_run lives in GRAPH/runs: read-only compatibility
    assert [r.name for r in found] == ["tiny"] and found[0].source == "graph"
    monkeypatch.setenv("VLKGE_RUN", str(small_run.path))
    assert len(discover_runs(small)) == 1 and discover_runs(small)[0].source == "env"


def test_a_run_elsewhere_opens_by_path(small, small_run, tmp_path, monkeypatch):
    import shutil
    monkeypatch.delenv("VLKGE_RUN", raising=False)
    elsewhere = shutil.copytree(small_run.path, tmp_path / "my-runs" / "mini")
    found = discover_runs(small, extra=[elsewhere])
    assert found[0].path == elsewhere.resolve() and found[0].source == "env"
    assert [r.name for r in found] == ["mini", "tiny"]


def test_runs_dir_for_read_only_graph(small, tmp_path, workspace):
    import shutil
    ro = tmp_path / "ro"
    shutil.copytree(small.root, ro, ignore=shutil.ignore_patterns("runs", "*.sqlite*"))
    os.chmod(ro, 0o555)
    try:
        d = runs_dir(ro)
        assert d.is_relative_to(workspace / "runs") and d.name.startswith("ro-")
        g = load_graph(ro)
        assert merge_status(g) == (False, "the graph folder is read-only")
        assert discover_runs(g) == []
    finally:
        os.chmod(ro, 0o755)
    assert merge_status(load_graph(ro))[0]


def test_run_card_and_metrics_table(small_run):
    card = run_card(small_run)
    assert card["scorer"] == small_run.config["train"]["model"] and card["modalities"] == ["structural"]
    assert card["encoder"].startswith("none") and not card["offline"]
    rows = metrics_table(small_run, "test")
    assert rows[-1]["relation"] == "all" and {"hasStyle", "isCreatedByArtist"} <= {r["relation"] for r in rows}


def test_train_progress_eta():
    p = TrainProgress(feature_share=0.0)
    p.started -= 10
    p.on_epoch(5, 10, {"loss": 0.5})
    assert 0.45 < p.fraction < 0.55 and "ETA" in p.message and "loss 0.5000" in p.message
    assert fmt_eta(5) == "5 s" and fmt_eta(125) == "2 min 05 s" and fmt_eta(3700).startswith("1 h")


# ------------------------------------------------------------------ predictions, evidence, audit
def test_predictions_flags_known_and_relations(small, small_run):
    rels = relations_for(small_run, "artwork")
    assert set(rels) == {"isCreatedByArtist", "hasStyle", "belongsToGenre", "isCreatedInDecade"}
    assert placement_relations(small_run)[:2] == ["isCreatedByArtist", "hasStyle"]
    rows = predictions(small_run, "artwork_rembrandt_2", "hasStyle", k=None, filter_known=False)
    known = [r for r in rows if r.known]
    assert [r.entity for r in known] == ["style_baroque"] and known[0].known == "train"
    rows2 = predictions(small_run, "artwork_rembrandt_2", "hasStyle", k=None, filter_known=True)
    assert "style_baroque" not in {r.entity for r in rows2}
    heads = predictions(small_run, "style_baroque", "hasStyle", direction="head", k=5)
    assert len(heads) == 5 and all(r.type == "artwork" for r in heads[:1]) or heads


def test_evidence_similar_and_paths(small, small_run):
    adj = Adjacency(small)
    h, c = idx(small, "artwork_rembrandt_0"), idx(small, "style_baroque")
    sim = similar_with_link(small_run, h, "hasStyle", c, k=3)
    assert 0 < len(sim) <= 3
    tr = small.split("train").tolist()
    r = small.relation_index["hasStyle"]
    assert all([j, r, c] in tr for j, _ in sim)
    # the most similar of all the training entities with the link, the entity itself left out
    from vlkge.app import unit_vectors
    vecs, _ = unit_vectors(small_run, "fused")
    having = sorted({j for j, rr, t in tr if rr == r and t == c and j != h}, key=lambda j: -float(vecs[j] @ vecs[h]))
    assert [j for j, _ in sim] == having[:3]
    ev = evidence(small_run, adj, h, "hasStyle", c)
    assert ev["paths"] and "Baroque" in ev["path_texts"][0]


def test_audit_queue_drops_decided(small, small_run, tmp_path):
    from vlkge.curation.audit import AuditStore
    store = AuditStore(tmp_path / "a.sqlite")
    q = audit_queue(small_run, "hasStyle", store, heads=10)
    assert q and len({c.head for c in q}) == len(q)
    prio = [c.priority for c in q]
    assert prio == sorted(prio, reverse=True) and all(c.current.endswith("%") for c in q)
    known = small.known_split()
    assert all((idx(small, c.head), small.relation_index["hasStyle"], idx(small, c.tail)) not in known for c in q)
    for c in q:  # each head's best novel link, its confidence over every candidate, the graph's answer beside it
        top = small_run.predict_tails(c.head, "hasStyle", k=1, filter_known=True)[0]
        assert (c.tail, c.confidence, c.score) == (top.entity, top.confidence, top.score)
        assert c.current == answer_text(graph_answers(small_run, c.head, "hasStyle"))
    store.record(q[0].head, q[0].relation, q[0].tail, "wrong", "ann")
    q2 = audit_queue(small_run, "hasStyle", store, heads=10)
    assert (q[0].head, q[0].tail) not in {(c.head, c.tail) for c in q2}


def test_audit_queue_offers_the_heads_that_lack_the_link_first(small, small_run):
    """An artwork with no style yet is the gap a verdict fills (accepted: a new fact; rejected:
    the model's best guess ruled out). For a one-answer relation the next answer of a head that
    already has one is almost always wrong, so such heads must not crowd the missing links out."""
    from dataclasses import replace
    from vlkge.prediction.run import load_run
    r = small.relation_index["hasStyle"]
    linked = sorted(set(small.all_triples()[small.all_triples()[:, 1] == r, 0].tolist()))
    missing = {linked[3], linked[20], linked[31]}
    cut = replace(small, triples={s: t[~((t[:, 1] == r) & torch.isin(t[:, 0], torch.tensor(sorted(missing))))]
                                  for s, t in small.triples.items()})
    run = load_run(small_run.path, graph=cut)
    q = audit_queue(run, "hasStyle", None, heads=3)
    assert {idx(cut, c.head) for c in q} == missing
    for c in q:  # nothing known to filter: the suggestion is the head's top prediction
        assert c.current == "no link yet"
        assert c.tail == run.predict_tails(c.head, "hasStyle", k=1)[0].entity
    more = audit_queue(run, "hasStyle", None, heads=10)  # then heads that have the link
    assert missing < {idx(cut, c.head) for c in more} and len(more) == 10


def test_structural_run_cannot_place_and_describe_falls_back(small, small_run):
    ok, why = can_place(small_run)
    assert not ok and "structure alone" in why
    mode, _ = describe_mode(small_run)
    assert mode == "fuzzy"
    used, hits = describe_search(small_run, EntityIndex(small), "stormy sea at night", k=5)
    assert used == "fuzzy" and small.labels[hits[0][0]] == "Stormy sea at night"
    assert describe_mode(None)[0] == "fuzzy"


# ------------------------------------------------------------------ embeddings
def test_neighbours_same_type(small, small_run):
    i = idx(small, "artwork_rembrandt_2")
    nb = entity_neighbours(small_run, i, k=5)
    assert len(nb) == 5 and i not in [j for j, _ in nb]
    assert all(small.types[j] == "artwork" for j, _ in nb)
    assert [s for _, s in nb] == sorted((s for _, s in nb), reverse=True)
    v = torch.eye(3)
    assert nearest(v, torch.tensor([1.0, 0.1, 0]), k=2, among=np.array([False, True, True])) [0][0] == 1


def test_attribute_and_stratified_sample(small):
    style = attribute(small, "hasStyle")
    assert style[idx(small, "artwork_rembrandt_2")] == "Baroque" and style[idx(small, "style_baroque")] == ""
    types = ["a"] * 1000 + ["b"] * 10
    s = stratified_sample(types, 100)
    assert len(s) <= 100 and sum(1 for i in s if types[i] == "b") == 10
    assert len(stratified_sample(types, 5000)) == 1010


def test_projection_precomputed_at_training_for_every_entity(small_run):
    files = sorted(x.name for x in (small_run.path / "projections").iterdir())
    assert files == ["fused-pca-all-s0.json", "fused-pca-all-s0.npy"]  # no pickle; UMAP on request (small graph)
    assert projection_cached(small_run, "fused", "pca") and not projection_cached(small_run, "fused", "umap")
    p = projection(small_run, "fused", method="pca")
    assert p["cached"] and not p["sampled"] and p["xy"].shape == (len(small_run.entities), 2)
    assert sorted(p["index"].tolist()) == list(range(len(small_run.entities)))  # every entity, no sample


def test_projection_of_a_run_elsewhere_goes_to_the_cache(small_run, tmp_path, monkeypatch):
    import shutil
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path / "cache"))
    run_dir = shutil.copytree(small_run.path, tmp_path / "data" / "runs" / "r", ignore=shutil.ignore_patterns("projections"))
    from vlkge.prediction.run import load_run
    run = load_run(run_dir, graph=small_run.graph)
    before = sorted(p.name for p in run_dir.iterdir())
    p1 = projection(run, "structural", method="pca")
    assert not p1["cached"] and sorted(p.name for p in run_dir.iterdir()) == before
    assert projection_cached(run, "structural", "pca") and projection(run, "structural", method="pca")["cached"]
    assert any((tmp_path / "cache" / "projections").rglob("structural-pca-all-s0.npy"))


@pytest.mark.slow  # numba compiles UMAP once: ~20-90 s on a busy 2-core box
@pytest.mark.slow  # UMAP's first run compiles with numba
def test_umap_projection_small(small_run, tmp_path):
    pytest.importorskip("umap")
    p = projection(small_run, "structural", method="umap")
    assert p["xy"].shape[1] == 2 and np.isfinite(p["xy"]).all()


# ------------------------------------------------------------------ wikiart-mini (skipped if absent)
@pytest.fixture(scope="module")
def mini():
    return load_graph(shared("wikiart-mini"))


def test_mini_search_and_filters(mini):
    ix = EntityIndex(mini)
    for q in ("Monét", "monnet", "claude monet"):
        assert mini.labels[ix.search(q, types=["artist"])[0].index] == "Claude Monet"
    assert "Hokusai" in mini.labels[ix.search("hokusay", types=["artist"])[0].index]
    monet = ix.search("Claude Monet", types=["artist"])[0].index
    arts = ix.filter(types=["artwork"], relation="isCreatedByArtist", related=monet)
    assert 0 < len(arts) <= 20
    noisy = [mini.labels[i] for i in ix.filter(types=["artwork"], query="monnet")]
    assert not any("Bluebonnet" in x for x in noisy)
    assert mini.labels[ix.search("impresionism", types=["style"])[0].index] == "Impressionism"


def test_mini_thumbnails_and_paths(mini):
    i = next(i for i in range(mini.num_entities) if mini.images[i])
    png, ok = thumbnail(mini.root, mini.images[i])
    assert ok and max(Image.open(__import__("io").BytesIO(png)).size) == 160
    adj = Adjacency(mini)
    a = mini.entity_index
    art = next(e for e in mini.entities if e.startswith("artwork_claude-monet"))
    paths = adj.paths(a[art], next(t for t in range(mini.num_entities) if mini.labels[t] == "Impressionism"
                                   and mini.types[t] == "style"), exclude_relation="hasStyle")
    assert paths and len(paths[0]) <= 3


def test_representative_image(small):
    adj = Adjacency(small)
    art = idx(small, "artwork_rembrandt_2")
    assert adj.representative(art) == art
    rep = adj.representative(idx(small, "artist_rembrandt"))
    assert rep is not None and small.images[rep] and small.entities[rep].startswith("artwork_rembrandt")
    rep2 = adj.representative(idx(small, "nationality_dutch"))  # via a Dutch artist's artwork
    assert rep2 is not None and small.entities[rep2].startswith(("artwork_rembrandt", "artwork_frans-hals"))
    assert adj.representative(idx(small, "decade_1630")) is not None
    # an artist page shows its works: every artwork linked to it that has a readable image, once
    claude = idx(small, "artist_claude-monet")
    linked = adj.linked_with_images(claude)
    works = {i for i, e in enumerate(small.entities) if e.startswith("artwork_claude-monet_")}
    assert set(linked) == {i for i in works if small.images[i]} and len(works - set(linked)) == 1  # one missing file
    assert linked == sorted(linked) and adj.linked_with_images(art) == []  # an artwork links no images
    # an artwork whose picture is missing shows none, not another Monet's as if it were its own
    unpictured = (works - set(linked)).pop()
    assert adj.representative(unpictured) is None


def test_neighbourhood_html_cannot_be_broken_by_labels(small):
    import networkx as nx
    g = nx.MultiDiGraph()
    g.add_node(0, label='</script><script>alert(1)</script>', type="artwork", hop=0)
    html = neighbourhood_html(g, {"artwork": "#000"}, 0)
    assert "<script>alert(1)" not in html and "</script><script>alert" not in html


@pytest.mark.slow  # trains in a background process
def test_train_for_app_reports_progress_and_is_discovered(tmp_path, monkeypatch, workspace):
    from vlkge.app import new_run_path, train_for_app
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VLKGE_RUN", raising=False)
    g = load_graph(make_app_graph(tmp_path / "g", per_artist=3))
    out = new_run_path(g.root)
    assert out.parent.parent == workspace / "runs" and out.name.startswith("g-rotate-")  # graph, default scorer
    seen = []
    metrics = train_for_app(g, out, epochs=2, on_update=lambda p: seen.append((p.fraction, p.message)),
                            modalities=["structural"])
    assert "test" in metrics and seen and seen[-1][0] == pytest.approx(1.0)
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    assert [r.path for r in discover_runs(g)] == [out.resolve()]


def _wait(job, timeout: float = 120) -> dict:
    return wait_until(lambda: (s := job.status())["state"] != "running" and s, timeout, "the training job to end")


@pytest.mark.slow  # trains in a background process
def test_background_training_lists_the_run_only_when_finished(tmp_path, monkeypatch):
    from vlkge.app.jobs import current_job, start_training
    from vlkge.errors import VLKGEError
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VLKGE_RUN", raising=False)
    root = make_app_graph(tmp_path / "g", per_artist=3)
    g = load_graph(root)
    assert current_job(g) is None
    job = start_training(g, str(root), epochs=3, modalities=["structural"])
    with pytest.raises(VLKGEError, match="already"):
        start_training(g, str(root), epochs=3)  # one job per graph, whoever asks
    fractions = []

    def ended():
        listed = discover_runs(g)
        s = job.status()
        if s["state"] != "running":
            return s
        # a half-trained run is never listed; the finished one may be, between its move into place
        # and the status saying so
        assert all("test" in json.loads((Path(r.path) / "metrics.json").read_text()) for r in listed), listed
        fractions.append(s["fraction"])
        return None
    s = wait_until(ended, 120, "the training job to end")
    assert s["state"] == "done", s
    assert fractions == sorted(fractions)
    assert [str(r.path) for r in discover_runs(g)] == [s["run"]]
    assert s["message"].startswith("test MRR") and 0 < s["mrr"] <= 1
    assert current_job(g).status()["state"] == "done"  # shown until dismissed
    job.dismiss()
    assert current_job(g) is None and len(discover_runs(g)) == 1


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_nothing_is_written_inside_a_writable_data_folder(tmp_path, monkeypatch, workspace, capsys):
    """Permission bits say the data folder is writable (and root may write anywhere): training from
    the CLI without --out, the audit store and a projection still leave it as it was given."""
    from vlkge.cli import main
    from vlkge.curation.audit import AuditStore, default_audit_path
    from vlkge.prediction.run import load_run
    monkeypatch.delenv("VLKGE_RUN", raising=False)
    root = make_app_graph(tmp_path / "data", per_artist=3)
    root.chmod(0o777)
    before = _tree(root)
    assert main(["train", "--data", str(root), "--epochs", "2", "--modalities", "structural", "--quiet"]) == 0
    out = Path(capsys.readouterr().out.split("run written to ", 1)[1].splitlines()[0])
    assert out.is_relative_to(workspace / "runs") and out.name.startswith("data-")
    g = load_graph(root)
    assert [r.path for r in discover_runs(g)] == [out.resolve()]  # the app lists it
    with AuditStore(default_audit_path(root)) as store:
        store.record("a", "r", "b", "plausible", "ann")
    assert default_audit_path(root).is_relative_to(workspace / "audit")
    projection(load_run(out, graph=g), method="pca")
    assert _tree(root) == before


def test_an_audit_database_beside_the_graph_from_before_is_kept(tmp_path):
    from vlkge.curation.audit import default_audit_path
    root = make_app_graph(tmp_path / "data", per_artist=2)
    assert not default_audit_path(root).is_relative_to(root)
    (root / "vlkge-audit.sqlite").write_bytes(b"")  # curators' verdicts: never orphaned
    assert default_audit_path(root) == root.resolve() / "vlkge-audit.sqlite"


@pytest.mark.slow  # trains in a background process
def test_background_training_failures_are_reported(tmp_path, monkeypatch):
    import signal

    from vlkge.app import jobs
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path / "cache"))
    root = make_app_graph(tmp_path / "g", per_artist=3)
    g = load_graph(root)
    # the graph breaks after the app loaded it: the job says which file and line
    good = (root / "triples.csv").read_text(encoding="utf-8")
    with open(root / "triples.csv", "a", encoding="utf-8") as f:
        f.write("artwork_nope,isCreatedByArtist,artist_claude-monet,train\n")
    s = _wait(jobs.start_training(g, str(root), epochs=3, modalities=["structural"]))
    assert s["state"] == "failed" and "triples.csv" in s["error"] and "artwork_nope" in s["error"], s
    jobs.current_job(g).dismiss()
    # a killed job reads as failed, for the app that started it and for any other
    (root / "triples.csv").write_text(good, encoding="utf-8")
    job = jobs.start_training(g, str(root), epochs=500, modalities=["structural"])
    pid = wait_until(lambda: job.status().get("pid"), 60, "the training job's pid")
    os.kill(pid, signal.SIGKILL)
    _wait(job, 10)
    assert "stopped unexpectedly" in job.status()["error"]
    jobs._children.clear()  # as seen from another app process: only the pid is known
    assert "stopped unexpectedly" in job.status()["error"]
    assert discover_runs(g) == []


def _add(root: Path, entity: list[str], triple: list[str]) -> None:
    """Append one entity row and one triple row to a graph folder."""
    for name, row in (("entities.csv", entity), ("triples.csv", triple)):
        with open(root / name, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(row)


def test_search_ignores_tiny_names_that_only_partially_match(tmp_path):
    root = make_app_graph(tmp_path / "g", per_artist=2)
    _add(root, ["artwork_t", "artwork", "T", "", ""], ["artwork_t", "isCreatedByArtist", "artist_claude-monet", "train"])
    g = load_graph(root)
    ix = EntityIndex(g)
    assert "T" not in [g.labels[h.index] for h in ix.search("monnet")]
    assert "T" not in [g.labels[i] for i in ix.filter(query="monnet")]
    assert g.labels[ix.search("T")[0].index] == "T"


def test_search_ties_prefer_connected_entities(tmp_path):
    root = make_app_graph(tmp_path / "g", per_artist=2)
    _add(root, ["artwork_portrait", "artwork", "Claude Monet", "", ""], ["artwork_portrait", "isCreatedByArtist", "artist_claude-monet", "train"])
    g = load_graph(root)
    assert g.entities[EntityIndex(g).search("Claude Monet")[0].index] == "artist_claude-monet"


def test_app_training_settings_override_the_defaults_and_bad_ones_are_refused(tmp_path):
    from vlkge.training.config import TrainConfig, resolve
    from vlkge.errors import VLKGEError
    from vlkge.app.training import app_setting_defaults, default_train_config
    g = load_graph(make_app_graph(tmp_path / "g", per_artist=2))
    cfg = resolve(default_train_config(7, "transe", {"dim": 32, "lr": 0.1, "negatives": None, "seed": 0}), g)
    assert (cfg.epochs, cfg.model, cfg.dim, cfg.lr, cfg.seed) == (7, "transe", 32, 0.1, 0)
    assert cfg.negatives == resolve(TrainConfig(model="transe"), g).negatives  # None: the scorer's default
    for bad, says in [({"dim": 0}, "dim must be above 0"), ({"seed": -1}, "seed must be 0 or more"),
                      ({"batch_size": 2.5}, "whole number"), ({"lr": float("nan")}, "must be a number"),
                      ({"margin": 2}, "unknown training setting 'margin'")]:
        with pytest.raises(VLKGEError, match=says):
            default_train_config(7, "rotate", bad)
    # what an empty setting means, for this graph: typed graphs draw 256 negatives (negatives_for)
    d = app_setting_defaults(g, "complex")
    complex_ = resolve(TrainConfig(model="complex"), g)
    assert d == {"dim": complex_.dim, "negatives": 256, "lr": complex_.lr, "batch_size": TrainConfig().batch_size,
                 "seed": 0}
    assert app_setting_defaults(g, "transe")["dim"] == resolve(TrainConfig(model="transe"), g).dim != d["dim"]



# ------------------------------------------------------------------ honest confidence, typed predictions
def test_confidence_is_the_same_whatever_is_hidden(small, small_run):
    for fn, anchor in ((small_run.predict_tails, "artwork_rembrandt_2"), (small_run.predict_heads, "style_baroque")):
        shown = {p.entity: p.confidence for p in fn(anchor, "hasStyle", k=None, filter_known=False)}
        hidden = {p.entity: p.confidence for p in fn(anchor, "hasStyle", k=None, filter_known=True)}
        assert hidden and len(hidden) < len(shown)
        assert all(hidden[e] == pytest.approx(shown[e]) for e in hidden), fn.__name__
        assert sum(shown.values()) == pytest.approx(1.0)  # one distribution over the full candidate set
    # the page's rows carry the same figure, and the graph's current answer sits beside them
    rows = {r.entity: r.confidence for r in predictions(small_run, "artwork_rembrandt_2", "hasStyle", k=None)}
    current = graph_answers(small_run, "artwork_rembrandt_2", "hasStyle")
    assert [(a.entity, a.known) for a in current] == [("style_baroque", "train")]
    every = {p.entity: p for p in small_run.predict_tails("artwork_rembrandt_2", "hasStyle", k=None, filter_known=False)}
    assert current[0].confidence == pytest.approx(every["style_baroque"].confidence)
    assert current[0].rank == every["style_baroque"].rank
    assert sum(rows.values()) + current[0].confidence == pytest.approx(1.0)


def test_predictions_are_typed_by_the_relation(small, small_run):
    hs = small.relation_index["hasStyle"]
    assert small.relation_domain(hs) == {"artwork"} and small.relation_range(hs) == {"style"}
    assert small.relation_domain(small.relation_index["isAssociatedWithArtMovement"]) == {"artist"}
    heads = small_run.predict_heads("style_impressionism", "hasStyle", k=None, filter_known=False)
    assert heads and {small.types[idx(small, p.entity)] for p in heads} == {"artwork"}  # no nationality, no decade
    tails = small_run.predict_tails("artist_claude-monet", "hasNationality", k=None, filter_known=False)
    assert {small.types[idx(small, p.entity)] for p in tails} == {"nationality"}
    # a relation the entity cannot take part in is not offered, in either direction
    assert relations_for(small_run, "nationality", "tail") == []
    assert set(relations_for(small_run, "artist", "tail")) == {"hasNationality", "isAssociatedWithArtMovement"}
    assert relations_for(small_run, "artist", "head") == ["isCreatedByArtist"]
    assert "hasStyle" not in relations_for(small_run, "nationality", "head")


def test_review_queue_puts_uncertain_high_impact_links_first_and_takes_placements(small, small_run, tmp_path):
    from vlkge.app import bulk_preview, decision_rows, placement_links, review_priority
    from vlkge.curation.audit import AuditStore
    assert review_priority(0.5, 0.0, 3) > review_priority(0.9, 0.0, 3) > review_priority(0.99, 0.0, 3)
    assert review_priority(0.1, 0.0, 3) == pytest.approx(review_priority(0.9, 0.0, 3))  # either side of the boundary
    assert review_priority(0.5, 0.0, 30) > review_priority(0.5, 0.0, 3)
    store = AuditStore(tmp_path / "q.sqlite")
    q = audit_queue(small_run, "hasStyle", store, heads=10)
    # each card says what the graph holds now for that head, with the confidence of that answer
    c = q[0]
    now = graph_answers(small_run, c.head, "hasStyle")
    assert now and c.current.startswith(f"{now[0].label} ({now[0].known}) · ")
    # bulk: what "accept all above X" would take, never an uncalibrated or lower one
    pick = bulk_preview(q, 0.2)
    assert pick == [x for x in q if x.confidence is not None and x.confidence >= 0.2]
    # a placement sent from New artwork waits first in the queue, under its title
    eid = store.propose("Water lilies", "uploads/lilies.png", "ann")
    links = placement_links(eid, {"hasStyle": [{"entity": "style_impressionism", "confidence": 0.8, "score": 2.0}]})
    store.suggest(links, "ann")
    q2 = audit_queue(small_run, "hasStyle", store, heads=10)
    assert (q2[0].head, q2[0].tail, q2[0].head_label, q2[0].proposed) == (eid, "style_impressionism", "Water lilies", True)
    store.record(eid, "hasStyle", "style_impressionism", "plausible", "ann")
    assert audit_queue(small_run, "hasStyle", store, heads=10)[0].head != eid
    rows = decision_rows(small, store, store.current())
    assert rows[0]["head"] == "Water lilies" and rows[0]["tail"] == "Impressionism"



def test_find_brings_an_artists_works_and_facets_agree_with_the_grid(small):
    ix = EntityIndex(small)
    monet = idx(small, "artist_claude-monet")
    found = ix.find("Monet")
    assert found.suggestions[0].index == monet and found.items[0] == monet
    works = {idx(small, f"artwork_claude-monet_{k}") for k in range(6)}
    assert set(found.items[1:]) == works and found.suggestions[0].works == 6
    # the grid never contradicts the suggestions: what a suggestion says it brought is there
    for s in found.suggestions:
        assert len(set(ix.works_of(s.index).tolist()) & set(found.items)) >= s.works
    genre = {v.label: v for v in found.facets["genre"]}
    narrowed = ix.find("Monet", facets={"genre": [genre["Landscape"].value]})
    assert len(narrowed.items) == genre["Landscape"].count and set(narrowed.items) < works
    # counts of a facet ignore its own choice, so the other chips stay visible with their counts
    assert {v.label for v in narrowed.facets["genre"]} == set(genre)
    assert ix.find("Monet", facets={"type": ["artist"]}).items == [monet]


def test_find_a_style_a_movement_and_nothing_unrelated(small):
    ix = EntityIndex(small)
    style = idx(small, "style_impressionism")
    found = ix.find("impressionism")
    # the style entity, its works, and (artists linked to it) the works of artists of that movement
    assert found.items[0] == style
    assert {small.types[i] for i in found.items[1:]} == {"artwork"}
    assert all(style in ix.adjacency.neighbours(i) for i in found.items[1:])
    assert ix.find("zzzz").items == []
    assert ix.find("").items == ix.filter(types=["artwork"])  # no query: the collection's works


def test_neighbourhood_groups_what_passes_the_cap_per_relation(small):
    adj = Adjacency(small)
    style = idx(small, "style_impressionism")  # 18 artworks have it
    g = adj.neighbourhood(style, hops=1, max_nodes=100, per_relation=5)
    works = [n for n, d in g.nodes(data=True) if d["type"] == "artwork"]
    more = [d for _, d in g.nodes(data=True) if d["type"] == "more"]
    assert len(works) == 5 and [d["label"] for d in more] == ["+ 13 more artworks"] and more[0]["more"] == 13
    full = adj.neighbourhood(style, hops=1, max_nodes=100, per_relation=100)
    assert not any(d["type"] == "more" for _, d in full.nodes(data=True))
    assert len(works) + more[0]["more"] == sum(1 for _, d in full.nodes(data=True) if d["type"] == "artwork")


def test_neighbourhood_draws_artworks_as_their_pictures_inline(small):
    import json
    import re
    adj = Adjacency(small)
    art = idx(small, "artwork_rembrandt_2")
    g = adj.neighbourhood(art, hops=1)
    png, _ = thumbnail(small.root, small.images[art], 64)
    html = neighbourhood_html(g, type_colours(small.types), art, thumbnails={art: png})
    nodes = json.loads(re.search(r"new vis\.DataSet\((\[.*?\])\), edges", html).group(1))
    me = next(n for n in nodes if n["id"] == art)
    assert me["shape"] == "circularImage" and me["image"].startswith("data:image/png;base64,")
    assert all(n["shape"] == "dot" for n in nodes if n["id"] != art)
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp and "img-src data:" in csp and "http" not in csp


def test_map_categories_get_distinct_colours_up_to_a_cap():
    from vlkge.app import MAP_PALETTE, map_categories
    values = [f"style {k}" for k in range(30) for _ in range(30 - k)] + [""] * 3
    v, colours = map_categories(values[:sum(30 - k for k in range(12))])  # 12 categories: no repeat
    assert len(colours) == 12 and len(set(colours.values())) == 12
    v, colours = map_categories(values)
    assert len(colours) == len(MAP_PALETTE) + 1 and len(set(colours.values())) == len(colours)
    assert list(colours)[:2] == ["style 0", "style 1"] and "(other)" in colours  # most frequent first
    assert set(v) == set(colours) and (v == "(other)").sum() == sum(30 - k for k in range(24, 30)) + 3


def test_browsing_without_a_query_shows_the_works_and_every_type_to_pick(small):
    ix = EntityIndex(small)
    found = ix.find("")
    assert found.items == ix.filter(types=["artwork"])
    types = {v.value: v.count for v in found.facets["type"]}
    assert types["artist"] == 6 and types["artwork"] == 36  # other types stay pickable, with counts
    assert {small.types[i] for i in ix.find("", facets={"type": ["artist"]}).items} == {"artist"}
