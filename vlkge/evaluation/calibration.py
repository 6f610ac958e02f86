"""Temperature scaling: the softmax temperature under which a ranking's confidences match how
often its answers are right, fitted on validation tail queries.

The negative log-likelihood of the true tails under softmax(beta * scores) is convex in
beta = 1/T (a log-sum-exp, less a linear term), so its minimum is where its derivative,
sum over queries of E_p[score] - score(true tail), changes sign: bisection on that sign in
log beta finds it in a few passes over the scores, where a grid of temperatures needs one
softmax per grid point (what that cost at museum scale: benchmarks/RESULTS.md).
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import Tensor

from ..data.graph import Graph

LOG10_T_RANGE = (-3.0, 3.0)  # temperatures from 1e-3 to 1e3
STEPS = 10  # bisection halvings of that range: 6 decades / 2^10, ~0.006 decade
QUERIES_PER_CHUNK = 256
# Scores kept between passes (float32 elements, 256 MB); a larger fit scores again each pass.
KEPT_SCORES = 1 << 26


@torch.no_grad()
def fit_temperatures(graph: Graph, queries: Tensor, pools: Tensor | None,
                     score: Callable[[Tensor, Tensor, Tensor], Tensor],
                     per_relation_from: int | None = None) -> tuple[float, dict[int, float]]:
    """The temperature with the least negative log-likelihood of ``queries`` [m, 3]' tails under
    softmax(``score(h, r, candidates)`` / T), each relation's queries scored against its
    candidate pool only (``pools`` [R, N] bool; None: every entity), in chunks, so memory stays
    at [chunk, pool]; and, with ``per_relation_from``, each relation's own temperature where it
    has that many queries. A query whose true tail scores -inf tells nothing of T: left out.
    1.0 when no query counts."""
    chunks = ScoreChunks(graph, queries, pools, score)
    groups: dict[int | None, tuple[float, float]] = {None: LOG10_T_RANGE}  # None: all the queries
    if per_relation_from is not None:
        counts = torch.bincount(queries[:, 1], minlength=graph.num_relations) if len(queries) else torch.zeros(0)
        groups.update({rel: LOG10_T_RANGE for rel in torch.nonzero(counts >= per_relation_from).flatten().tolist()})

    def slopes(log10_t: dict[int | None, float]) -> dict[int | None, float]:
        """d NLL / d beta of every group at its temperature."""
        out = dict.fromkeys(log10_t, 0.0)
        for rel, scores, target in chunks:
            for g in (None, rel):
                if g in log10_t:
                    out[g] += nll_slope(scores, target, 10.0 ** -log10_t[g])
        return out

    # the slope rises with beta, i.e. falls with T: the minimum is between a negative (hot) end
    # and a positive (cold) one, or at the end where the slope never changes sign
    hot = slopes({g: hi for g, (lo, hi) in groups.items()})
    if chunks.rows == 0:
        return 1.0, {}
    cold = slopes({g: lo for g, (lo, hi) in groups.items()})
    fitted: dict[int | None, float] = {}
    for g, (lo, hi) in groups.items():
        if hot[g] >= 0:
            fitted[g] = hi
        elif cold[g] <= 0:
            fitted[g] = lo
    for _ in range(STEPS):
        live = {g: (lo + hi) / 2 for g, (lo, hi) in groups.items() if g not in fitted}
        if not live:
            break
        for g, s in slopes(live).items():
            lo, hi = groups[g]
            groups[g] = (live[g], hi) if s > 0 else (lo, live[g])  # s > 0: too cold, the minimum is hotter
    for g, (lo, hi) in groups.items():
        fitted.setdefault(g, (lo + hi) / 2)
    return 10.0 ** fitted.pop(None), {g: 10.0 ** v for g, v in fitted.items()}


def nll_slope(scores: Tensor, target: Tensor, beta: float) -> float:
    """Sum over rows of d/d beta of -log softmax(beta * scores)[target]: E_p[score] - score(target)."""
    finite = torch.isfinite(scores)
    z = torch.where(finite, scores, torch.zeros_like(scores))
    p = torch.softmax(beta * scores, dim=1)  # -inf scores get probability 0
    return float(((p * z).sum(1) - z.gather(1, target[:, None]).squeeze(1)).sum())


class ScoreChunks:
    """The (relation, scores [b, C], target [b]) chunks of tail queries against their pools, the
    rows whose true tail scores -inf dropped; kept in memory up to :data:`KEPT_SCORES` elements so
    later passes need not score again."""

    def __init__(self, graph: Graph, queries: Tensor, pools: Tensor | None,
                 score: Callable[[Tensor, Tensor, Tensor], Tensor]):
        self.score, self.plan, self.kept, self.counted = score, [], {}, set()
        h, r, t = queries.unbind(1)
        for rel in torch.unique(r).tolist():
            idx = torch.nonzero(r == rel).squeeze(1)
            cand = torch.nonzero(pools[rel]).squeeze(1) if pools is not None else torch.arange(graph.num_entities)
            target = torch.searchsorted(cand, t[idx])
            for i in range(0, len(idx), QUERIES_PER_CHUNK):
                sel = idx[i:i + QUERIES_PER_CHUNK]
                self.plan.append((rel, h[sel], r[sel], cand, target[i:i + QUERIES_PER_CHUNK]))
        self.budget, self.rows = KEPT_SCORES, 0  # rows: the usable queries, once scored

    def __iter__(self) -> Iterator[tuple[int, Tensor, Tensor]]:
        for i, (rel, h, r, cand, target) in enumerate(self.plan):
            if i in self.kept:
                yield self.kept[i]
                continue
            scores = self.score(h, r, cand).float().cpu()
            ok = torch.isfinite(scores.gather(1, target[:, None]).squeeze(1))
            chunk = (rel, scores[ok], target[ok])
            self.rows += int(ok.sum()) if i not in self.counted else 0
            self.counted.add(i)
            if scores.numel() <= self.budget:
                self.kept[i], self.budget = chunk, self.budget - scores.numel()
            yield chunk
