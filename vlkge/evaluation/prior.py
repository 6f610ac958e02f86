"""The frequency prior as a baseline, and fitting its weight (and the neighbour vote's) in a model's scores.

The prior ranks a relation's candidate tails by how often they are its tail in train (heads, for
head queries, by how often they are its head): what "always answer the most frequent artist"
scores. :func:`fit_tail_prior` picks, per relation, the weight of the log prior added to a
model's tail scores (:class:`vlkge.models.prior.TailPrior`) that gives the best filtered MRR on
validation tail queries; :func:`fit_neighbour_vote` does the same for the neighbour vote
(:class:`vlkge.models.neighbours.NeighbourVote`), once per set of feature modalities. Both go
through :func:`fit_weights`.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import Tensor

from ..data.graph import Graph, candidate_mask
from ..models.model import KGEModel
from ..models.neighbours import K, NeighbourVote
from ..models.prior import TailPrior, head_log_prior, tail_log_prior
from .ranking import KnownIndex, evaluate_ranking, realistic_ranks

# Weights tried per relation; 0 (the model alone) first so ties keep the model's own ranking.
# Scores of the scorers span units to tens, log-frequency gaps a few units: up to 100 lets the
# prior decide outright and the model only break its ties.
WEIGHTS = torch.cat([torch.zeros(1), torch.logspace(-2, 2, 17)])


def evaluate_prior(graph: Graph, split: str = "test", protocol: str = "both", filter: str = "directed") -> dict:
    """``evaluate_ranking`` of the frequency prior (train triples) on ``split``: the same keys as a
    model's evaluation, so the two print side by side."""
    tr = graph.split("train")
    tails = tail_log_prior(tr, graph.num_relations, graph.num_entities)
    heads = head_log_prior(tr, graph.num_relations, graph.num_entities)
    return evaluate_ranking(graph, lambda a, r: tails[r], lambda a, r: heads[r], split=split, protocol=protocol,
                            filter=filter, score_tails_among=lambda a, r, c: tails[:, c][r])


def smallest_within_one_se(rr: Tensor) -> int:
    """Index of the first (smallest) weight whose validation MRR is within one standard error of
    the best one's, ``rr`` [weights, queries] reciprocal ranks.

    A relation has few validation queries on a small collection, and the best weight on them is
    partly chance (wikiart-mini's decades: the best weight on val lowered test MRR by a fifth; see
    benchmarks/RESULTS.md). The standard error is that of the paired per-query difference to the
    best, so a gain that holds query by query still counts.
    """
    best = int(torch.argmax(rr.mean(1)))
    diff = rr - rr[best]
    se = diff.std(1) / max(rr.shape[1], 1) ** 0.5 if rr.shape[1] > 1 else torch.zeros(len(rr))
    ok = diff.mean(1) >= -torch.nan_to_num(se)
    return int(torch.nonzero(ok)[0])


@torch.no_grad()
def fit_tail_prior(model: KGEModel, graph: Graph, protocol: str, filter: str = "directed",
                   max_queries: int = 2000, entity_vectors: Tensor | None = None) -> TailPrior:
    """The per-relation prior weight (from ``WEIGHTS``) for the filtered tail MRR on up to
    ``max_queries`` validation queries of each relation: the smallest within one standard error
    of the best (:func:`smallest_within_one_se`); 0 for relations without any. ``model`` is
    scored without a prior of its own."""
    log_prior = tail_log_prior(graph.split("train"), graph.num_relations, graph.num_entities)
    E = model.entity() if entity_vectors is None else entity_vectors
    saved = model.tail_prior, model.neighbour_vote
    model.tail_prior = model.neighbour_vote = None
    try:
        weight = fit_weights(graph, protocol, filter, max_queries, graph.split("val"),
                             lambda h, r, cand: model.score_tails(h, r, E, cand),
                             lambda h, r, cand: log_prior[r][:, cand])
    finally:
        model.tail_prior, model.neighbour_vote = saved
    return TailPrior(log_prior, weight)


@torch.no_grad()
def fit_neighbour_vote(model: KGEModel, graph: Graph, protocol: str, filter: str = "directed",
                       max_queries: int = 2000, entity_vectors: Tensor | None = None, k: int = K) -> NeighbourVote:
    """The neighbour vote's weights (:class:`vlkge.models.neighbours.NeighbourVote`), per relation
    and per set of feature modalities, each fitted as :func:`fit_tail_prior` on the validation
    tail queries whose head has that set: the head placed from those features alone (as a new
    entity with that image and/or text would be; on a graph whose every entity was trained this
    fits placement) and its nearest neighbours found by them among the others. The model's own
    prior stays in its scores."""
    rep = model.entity
    mods = rep.modalities[1:]
    weight = torch.zeros(max(1, (1 << len(mods)) - 1), graph.num_relations)
    vote = NeighbourVote(graph.split("train"), graph.num_entities, weight.clone(), k)
    if not mods:
        return vote
    E = model.entity() if entity_vectors is None else entity_vectors
    dev = rep.masks.device
    vote.to(dev)
    val, masks = graph.split("val"), rep.masks.cpu()
    sets = []
    for s in range(1, 1 << len(mods)):
        use = [m for i, m in enumerate(mods) if s >> i & 1]
        has = torch.stack([masks[val[:, 0], 1 + mods.index(m)] for m in use], dim=1).all(dim=1)
        sets.append((s, use, val[has]))
        vote.weight[s - 1, torch.unique(val[has][:, 1]).to(dev)] = 1.0  # the votes to fit, unweighted
    saved, model.neighbour_vote = model.neighbour_vote, vote
    try:
        for s, use, queries in sets:
            own = lambda h, use=use: {m: rep.features(m)[h.to(dev)] for m in use}  # noqa: E731
            weight[s - 1] = fit_weights(
                graph, protocol, filter, max_queries, queries,
                lambda h, r, cand, own=own: model.score_tails_of(rep.from_features(own(h)), r, E, cand),
                lambda h, r, cand, use=use: model.entity_vote_scores(h, r, cand, use))
        vote.weight = weight.to(dev)
        vote.forget(unweighted_only=True)
        # the entities the run places from their features: their neighbours ready for evaluation and the app
        model.remember_neighbours(torch.nonzero(~rep.masks[:, 0]).squeeze(1))
    finally:
        model.neighbour_vote = saved
    return vote


def fit_weights(graph: Graph, protocol: str, filter: str, max_queries: int, queries: Tensor,
                score: Callable[[Tensor, Tensor, Tensor], Tensor],
                addend: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Tensor:
    """[R] weight per relation (from ``WEIGHTS``) of ``addend(h, r, candidates)`` added to
    ``score(h, r, candidates)`` ([b, C] each) for the filtered tail MRR on up to ``max_queries``
    of ``queries`` [m, 3] per relation: the smallest within one standard error of the best
    (:func:`smallest_within_one_se`); 0 for relations without any."""
    weight = torch.zeros(graph.num_relations)
    if len(queries) == 0:
        return weight
    pools = candidate_mask(graph) if protocol == "tail-candidates" else None
    known = KnownIndex(graph.all_triples(), graph.num_relations, "tail", undirected=filter == "undirected")
    for rel in torch.unique(queries[:, 1]).tolist():
        rr = []  # [weights, queries] reciprocal ranks, chunk by chunk
        for h, r, scores, target, cand in filtered_tail_scores(graph, queries, rel, pools, known, score, max_queries):
            extra = addend(h, r, cand).float().cpu()
            rr.append(torch.stack([1.0 / realistic_ranks(scores + w * extra, target) for w in WEIGHTS.tolist()]))
        weight[rel] = WEIGHTS[smallest_within_one_se(torch.cat(rr, dim=1))]
    return weight


@torch.no_grad()
def filtered_tail_scores(graph: Graph, queries: Tensor, relation: int, pools: Tensor | None, known: KnownIndex,
                         score: Callable[[Tensor, Tensor, Tensor], Tensor], max_queries: int
                         ) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor, Tensor]]:
    """Chunks of (heads [B], relations [B], scores [B, P], target positions [B], candidates [P])
    for up to ``max_queries`` of ``queries`` [m, 3] with ``relation``, ``score(h, r, candidates)``
    against the relation's pool (``pools`` [R, N], or every entity), other true answers at -inf:
    what a weight is fitted on."""
    q = queries[queries[:, 1] == relation][:max_queries]
    cand = torch.nonzero(pools[relation]).squeeze(1) if pools is not None else torch.arange(graph.num_entities)
    bs = max(1, (1 << 22) // max(len(cand), 1))
    for i in range(0, len(q), bs):
        h, r, t = q[i:i + bs].T.contiguous()
        scores = score(h, r, cand).float().cpu()
        target = torch.searchsorted(cand, t)
        kept = scores.gather(1, target[:, None])
        rows, cols = known.lookup(h, r)
        p = torch.searchsorted(cand, cols).clamp_max(len(cand) - 1)
        ok = cand[p] == cols
        scores[rows[ok], p[ok]] = float("-inf")  # other true answers
        scores.scatter_(1, target[:, None], kept)
        yield h, r, scores, target, cand
