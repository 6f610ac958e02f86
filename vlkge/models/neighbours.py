"""The nearest collection entities' answers, added to the tail scores of an entity placed from
its features.

An entity without training triples (a new artwork, or one the graph holds without any) is
placed by the model from its image and text alone, through projections trained to score triples,
not to keep the pretrained features' neighbourhoods. Those neighbourhoods know a lot on their
own: "the ten works that look most like it are by Monet" (a kNN vote over EfficientNet-Lite0
features places unseen WikiArt works about as well as the trained model, see
benchmarks/RESULTS.md). ``NeighbourVote`` adds ``weight[s, r] * log vote_r(t)`` to such a
query's tail scores: ``vote_r(t)`` is the similarity-weighted share of the ``k`` entities nearest
by the features (cosine, averaged over the modalities both have) among relation r's training
heads that have t as a tail. How much the vote should count depends on what the query brings
(the model places an image alone less well than an image with its title), so there is a weight
per relation for each set ``s`` of feature modalities a query can have (:func:`feature_set`),
fitted on validation (:func:`vlkge.evaluation.prior.fit_neighbour_vote`); 0 leaves the model's
ranking as it is.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

K = 10  # neighbours that vote


def feature_set(present: Tensor) -> Tensor:
    """[B, M] bool: which of a model's M feature modalities each query has -> [B] index of that
    set among the 2^M - 1 non-empty ones (row s - 1 of ``NeighbourVote.weight`` for bits s)."""
    bits = 1 << torch.arange(present.shape[1], device=present.device)
    return (present.long() * bits).sum(1) - 1


class NeighbourVote(nn.Module):
    """``weight[s, r] * log vote_r(t)`` from the training ``triples`` [m, 3] of a graph of
    ``num_entities``, ``weight`` [2^M - 1, R] (see :func:`feature_set`); the triples and weights
    are saved with the model, so a run scores new entities without its graph."""

    def __init__(self, triples: Tensor, num_entities: int, weight: Tensor, k: int = K):
        super().__init__()
        self.register_buffer("triples", triples.long().reshape(-1, 3), persistent=True)
        self.register_buffer("weight", weight.float().reshape(-1, weight.shape[-1]), persistent=True)
        self.register_buffer("k", torch.tensor(int(k)), persistent=True)
        self.num_entities = num_entities
        self._tables: tuple[Tensor, Tensor] | None = None

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._tables = None  # other triples: the derived tables are rebuilt on first use

    def tables(self) -> tuple[Tensor, Tensor, Tensor]:
        """(heads [R, N] bool: who is relation r's head in training; keys: r * N + h of each
        training triple, sorted; the tails in the same order)."""
        if self._tables is None or self._tables[0].device != self.triples.device:
            R, N = self.weight.shape[1], self.num_entities
            h, r, t = torch.unique(self.triples, dim=0).unbind(1)  # a triple listed twice is one answer
            heads = torch.zeros(R, N, dtype=torch.bool, device=h.device)
            heads[r, h] = True
            keys, order = torch.sort(r * N + h, stable=True)
            self._tables = heads, keys, t[order]
        return self._tables

    def votes(self, similarity: Tensor, r: Tensor) -> Tensor:
        """[B, N] similarity of each query to every entity, [B] relations -> [B, N] votes: each
        of the ``k`` most similar training heads of the query's relation gives its share of the
        similarity to each of its tails (0 without any)."""
        heads, keys, tails = self.tables()
        r = r.to(heads.device)
        sim = similarity.to(heads.device).float().masked_fill(~heads[r], float("-inf"))
        top, nearest = sim.topk(min(int(self.k), sim.shape[1]), dim=1)
        w = torch.where(torch.isfinite(top), top.clamp_min(0.0), torch.zeros_like(top))
        w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
        q = (r[:, None] * self.num_entities + nearest).flatten()  # each neighbour's (r, head) key
        lo, hi = torch.searchsorted(keys, q), torch.searchsorted(keys, q, right=True)
        counts = hi - lo
        pos = torch.repeat_interleave(lo - torch.cumsum(counts, 0) + counts, counts)
        pos = pos + torch.arange(len(pos), device=pos.device)
        out = torch.zeros(similarity.shape, device=w.device)
        row = torch.repeat_interleave(torch.arange(len(r), device=w.device).repeat_interleave(w.shape[1]), counts)
        out.index_put_((row, tails[pos]), torch.repeat_interleave(w.flatten(), counts), accumulate=True)
        return out

    def log_votes(self, similarity: Tensor, r: Tensor, candidates: Tensor | None = None) -> Tensor:
        """log of :meth:`votes`, floored at half of one neighbour's equal share (a tail no
        neighbour has ranks below every voted one, not at -inf), for all entities or the
        ``candidates`` indices."""
        v = self.votes(similarity, r)
        if candidates is not None:
            v = v[:, candidates.to(v.device)]
        return torch.log(v.clamp_min(0.5 / float(self.k)))

    def forward(self, similarity: Tensor, r: Tensor, present: Tensor, candidates: Tensor | None = None) -> Tensor:
        """[B, N] (or [B, len(candidates)]) additive scores for queries with ``present`` [B, M]
        feature modalities."""
        w = self.weight.to(r.device)[feature_set(present.to(r.device)), r]
        return w[:, None] * self.log_votes(similarity, r, candidates)
