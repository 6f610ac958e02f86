"""Filtered rank evaluation, batched and chunked so memory stays at [batch, num_entities].

Ranks are "realistic": the mean of the optimistic and pessimistic rank, so a model that scores
everything equal gets the expected rank of a random order rather than rank 1.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..data.graph import Graph, candidate_mask, default_protocol  # noqa: F401 (re-exported)
from ..models.model import KGEModel

ScoreFn = Callable[[Tensor, Tensor], Tensor]  # (anchor [B], relation [B]) -> scores [B, N]
# (anchor [B], relation [B], candidates [P]) -> scores [B, P]: scoring only a relation's pool
PoolScoreFn = Callable[[Tensor, Tensor, Tensor], Tensor]
HITS = (1, 3, 10)
PROTOCOLS = ("both", "tail", "head", "tail-candidates")
# directed: the standard filter, other known answers of the same (anchor, relation, ?) query.
# undirected: also every entity linked to the anchor by the relation the other way round. This
# is the VL-KGE authors' released evaluation (one filter map keyed by either end of a triple),
# under which the paper's WN9-IMG figures were measured; it matters for symmetric scorers
# (DistMult scores (h,r,t) and (t,r,h) alike) on graphs with hierarchy relations.
FILTERS = ("directed", "undirected")


class KnownIndex:
    """Known answers of (anchor, relation) queries as sorted keys, for vectorised filtering.

    ``rows[i]`` is the row of ``triples`` that sorted entry ``i`` came from; entries of one query
    keep the order of their triples."""

    def __init__(self, triples: Tensor, num_relations: int, direction: str, undirected: bool = False):
        n = len(triples)
        if undirected:
            triples = torch.cat([triples, triples.flip(1)])
        anchor, answer = (triples[:, 0], triples[:, 2]) if direction == "tail" else (triples[:, 2], triples[:, 0])
        keys = anchor * num_relations + triples[:, 1]
        order = torch.argsort(keys, stable=True)
        self.keys, self.answers, self.num_relations = keys[order], answer[order], num_relations
        self.rows = order % n if undirected and n else order

    def span(self, anchor: int, relation: int) -> slice:
        """The sorted entries of one query."""
        q = anchor * self.num_relations + relation
        return slice(int(torch.searchsorted(self.keys, q)), int(torch.searchsorted(self.keys, q, right=True)))

    def lookup(self, anchor: Tensor, relation: Tensor) -> tuple[Tensor, Tensor]:
        """(row, answer) pairs: every known answer of each query row."""
        q = anchor * self.num_relations + relation
        lo = torch.searchsorted(self.keys, q, right=False)
        hi = torch.searchsorted(self.keys, q, right=True)
        counts = hi - lo
        rows = torch.repeat_interleave(torch.arange(len(q)), counts)
        starts = torch.repeat_interleave(lo - torch.cumsum(counts, 0) + counts, counts)
        pos = starts + torch.arange(int(counts.sum()))
        return rows, self.answers[pos]


def realistic_ranks(scores: Tensor, targets: Tensor) -> Tensor:
    """Rank of scores[i, targets[i]] within row i (1 = best), ties averaged. Mutates nothing."""
    return _realistic_ranks_(torch.nan_to_num(scores, nan=float("-inf")), targets)


def _realistic_ranks_(scores: Tensor, targets: Tensor, flags: Tensor | None = None) -> Tensor:
    """``realistic_ranks`` of scores without NaN, comparing into ``flags`` (a reusable bool
    buffer of the same shape) instead of fresh [B, N] masks."""
    s = scores.gather(1, targets[:, None])
    flags = torch.empty_like(scores, dtype=torch.bool) if flags is None else flags
    greater = torch.gt(scores, s, out=flags).sum(1)
    equal = torch.eq(scores, s, out=flags).sum(1) - 1
    return 1.0 + greater.double() + equal.double() / 2.0


def rank_queries(score_fn: ScoreFn, anchors: Tensor, relations: Tensor, targets: Tensor,
                 known: KnownIndex | None, num_entities: int,
                 candidates: Tensor | None = None, batch_size: int | None = None,
                 pool_score_fn: PoolScoreFn | None = None) -> Tensor:
    """Filtered realistic ranks of ``targets`` for queries (anchor, relation, ?).

    ``candidates`` is an optional bool [num_relations, num_entities] mask of allowed answers per
    relation (the per-relation candidate pools); ``known`` filters other true answers. With
    ``pool_score_fn``, queries are grouped by relation and scored against their pool only, so the
    cost is queries × pool size rather than queries × entities.
    """
    if candidates is not None and pool_score_fn is not None:
        return _rank_in_pools(pool_score_fn, anchors, relations, targets, known, candidates, batch_size)
    # Blocks of up to 32M scores (128 MB), copied into buffers reused from block to block: every
    # fresh block is new pages from the kernel (page faults: half the CPU time at 81k entities),
    # and the scorer's own per-call work over all entities is paid once per block.
    bs = batch_size or max(1, min(2048, (1 << 25) // max(num_entities, 1)))
    out = []
    buf = flags = None
    for i in range(0, len(anchors), bs):
        a, r, t = anchors[i:i + bs], relations[i:i + bs], targets[i:i + bs]
        raw = score_fn(a, r)
        if buf is None or buf.shape[0] < raw.shape[0] or buf.device != raw.device:
            buf = torch.empty(raw.shape, dtype=torch.float32, device=raw.device)
            flags = torch.empty(raw.shape, dtype=torch.bool, device=raw.device)
        scores, fl = buf[:raw.shape[0]], flags[:raw.shape[0]]
        scores.copy_(raw)  # score_fn may hand out a view of shared scores: never write into it
        del raw
        torch.nan_to_num_(scores, nan=float("-inf"))
        t = t.to(scores.device)
        target_scores = scores.gather(1, t[:, None])
        if candidates is not None:
            scores.masked_fill_(~candidates[r].to(scores.device), float("-inf"))
        if known is not None:
            rows, cols = known.lookup(a.cpu(), r.cpu())
            scores[rows.to(scores.device), cols.to(scores.device)] = float("-inf")
        scores.scatter_(1, t[:, None], target_scores)
        out.append(_realistic_ranks_(scores, t, fl).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64)


def _rank_in_pools(pool_score_fn: PoolScoreFn, anchors: Tensor, relations: Tensor, targets: Tensor,
                   known: KnownIndex | None, candidates: Tensor, batch_size: int | None) -> Tensor:
    ranks = torch.empty(len(anchors), dtype=torch.float64)
    for rel in torch.unique(relations).tolist():
        idx = torch.nonzero(relations == rel).squeeze(1)
        pool = torch.nonzero(candidates[rel]).squeeze(1)  # sorted
        bs = batch_size or max(1, min(4096, (1 << 24) // max(len(pool), 1)))
        for i in range(0, len(idx), bs):
            sel = idx[i:i + bs]
            a, r, t = anchors[sel], relations[sel], targets[sel]
            pos = torch.searchsorted(pool, t)  # every target is in its relation's pool
            scores = pool_score_fn(a, r, pool).float().clone()
            target_scores = scores.gather(1, pos[:, None].to(scores.device))
            if known is not None:
                rows, cols = known.lookup(a.cpu(), r.cpu())
                p = torch.searchsorted(pool, cols).clamp_max(len(pool) - 1)
                ok = pool[p] == cols
                scores[rows[ok].to(scores.device), p[ok].to(scores.device)] = float("-inf")
            scores.scatter_(1, pos[:, None].to(scores.device), target_scores)
            ranks[sel] = realistic_ranks(scores, pos.to(scores.device)).cpu()
    return ranks


def summarise(ranks: Tensor) -> dict[str, float]:
    if len(ranks) == 0:
        return {"mrr": 0.0, "mr": 0.0, **{f"hits@{k}": 0.0 for k in HITS}, "count": 0}
    r = ranks.double()
    return {"mrr": float((1.0 / r).mean()), "mr": float(r.mean()),
            **{f"hits@{k}": float((r <= k).double().mean()) for k in HITS}, "count": int(len(r))}


def evaluate_ranking(graph: Graph, score_tails: ScoreFn, score_heads: ScoreFn | None,
                     split: str = "test", protocol: str = "both", filter: str = "directed",
                     batch_size: int | None = None, score_tails_among: PoolScoreFn | None = None) -> dict:
    """Filtered MRR, MR and Hits@k on ``split`` (filter: every known triple of every split, see
    FILTERS), overall and per relation; for ``both`` also per direction."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (choose from {', '.join(PROTOCOLS)})")
    if filter not in FILTERS:
        raise ValueError(f"unknown filter {filter!r} (choose from {', '.join(FILTERS)})")
    triples = graph.split(split)
    excluded = [graph.relation_index[r] for r in graph.excluded_from_eval if r in graph.relation_index]
    if excluded:
        triples = triples[~torch.isin(triples[:, 1], torch.tensor(excluded))]
    allt = graph.all_triples()
    n = graph.num_entities
    h, r, t = triples.unbind(1)
    rank_parts, rel_parts, result = [], [], {}
    directions = {"both": ("tail", "head"), "tail": ("tail",), "head": ("head",),
                  "tail-candidates": ("tail",)}[protocol]
    cands = candidate_mask(graph) if protocol == "tail-candidates" else None
    for d in directions:
        known = KnownIndex(allt, graph.num_relations, d, undirected=filter == "undirected")
        if d == "tail":
            ranks = rank_queries(score_tails, h, r, t, known, n, cands, batch_size, score_tails_among)
        else:
            ranks = rank_queries(score_heads, t, r, h, known, n, None, batch_size)
        result[d] = summarise(ranks)
        rank_parts.append(ranks)
        rel_parts.append(r)
    ranks, rels = torch.cat(rank_parts), torch.cat(rel_parts)
    result.update(summarise(ranks))
    result["per_relation"] = {graph.relations[i]: summarise(ranks[rels == i])
                              for i in torch.unique(rels).tolist()}
    result.update({"split": split, "protocol": protocol, "filter": filter})
    return result


@torch.no_grad()
def evaluate_model(model: KGEModel, graph: Graph, split: str = "test", protocol: str = "both",
                   filter: str = "directed", entity_vectors: Tensor | None = None) -> dict:
    """``evaluate_ranking`` for a KGE model: its entities are fused once (or ``entity_vectors``
    reused) and a relation's candidate pool is scored on its own."""
    E = model.entity() if entity_vectors is None else entity_vectors
    return evaluate_ranking(graph, lambda h, r: model.score_tails(h, r, E),
                            lambda t, r: model.score_heads(t, r, E), split=split, protocol=protocol,
                            filter=filter, score_tails_among=lambda h, r, c: model.score_tails(h, r, E, c))
