"""A skewed collection: most works are by one artist. The frequency prior ("always answer A") is
then a strong baseline; the trained run must match it through its fitted prior, in evaluation and
in prediction, and plainly cannot without it."""
from __future__ import annotations

import json
import random

import pytest
import torch

from helpers import write_graph
from vlkge.cli import main
from vlkge.data.readers import load_graph
from vlkge.evaluation.prior import evaluate_prior, smallest_within_one_se
from vlkge.models.prior import tail_log_prior
from vlkge.prediction.run import load_run

REL = "isCreatedByArtist"


def skewed_graph(folder, top_works: int = 240, others: int = 20, per_other: int = 5, seed: int = 0):
    """Artworks by artist_A (most of them) and a tail of small artists; untitled, so nothing but
    popularity tells an unseen artwork's artist. Val/test artworks are never in train."""
    rng = random.Random(seed)
    works = [("artist_A", k) for k in range(top_works)]
    works += [(f"artist_{a}", k) for a in range(others) for k in range(per_other)]
    rng.shuffle(works)
    ents = [("artist_A", "artist", "Artist A", "", "")]
    ents += [(f"artist_{a}", "artist", f"Artist {a}", "", "") for a in range(others)]
    trip, seen = [], set()
    for i, (artist, k) in enumerate(works):
        aid = f"artwork_{artist}_{k}"
        ents.append((aid, "artwork", "Untitled", "", ""))
        # every artist keeps a training work, so each is a candidate the model has embedded
        mode = "train" if artist not in seen else "test" if i % 10 == 0 else "val" if i % 10 == 1 else "train"
        seen.add(artist)
        trip.append((aid, REL, artist, mode))
    return write_graph(folder, ents, trip)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    graph = skewed_graph(tmp_path_factory.mktemp("skewed") / "g")
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--data", str(graph), "--out", str(out), "--dim", "16", "--epochs", "20",
                 "--eval-every", "5", "--modalities", "structural", "--quiet"]) == 0
    return out


def test_the_prior_ranks_tails_by_training_frequency(tmp_path):
    triples = torch.tensor([[0, 0, 3], [1, 0, 3], [2, 0, 4], [0, 1, 4]])
    lp = tail_log_prior(triples, 2, 5)
    assert lp[0, 3] > lp[0, 4] > lp[0, 0]  # twice, once, never
    assert lp[1, 4] > lp[1, 3]
    g = load_graph(skewed_graph(tmp_path / "g"))
    res = evaluate_prior(g, "test", "tail-candidates")
    test = g.split("test")
    share_a = float((test[:, 2] == g.entity_index["artist_A"]).double().mean())
    assert share_a > 0.5
    assert res["per_relation"][REL]["hits@1"] == pytest.approx(share_a)


def test_the_run_learns_that_most_works_are_by_a(run_dir, capsys):
    run = load_run(run_dir)
    prior = evaluate_prior(run.graph, "test", run.protocol)["per_relation"][REL]["mrr"]
    with_prior = run.evaluate("test")["per_relation"][REL]["mrr"]
    weights = json.loads((run_dir / "config.json").read_text())["prior"]["weights"]
    assert weights[REL] > 0 and run.model.tail_prior is not None
    assert with_prior >= prior - 0.02
    run.model.tail_prior = None  # the same model without the mechanism: untitled, unseen works look alike
    without = run.evaluate("test")["per_relation"][REL]["mrr"]
    assert without < prior - 0.1
    # metrics.json holds the prior beside the model; evaluate prints both, and keeps its JSON keys
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["test"]["per_relation"][REL]["mrr"] == pytest.approx(with_prior)
    assert m["prior"]["test"]["per_relation"][REL]["mrr"] == pytest.approx(prior)
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"mrr", "hits@1", "per_relation", "protocol"} <= res.keys()
    assert res["prior"]["per_relation"][REL]["mrr"] == pytest.approx(prior)
    assert main(["evaluate", str(run_dir)]) == 0
    assert f"prior mrr {prior:.4f}" in capsys.readouterr().out


def test_prediction_uses_the_prior(run_dir):
    run = load_run(run_dir)
    test = run.graph.split("test")
    by_other = test[test[:, 2] != run.graph.entity_index["artist_A"]]
    assert run.predict_tails(run.entities[int(by_other[0, 0])], REL, k=1)[0].entity == "artist_A"
    # a new entity placed anywhere: popularity still speaks
    assert run.rank_new(torch.zeros(1, 16), REL, k=1)[0].entity == "artist_A"


def test_the_weight_is_the_smallest_within_noise_of_the_best():
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(100, generator=g) * 0.1
    shuffled = noise[torch.randperm(100, generator=g)]
    rr = torch.stack([0.30 + noise, 0.30 + shuffled + 0.002, 0.60 + noise])  # only the last gain is real
    assert smallest_within_one_se(rr) == 2
    assert smallest_within_one_se(rr[:2]) == 0  # 0.002 on query-to-query noise of ±0.05: keep the first
    assert smallest_within_one_se(torch.stack([0.30 + noise, 0.31 + noise])) == 1  # small, but on every query
    assert smallest_within_one_se(torch.tensor([[0.2], [0.5]])) == 1  # one query: the best


def test_a_learned_tail_bias_learns_that_most_works_are_by_a(tmp_path):
    """The learned alternative to the fitted prior: a bias per (relation, tail) trained with the
    model, here with no fitted prior at all, must carry the popularity alone."""
    graph = skewed_graph(tmp_path / "g")
    out = tmp_path / "run"
    # Adam moves each bias by about the learning rate a step, whatever its gradient: small batches
    # give it the few hundred steps it needs to spread 240 works against 5
    assert main(["train", "--data", str(graph), "--out", str(out), "--dim", "16", "--epochs", "40",
                 "--batch-size", "32", "--eval-every", "5", "--modalities", "structural", "--tail-bias",
                 "--no-frequency-prior", "--quiet"]) == 0
    run = load_run(out)
    assert run.model.tail_prior is None and run.model.tail_bias is not None
    g = run.graph
    rel, a = g.relation_index[REL], g.entity_index["artist_A"]
    bias = run.model.tail_bias.table.weight.detach()[:, rel]
    others = [g.entity_index[f"artist_{k}"] for k in range(20)]
    assert float(bias[a]) > float(bias[others].max())  # 240 works against 5 each
    prior = evaluate_prior(g, "test", run.protocol)["per_relation"][REL]["mrr"]
    assert run.evaluate("test")["per_relation"][REL]["mrr"] >= prior - 0.02
    by_other = g.split("test")
    by_other = by_other[by_other[:, 2] != a]
    assert run.predict_tails(run.entities[int(by_other[0, 0])], REL, k=1)[0].entity == "artist_A"
    with torch.no_grad():
        run.model.tail_bias.table.weight.zero_()  # the same embeddings without it
    assert run.evaluate("test")["per_relation"][REL]["mrr"] < prior - 0.1
