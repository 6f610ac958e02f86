"""Links curators rejected in Audit, remembered by the run: ranked below every other candidate.

A rejected link "h is not by Y" cannot be learned by an embedding model without moving h or Y:
taught as a negative, it pushed h out of its style's neighbourhood, or (with h held fixed) Y away
from Y's own other works, and a run that merely ranks Y last for h did better on the rejected
artworks than either (benchmarks/RESULTS.md, "Verdict loop"). ``RejectedLinks`` is that ranking:
the scores of a query's rejected answers are set just below the lowest of its other scores, so
they rank last and keep a finite score (and a confidence near 0).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class RejectedLinks(nn.Module):
    """The rejected ``triples`` [m, 3] (h, r, t) of a graph of ``num_entities``; saved with the model."""

    def __init__(self, triples: Tensor, num_entities: int):
        super().__init__()
        self.register_buffer("triples", triples.long().reshape(-1, 3), persistent=True)
        self.num_entities = num_entities

    def mask(self, anchors: Tensor, r: Tensor, direction: str, candidates: Tensor | None = None) -> Tensor:
        """[B, N] (or [B, len(candidates)]) bool: which answers of the queries (anchor, r) in
        ``direction`` ("tail": (anchor, r, ?), "head": (?, r, anchor)) were rejected."""
        dev = anchors.device
        h, rr, t = self.triples.to(dev).unbind(1)
        own, answer = (h, t) if direction == "tail" else (t, h)
        q, j = torch.nonzero((own[None, :] == anchors[:, None]) & (rr[None, :] == r.to(dev)[:, None]), as_tuple=True)
        col = answer[j]
        width = self.num_entities
        if candidates is not None:  # each rejected answer's position among the candidates (-1: not one)
            candidates = candidates.to(dev)
            pos = torch.full((self.num_entities,), -1, dtype=torch.long, device=dev)
            pos[candidates] = torch.arange(len(candidates), device=dev)
            col, width = pos[col], len(candidates)
            q, col = q[col >= 0], col[col >= 0]
        out = torch.zeros(len(anchors), width, dtype=torch.bool, device=dev)
        out[q, col] = True
        return out

    def demote(self, scores: Tensor, anchors: Tensor, r: Tensor, direction: str,
               candidates: Tensor | None = None) -> Tensor:
        """``scores`` [B, C] with each rejected answer just below the query's lowest other score."""
        m = self.mask(anchors, r, direction, candidates)
        if not bool(m.any()):
            return scores
        floor = scores.masked_fill(m, float("inf")).amin(dim=1, keepdim=True) - 1.0
        return torch.where(m, floor.expand_as(scores), scores)
