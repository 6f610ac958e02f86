"""Negative sampling, shared across a batch.

Each batch draws one set S of negative entities and every positive (h, r, t) is contrasted with
(h, r, s) and (s, r, t) for all s in S; scoring is then two dense products [B, |S|] instead of a
gather of B·k vectors, whose backward pass dominates training time on a CPU (LibKGE's "shared"
negative sampling). ``k >= num_entities`` uses every entity. "Typed" sampling draws S per relation
from the entities seen as its heads (domain) and tails (range) and masks the rest, giving the hard
negatives the per-relation candidate protocol ranks against.
"""
from __future__ import annotations

import torch
from torch import Tensor


class NegativeSampler:
    def __init__(self, triples: Tensor, num_entities: int, num_relations: int, k: int,
                 typed: bool = False, filter_known: bool = False, generator: torch.Generator | None = None,
                 anchor_relations: Tensor | None = None):
        """anchor_relations: per relation, whether a positive's own anchors count as negatives
        (default: none do)."""
        self.n, self.R, self.k, self.typed, self.gen = num_entities, num_relations, k, typed, generator
        self.anchor_relations = (torch.zeros(num_relations, dtype=torch.bool) if anchor_relations is None
                                 else anchor_relations)
        self.any_anchor = bool(self.anchor_relations.any())
        if typed:
            self.domain = _mask(triples[:, 1], triples[:, 0], num_relations, num_entities)
            self.range = _mask(triples[:, 1], triples[:, 2], num_relations, num_entities)
            # per relation, the entities of its domain ∪ range as one flat index with offsets
            pools = self.domain | self.range
            self.pool_size = pools.sum(1)
            self.pool_start = torch.cumsum(self.pool_size, 0) - self.pool_size
            self.pool_flat = torch.nonzero(pools)[:, 1]
        self.known = None
        if filter_known:
            self.known = torch.sort(self._keys(triples[:, 0], triples[:, 1], triples[:, 2])).values

    def _keys(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return (h * self.R + r) * self.n + t

    def sample(self, pos: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """pos [B, 3] -> (S [K] entity indices, tail_mask [B, K], head_mask [B, K], self_mask [B, 2]):
        which corruptions (h, r, S_j) and (S_j, r, t) count as negatives for each positive, and
        whether its own anchors as answers, (h, r, h) and (t, r, t), do (None when no relation's
        anchors count, so the loss skips them)."""
        B = pos.shape[0]
        if self.k >= self.n:
            S = torch.arange(self.n)
        elif self.typed:
            rels = torch.unique(pos[:, 1])
            per = max(1, self.k // max(len(rels), 1))
            # draw ``per`` entities from each batch relation's pool (with replacement)
            u = torch.rand(len(rels), per, generator=self.gen)
            S = self.pool_flat[self.pool_start[rels, None] + (u * self.pool_size[rels, None]).long()].reshape(-1)
        else:
            S = torch.randint(0, self.n, (self.k,), generator=self.gen)
        h, r, t = pos[:, 0:1], pos[:, 1], pos[:, 2:3]
        tail_mask = S[None, :] != t
        head_mask = S[None, :] != h
        self_mask = ((h != t) & self.anchor_relations[r][:, None]).expand(B, 2).clone() if self.any_anchor else None
        if self.typed:
            tail_mask &= self.range[r[:, None], S[None, :]]
            head_mask &= self.domain[r[:, None], S[None, :]]
            if self_mask is not None:  # an anchor outside the relation's range is never a candidate answer
                self_mask &= torch.stack([self.range[r, h[:, 0]], self.domain[r, t[:, 0]]], dim=1)
        if self.known is not None:
            tail_mask &= ~self._is_known(h.expand(B, len(S)), r[:, None].expand(B, len(S)), S.expand(B, -1))
            head_mask &= ~self._is_known(S.expand(B, -1), r[:, None].expand(B, len(S)), t.expand(B, len(S)))
        return S, tail_mask, head_mask, self_mask

    def _is_known(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        keys = self._keys(h, r, t)
        idx = torch.searchsorted(self.known, keys).clamp_max(len(self.known) - 1)
        return self.known[idx] == keys


def _mask(relations: Tensor, entities: Tensor, num_relations: int, num_entities: int) -> Tensor:
    m = torch.zeros(num_relations, num_entities, dtype=torch.bool)
    m[relations, entities] = True
    return m
