"""Temperature scaling against a brute-force oracle: the temperature whose softmax gives the
validation tails the least negative log-likelihood, found by scanning a fine grid directly."""
from __future__ import annotations

import pytest
import torch

from helpers import make_art_graph
from vlkge.data.graph import candidate_mask
from vlkge.data.readers import load_graph
import vlkge.evaluation.calibration as calibration
from vlkge.evaluation.calibration import fit_temperatures


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return load_graph(make_art_graph(tmp_path_factory.mktemp("art") / "g", n_artists=6, per_artist=8))


def score_table(graph, sharpness: list[float], seed: int = 0) -> torch.Tensor:
    """[N, R, N] scores: noise, the true tails of every split raised by the relation's sharpness,
    some candidates at -inf (rejected answers rank last)."""
    g = torch.Generator().manual_seed(seed)
    S = torch.randn(graph.num_entities, graph.num_relations, graph.num_entities, generator=g)
    for h, r, t in graph.all_triples().tolist():
        S[h, r, t] += sharpness[r]
    S[torch.rand(S.shape, generator=g) < 0.05] = float("-inf")
    return S


def oracle(graph, queries, pools, S) -> float:
    """log10 T of the least NLL on a 0.001-decade grid, the rows whose tail scores -inf left out."""
    grid = torch.arange(-3.0, 3.0001, 0.001, dtype=torch.float64)
    nll = torch.zeros(len(grid), dtype=torch.float64)
    for h, r, t in queries.tolist():
        cand = torch.nonzero(pools[r]).squeeze(1) if pools is not None else torch.arange(graph.num_entities)
        s = S[h, r, cand].double()
        target = int(torch.searchsorted(cand, torch.tensor(t)))
        if not torch.isfinite(s[target]):
            continue
        nll += torch.logsumexp(s[None, :] / 10.0 ** grid[:, None], dim=1) - s[target] / 10.0 ** grid
    return float(grid[int(torch.argmin(nll))])


@pytest.mark.parametrize("pooled", [False, True])
def test_the_fitted_temperature_is_the_least_nll_one(graph, pooled, monkeypatch):
    pools = candidate_mask(graph) if pooled else None
    sharp = [0.5 + 2.0 * r for r in range(graph.num_relations)]  # relations as sure as they differ
    S = score_table(graph, sharp)
    q = torch.cat([graph.split("val"), graph.split("test")])
    calls = []

    def score(h, r, cand):
        calls.append(len(h))
        return S[h, r][:, cand]
    t_all, t_rel = fit_temperatures(graph, q, pools, score, per_relation_from=5)
    assert abs(torch.log10(torch.tensor(t_all)) - oracle(graph, q, pools, S)) < 0.01
    assert set(t_rel) == set(torch.unique(q[:, 1]).tolist())
    for rel, t in t_rel.items():
        assert abs(torch.log10(torch.tensor(t)) - oracle(graph, q[q[:, 1] == rel], pools, S)) < 0.01
    # a sharper relation's scores need a temperature of their own (the fit is not one number for all)
    assert len({round(t, 2) for t in t_rel.values()}) == len(t_rel)
    assert sum(calls) == len(q)  # scored once, kept for the later passes
    # when the scores cannot be kept, every pass scores again, to the same temperatures
    monkeypatch.setattr(calibration, "KEPT_SCORES", 0)
    calls.clear()
    assert fit_temperatures(graph, q, pools, score, per_relation_from=5) == (t_all, t_rel)
    assert sum(calls) > len(q)


def test_a_temperature_at_the_end_of_the_range_and_no_usable_query(graph):
    q = graph.split("val")
    S = torch.zeros(graph.num_entities, graph.num_relations, graph.num_entities)
    S[q[:, 0], q[:, 1], q[:, 2]] = 100.0  # always right, by far: the coldest temperature
    t, _ = fit_temperatures(graph, q, None, lambda h, r, cand: S[h, r][:, cand])
    assert t == pytest.approx(1e-3)
    S[q[:, 0], q[:, 1], q[:, 2]] = float("-inf")  # no true tail can be ranked: nothing to fit
    assert fit_temperatures(graph, q, None, lambda h, r, cand: S[h, r][:, cand]) == (1.0, {})
