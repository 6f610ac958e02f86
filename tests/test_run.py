"""Training writes a run directory that loads back (safetensors + JSON) and predicts."""
import json

import pytest
import torch

import vlkge
from vlkge.data.readers import load_graph
from vlkge.training.config import PREDATED, ResolvedConfig, TrainConfig, resolve
from vlkge.pipeline import train_run

CHAIN_CONFIG = TrainConfig(model="complex", dim=32, epochs=150, eval_every=25, lr=0.02, negatives=64,
                           modalities=["structural"], patience=10)


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    from helpers import make_chain_graph
    root = tmp_path_factory.mktemp("chain")
    g = make_chain_graph(root / "g")
    train_run(load_graph(g), CHAIN_CONFIG, root / "run", progress=False)
    return root / "run"


@pytest.mark.slow  # the chain run trains 150 epochs
def test_run_files_and_metrics(chain_run):
    assert {p.name for p in chain_run.iterdir()} >= {"model.safetensors", "config.json", "metrics.json"}
    config = json.loads((chain_run / "config.json").read_text())
    assert config["train"]["model"] == "complex" and config["train"]["dim"] == 32
    assert config["data"]["fingerprint"] and config["versions"]["torch"]
    assert config["entities"][:2] == ["e0", "e1"]
    m = json.loads((chain_run / "metrics.json").read_text())
    assert set(m["test"]) >= {"mrr", "mr", "hits@1", "hits@3", "hits@10", "per_relation"}
    # "prev" is the inverse of "next", which ComplEx can learn: far better than chance (~0.18)
    assert m["test"]["mrr"] > 0.6
    # written through private temp files, yet readable as any file this user creates (e.g. by the
    # app's service account when a curator trained from the command line)
    from vlkge.atomic import UMASK
    for name in ("model.safetensors", "config.json", "metrics.json"):
        assert (chain_run / name).stat().st_mode & 0o777 == 0o666 & ~UMASK, name


@pytest.mark.slow  # the chain run trains 150 epochs
def test_load_run_scores_and_predictions(chain_run):
    run = vlkge.load_run(chain_run)
    assert run.entities[0] == "e0" and set(run.relations) == {"next", "prev"}
    s = run.score_tails(["e3", "e4"], "prev")
    assert s.shape == (2, 20) and s.dtype == torch.float32
    assert torch.allclose(run.score_heads(["e2"], "prev")[0, 3], s[0, 2])
    preds = run.predict_tails("e5", "next", k=5, filter_known=False)
    assert [p.rank for p in preds] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in zip(preds, preds[1:]))
    assert preds[0].entity == "e6" and preds[0].known == "train"
    novel = run.predict_tails("e5", "next", k=5)
    assert "e6" not in [p.entity for p in novel] and all(p.known is None for p in novel)
    assert all(0 <= p.confidence <= 1 for p in preds)


def test_a_run_is_what_resolve_decided_and_older_configs_load_as_trained(chain_run, tmp_path):
    import shutil
    run = vlkge.load_run(chain_run)
    assert run.train_config == resolve(CHAIN_CONFIG, run.graph)  # the one resolver's answer, read back
    assert run.protocol == run.train_config.eval_protocol_used == "both"
    # a run saved before the later fields existed: read as the training it had (training.config.PREDATED)
    old = tmp_path / "old"
    shutil.copytree(chain_run, old)
    config = json.loads((old / "config.json").read_text())
    for name in PREDATED:
        del config["train"][name]
    (old / "config.json").write_text(json.dumps(config))
    then = vlkge.load_run(old)
    assert isinstance(then.train_config, ResolvedConfig)
    assert {name: getattr(then.train_config, name) for name in PREDATED} == PREDATED
    assert then.train_config.model == "complex" and then.protocol == run.protocol
    assert [(p.entity, p.score) for p in then.predict_tails("e5", "next")] == \
        [(p.entity, p.score) for p in run.predict_tails("e5", "next")]


def test_known_answers_match_every_triple_of_the_graph(chain_run):
    run = vlkge.load_run(chain_run)
    g = run.graph
    expected: dict[tuple, dict[int, str]] = {}
    for (h, r, t), split in g.known_split().items():
        expected.setdefault(("tail", h, r), {})[t] = split
        expected.setdefault(("head", t, r), {})[h] = split
    for d in ("tail", "head"):
        for a in range(g.num_entities):
            for r in range(g.num_relations):
                assert run.known_answers(d, a, r) == expected.get((d, a, r), {}), (d, a, r)
    assert {"train", "val", "test"} <= {s for v in expected.values() for s in v.values()}


def test_load_run_refuses_non_runs(tmp_path):
    with pytest.raises(vlkge.VLKGEError, match="not a run directory"):
        vlkge.load_run(tmp_path)


@pytest.mark.slow  # trains 60 epochs
def test_inductive_placement_from_text(tmp_path):
    """Artworks unseen in training are placed from their text alone; the title names the artist."""
    from helpers import make_art_graph
    g = load_graph(make_art_graph(tmp_path / "art", n_artists=6, per_artist=10))
    cfg = TrainConfig(dim=32, epochs=60, eval_every=20, modalities=["structural", "textual"],
                      encoder="offline", lr=0.01)
    metrics = train_run(g, cfg, tmp_path / "run", progress=False)
    by_artist = metrics["test"]["per_relation"]["isCreatedByArtist"]
    assert by_artist["mrr"] > 0.6  # chance among 6 artists is 0.41
    run = vlkge.load_run(tmp_path / "run")
    preds = run.predict_new("isCreatedByArtist", text="Harbour at night by Katsushika Hokusai", k=None)
    assert len(preds) == 6 and all(p.entity.startswith("artist_") for p in preds)
    assert preds[0].entity == "artist_2"
    assert abs(sum(p.confidence for p in preds) - 1) < 1e-4


def test_the_next_run_learns_from_the_verdicts(tmp_path):
    """A rejected link is scored lower after training with the verdict than without; an accepted
    one becomes a training triple; config.json says how many verdicts were used and how the audited
    relations' MRR moved."""
    from helpers import make_app_graph
    from vlkge.curation.audit import AuditStore
    from vlkge.prediction.run import load_run

    root = make_app_graph(tmp_path / "g")
    g = load_graph(root)
    cfg = dict(dim=16, epochs=6, eval_every=2, modalities=["structural"], device="cpu", batch_size=16,
               negatives=16, seed=3)
    train_run(g, TrainConfig(**cfg), tmp_path / "before", progress=False)
    before = load_run(tmp_path / "before", graph=g)
    top = before.predict_tails("artwork_rembrandt_3", "hasStyle", k=1)[0]  # the model's favourite wrong style
    with AuditStore(tmp_path / "audit.sqlite") as store:
        store.record("artwork_rembrandt_3", "hasStyle", top.entity, "wrong", "ann")
        store.record("artwork_claude-monet_3", "belongsToGenre", "genre_marina", "plausible", "ann")
        store.record("proposed:abc", "hasStyle", "style_baroque", "wrong", "ann")  # not in the graph: skipped
    train_run(load_graph(root), TrainConfig(**cfg), tmp_path / "after", progress=False,
              verdicts=tmp_path / "audit.sqlite", previous=tmp_path / "before")
    after = load_run(tmp_path / "after", graph=g)
    score = {r.path.name: float(r.score_tails(["artwork_rembrandt_3"], "hasStyle")[0, g.entity_index[top.entity]])
             for r in (before, after)}
    assert score["after"] < score["before"] - 0.1, score  # same seed and data: the verdicts are the difference
    # the run remembers the rejected link: it ranks last, with a finite score, once loaded back
    ranked = after.predict_tails("artwork_rembrandt_3", "hasStyle", k=None, filter_known=False)
    assert ranked[-1].entity == top.entity and ranked[-1].score > float("-inf") and ranked[-1].confidence < 0.5
    used = json.loads((tmp_path / "after" / "config.json").read_text())["verdicts"]
    assert (used["accepted"], used["rejected"], used["skipped"]) == (1, 1, 1)
    assert set(used["mrr"]) == {"hasStyle", "belongsToGenre"}
    prev = json.loads((tmp_path / "before" / "metrics.json").read_text())["test"]["per_relation"]
    assert used["mrr"]["hasStyle"]["before"] == prev["hasStyle"]["mrr"]
    assert used["mrr"]["hasStyle"]["after"] is not None
    from vlkge.app import run_card, verdicts_text
    line = verdicts_text(run_card(after)["verdicts"])
    assert line.startswith("Learned from 1 accepted and 1 rejected Audit verdicts, 1 naming") and "hasStyle MRR" in line


def test_an_entity_known_only_through_an_accepted_verdict_stays_placed_from_its_features(tmp_path):
    """An accepted link is a training triple, but the artwork it names, unseen in training
    otherwise, keeps being placed from its features (its vector is its features' placement, the
    neighbour vote still applies): a structural vector trained from that one link took over its
    fused vector on wikiart-mini and lost what the features said about its genre and decade."""
    import pickle
    from helpers import make_art_graph
    from vlkge.curation.audit import AuditStore
    from vlkge.encoders.import_features import import_features
    from vlkge.prediction.run import load_run

    g = load_graph(make_art_graph(tmp_path / "g", n_artists=4, per_artist=5))
    gen = torch.Generator().manual_seed(0)
    with open(tmp_path / "feats.pkl", "wb") as f:
        pickle.dump({e: torch.randn(6, generator=gen).numpy() for e in g.entities}, f)
    import_features(tmp_path / "feats.pkl", g, "textual", "rand")
    judged, trained = "artwork_0_0", "artwork_0_2"  # a test artwork (no training triples), a training one
    assert not bool(g.train_entities[g.entity_index[judged]])
    with AuditStore(tmp_path / "audit.sqlite") as store:
        store.record(judged, "isCreatedByArtist", "artist_2", "plausible", "ann")
    cfg = TrainConfig(dim=8, epochs=2, eval_every=1, modalities=["structural", "textual"], encoder="imported:rand",
                      device="cpu", negatives=8)
    train_run(g, cfg, tmp_path / "after", progress=False, verdicts=tmp_path / "audit.sqlite")
    run = load_run(tmp_path / "after", graph=g)
    assert json.loads((tmp_path / "after" / "config.json").read_text())["verdicts"]["accepted"] == 1
    rep = run.model.entity
    idx = torch.tensor([g.entity_index[judged], g.entity_index[trained]])
    assert rep.placed_from_features(idx).tolist() == [True, False]
    with torch.no_grad():
        placed = rep.from_features({"textual": rep.features("textual")[idx[:1]]})
    assert torch.allclose(run.entity_vectors[idx[:1]], placed, atol=1e-6)


def test_predict_tails_in_a_candidate_pool_equals_ranking_every_entity(tmp_path):
    """On a typed graph only the relation's pool is scored; the answer is the full ranking of
    every entity restricted to that pool."""
    from helpers import make_art_graph
    g = load_graph(make_art_graph(tmp_path / "art"))
    cfg = TrainConfig(model="rotate", dim=16, epochs=3, eval_every=3, modalities=["structural"])
    train_run(g, cfg, tmp_path / "run", progress=False)
    run = vlkge.load_run(tmp_path / "run")
    assert run.candidate_pools is not None
    for h, r, _ in run.graph.split("test").tolist()[:6]:
        head, rel = run.entities[h], run.relations[r]
        full = run.score_tails([head], rel)[0]
        allowed = run.candidate_pools[r].clone()
        allowed[h] = False
        known = run.known_answers("tail", h, r)
        for filter_known in (True, False):
            ok = allowed.clone()
            if filter_known and known:
                ok[torch.tensor(list(known))] = False
            idx = torch.nonzero(ok).squeeze(1)
            order = idx[torch.argsort(full[idx], descending=True, stable=True)]
            preds = run.predict_tails(head, rel, k=None, filter_known=filter_known)
            assert [p.entity for p in preds] == [run.entities[i] for i in order.tolist()]
            assert [p.score for p in preds] == pytest.approx(full[order].tolist(), abs=1e-5)
            every = {p.entity: p.confidence for p in run.predict_tails(head, rel, k=None, filter_known=False)}
            assert sum(every.values()) == pytest.approx(1.0, abs=1e-4)  # one distribution over the pool
            assert all(p.confidence == pytest.approx(every[p.entity]) for p in preds)
