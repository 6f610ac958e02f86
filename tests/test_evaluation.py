"""The filtered evaluator against a brute-force reference (PyKEEN cross-check: test_vs_pykeen_eval.py)."""
import pytest
import torch

from vlkge.data.graph import Graph
from vlkge.data.readers import load_graph
from vlkge.evaluation.ranking import KnownIndex, candidate_mask, evaluate_ranking, realistic_ranks


def brute_force(graph, scores_t, scores_h, split, protocol, undirected=False):
    allt = {tuple(x) for x in graph.all_triples().tolist()}
    if undirected:  # the authors' filter: a link either way round counts as known
        allt |= {(t, r, h) for h, r, t in allt}
    cands = candidate_mask(graph) if protocol == "tail-candidates" else None
    ranks = []
    for h, r, t in graph.split(split).tolist():
        dirs = [("tail", h, t)] + ([("head", t, h)] if protocol == "both" else [])
        for d, a, target in dirs:
            s = (scores_t if d == "tail" else scores_h)[a][r]
            mine = s[target]
            better = equal = 0
            for e in range(graph.num_entities):
                if e == target:
                    continue
                trip = (a, r, e) if d == "tail" else (e, r, a)
                if trip in allt:
                    continue
                if cands is not None and not cands[r, e]:
                    continue
                better += s[e] > mine
                equal += s[e] == mine
            ranks.append(1 + better + equal / 2)
    ranks = torch.tensor(ranks, dtype=torch.float64)
    return float((1 / ranks).mean()), float(ranks.mean()), float((ranks <= 3).double().mean())


@pytest.mark.parametrize("protocol", ["both", "tail-candidates"])
@pytest.mark.parametrize("filter", ["directed", "undirected"])
def test_matches_brute_force(art_graph, protocol, filter):
    g = load_graph(art_graph)
    torch.manual_seed(0)
    # rounded scores force ties, which the realistic rank must average
    S_t = torch.randint(0, 5, (g.num_entities, g.num_relations, g.num_entities)).float()
    S_h = torch.randint(0, 5, (g.num_entities, g.num_relations, g.num_entities)).float()
    res = evaluate_ranking(g, lambda a, r: S_t[a, r], lambda a, r: S_h[a, r], "test", protocol, filter,
                           batch_size=3)
    mrr, mr, h3 = brute_force(g, S_t.tolist(), S_h.tolist(), "test", protocol, filter == "undirected")
    assert res["mrr"] == pytest.approx(mrr)
    assert res["mr"] == pytest.approx(mr)
    assert res["hits@3"] == pytest.approx(h3)
    assert sum(m["count"] for m in res["per_relation"].values()) == res["count"]
    # scoring each relation's candidate pool only gives the same ranks
    pooled = evaluate_ranking(g, lambda a, r: S_t[a, r], lambda a, r: S_h[a, r], "test", protocol, filter,
                              batch_size=3,
                              score_tails_among=lambda a, r, c: S_t[a, r][:, c])
    assert pooled["mrr"] == pytest.approx(res["mrr"]) and pooled["mr"] == pytest.approx(res["mr"])


def test_realistic_rank_of_ties():
    scores = torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, 2.0, 1.0, 0.0]])
    assert realistic_ranks(scores, torch.tensor([0, 2])).tolist() == [2.5, 3.0]


def test_known_index_lookup():
    trip = torch.tensor([[0, 0, 1], [0, 0, 2], [1, 0, 2], [0, 1, 3]])
    rows, cols = KnownIndex(trip, 2, "tail").lookup(torch.tensor([0, 1, 2]), torch.tensor([0, 0, 0]))
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 1), (0, 2), (1, 2)]


def test_undirected_filter_removes_the_symmetric_competitor():
    """DistMult-like symmetric scores: for (child, hypernym, ?) the child's own child scores as
    high as the parent; the undirected filter drops it (it is linked to the child by hypernym the
    other way round), the standard one does not."""
    g = Graph(entities=["a", "b", "c"], relations=["hypernym"], types=["thing"] * 3, labels=["a", "b", "c"],
              descriptions=[""] * 3, images=[""] * 3,
              triples={"train": torch.tensor([[1, 0, 0], [2, 0, 1]]), "val": torch.zeros(0, 3, dtype=torch.long),
                       "test": torch.tensor([[1, 0, 0]])})  # a <- b <- c, test (b, hypernym, a)
    i = {e: n for n, e in enumerate(g.entities)}
    S = torch.zeros(3, 1, 3)
    S[i["b"], 0, i["a"]] = S[i["b"], 0, i["c"]] = 1.0  # symmetric: (b,r,c) scores like (c,r,b)
    score = lambda a, r: S[a, r]
    directed = evaluate_ranking(g, score, score, "test", "tail", "directed")
    undirected = evaluate_ranking(g, score, score, "test", "tail", "undirected")
    assert directed["mr"] == 1.5 and undirected["mr"] == 1.0
    assert undirected["filter"] == "undirected"


def test_zero_shot_ranks_by_feature_cosine(tmp_path, monkeypatch):
    """The zero-shot baseline on hand-made textual features that determine the answer (an artwork's
    vector is its style's plus its artist's plus noise in dimensions no style or artist has): its ranks are the
    brute-force ranks of the cosines, whether the run carries the features or is structure-only."""
    import pickle

    from helpers import make_art_graph
    from vlkge.encoders.import_features import import_features
    from vlkge.pipeline import zero_shot as evaluate_zero_shot
    from vlkge.prediction.run import load_run
    from vlkge.training.config import TrainConfig
    from vlkge.pipeline import train_run
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path / "cache"))
    g = load_graph(make_art_graph(tmp_path / "art", n_artists=4, per_artist=5))
    gen = torch.Generator().manual_seed(0)
    styles = sorted({t for h, r, t in g.all_triples().tolist() if g.relations[r] == "hasStyle"})
    artists = [i for i, t in enumerate(g.types) if t == "artist"]
    by = {g.relations[r]: {} for r in range(g.num_relations)}
    for h, r, t in g.all_triples().tolist():
        by[g.relations[r]][h] = t
    D = len(styles) + len(artists) + 6
    feats = {}
    for i, e in enumerate(g.entities):
        v = torch.zeros(D)
        if g.types[i] == "style":
            v[styles.index(i)] = 1
        elif g.types[i] == "artist":
            v[len(styles) + artists.index(i)] = 1
        elif e != "artwork_0_3":  # one artwork without text: never an answer, scores 0 as a query
            v[styles.index(by["hasStyle"][i])] = 1
            v[len(styles) + artists.index(by["isCreatedByArtist"][i])] = 1
            v[len(styles) + len(artists):] = 0.5 * torch.randn(6, generator=gen)
        else:
            continue
        feats[e] = v.numpy()
    with open(tmp_path / "hand.pkl", "wb") as f:
        pickle.dump(feats, f)
    import_features(tmp_path / "hand.pkl", g, "textual", "hand")
    text = torch.zeros(g.num_entities, D)
    for e, v in feats.items():
        text[g.entity_index[e]] = torch.nn.functional.normalize(torch.from_numpy(v), dim=0)
    S = text @ text.T  # cosine of every pair; 0 wherever an entity has no text
    scores = S[:, None, :].expand(-1, g.num_relations, -1).tolist()
    runs = {}
    for mods in (["structural", "textual"], ["structural"]):
        out = tmp_path / "-".join(mods)
        train_run(g, TrainConfig(model="distmult", dim=8, epochs=1, eval_every=1, modalities=mods,
                                 encoder="imported:hand", device="cpu"), out, progress=False)
        runs[len(mods)] = load_run(out)
    for protocol in ("both", "tail-candidates"):
        mrr, mr, h3 = brute_force(g, scores, scores, "test", protocol)
        for run in runs.values():
            res = evaluate_zero_shot(run, protocol=protocol)
            assert res["zero_shot"] == "text-to-text"
            assert (res["mrr"], res["mr"], res["hits@3"]) == (pytest.approx(mrr), pytest.approx(mr), pytest.approx(h3))
    # among each relation's candidates the features determine every tail; with heads too they do not
    assert evaluate_zero_shot(runs[2], protocol="tail-candidates")["mrr"] == pytest.approx(1.0)
    assert evaluate_zero_shot(runs[2], protocol="both")["mrr"] < 0.9


def test_known_index_span_and_rows():
    trip = torch.tensor([[0, 0, 1], [1, 0, 2], [0, 0, 2], [0, 1, 3]])
    for undirected in (False, True):
        idx = KnownIndex(trip, 2, "tail", undirected=undirected)
        span = idx.span(0, 0)
        assert idx.answers[span].tolist() == [1, 2]
        assert idx.rows[span].tolist() == [0, 2]  # triple rows, in the triples' order
        assert idx.answers[idx.span(2, 0)].tolist() == ([1, 0] if undirected else [])
        assert idx.rows[idx.span(2, 0)].tolist() == ([1, 2] if undirected else [])
        assert idx.answers[idx.span(5, 1)].tolist() == []
