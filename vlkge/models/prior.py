"""Popularity: how often an entity is a relation's tail in the training triples.

Real collections are skewed (one bequest can be half a museum's objects), and "always answer the
most frequent artist" is then a strong baseline that a KGE model's scores do not represent: a
query's score depends on the head, and nothing in a bilinear or distance scorer says "most works
are by A". ``TailPrior`` adds ``weight[r] * log p_r(t)`` to a tail query's scores, the log of the
relation's training tail frequencies with a per-relation weight fitted on validation
(:func:`vlkge.evaluation.prior.fit_tail_prior`); weight 0 leaves the model's ranking as it is.
``TailBias`` is the learned alternative: a bias per (relation, tail) trained with the model.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def tail_log_prior(triples: Tensor, num_relations: int, num_entities: int) -> Tensor:
    """[R, N] log frequency of each entity as each relation's tail in ``triples``. An entity never
    seen as the tail counts half a triple, so it ranks below every seen tail but not at -inf."""
    return _log_frequencies(triples[:, 1], triples[:, 2], num_relations, num_entities)


def head_log_prior(triples: Tensor, num_relations: int, num_entities: int) -> Tensor:
    """[R, N] as :func:`tail_log_prior`, for heads."""
    return _log_frequencies(triples[:, 1], triples[:, 0], num_relations, num_entities)


def _log_frequencies(relations: Tensor, entities: Tensor, num_relations: int, num_entities: int) -> Tensor:
    counts = torch.zeros(num_relations, num_entities)
    counts.index_put_((relations, entities), torch.ones(len(relations)), accumulate=True)
    total = counts.sum(1, keepdim=True).clamp_min(1.0)
    return torch.log((counts + 0.5) / total)


class TailPrior(nn.Module):
    """``weight[r] * log_prior[r, t]``, added to the scores of tail queries (h, r, ?)."""

    def __init__(self, log_prior: Tensor, weight: Tensor):
        super().__init__()
        self.register_buffer("log_prior", log_prior.float(), persistent=True)
        self.register_buffer("weight", weight.float(), persistent=True)

    def forward(self, r: Tensor, candidates: Tensor | None = None) -> Tensor:
        """[B] relations -> [B, N] (or [B, len(candidates)]) additive scores."""
        table = self.log_prior if candidates is None else self.log_prior[:, candidates.to(self.log_prior.device)]
        return (self.weight[:, None] * table)[r.to(table.device)]


class TailBias(nn.Module):
    """A learned score offset per (relation, tail entity), trained with the model (zero at first).

    Trained on the positives and the corrupted tails (``training.trainer``): with the logistic
    loss against tails drawn uniformly from the relation's pool, a head-independent term's optimum
    is log(p_r(t) / q_r(t)), the tail's training frequency over its sampling rate: popularity,
    learned jointly, so the embeddings are left to say what differs from it. Stored per entity (a
    row of one bias per relation) so a step's gradient touches only the rows it scored. Part of a
    triple's score and of tail queries'; a head query's candidates share one tail, so it is left
    out there."""

    def __init__(self, num_entities: int, num_relations: int, sparse: bool = True):
        super().__init__()
        self.table = nn.Embedding(num_entities, num_relations, sparse=sparse)
        nn.init.zeros_(self.table.weight)

    def forward(self, r: Tensor, t: Tensor) -> Tensor:
        """Aligned [B] relations and tails -> [B]."""
        return self.table(t).gather(1, r[:, None]).squeeze(1)

    def of(self, r: Tensor, candidates: Tensor | None = None) -> Tensor:
        """[B] relations -> [B, N] (or [B, len(candidates)]) offsets of every candidate tail."""
        rows = self.table.weight if candidates is None else self.table(candidates.to(self.table.weight.device))
        return rows[:, r.to(rows.device)].T
