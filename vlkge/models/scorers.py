"""KGE scoring functions (interactions), separate from how entities are represented.

Each scorer maps embeddings to plausibility scores (higher = more plausible) three ways:
``triples(h, r, t)`` for aligned rows [B, d] -> [B]; ``tails(h, r, E)`` for queries (h, r, ?)
against candidate tails E [N, d] -> [B, N]; ``heads(E, r, t)`` for (?, r, t) -> [B, N].
The batched forms are single matrix products or ``cdist`` calls, never Python loops.
ComplEx and RotatE treat a d-dimensional vector as d/2 complex numbers (real half, imaginary half);
RotatE's relation is d/2 phases.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def _complex(x: Tensor) -> tuple[Tensor, Tensor]:
    return x.chunk(2, dim=-1)


class Scorer:
    name: str = ""
    #: size of a relation vector relative to the entity dimension
    relation_dim_factor: float = 1.0

    def triples(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def tails(self, h: Tensor, r: Tensor, E: Tensor) -> Tensor:
        raise NotImplementedError

    def heads(self, E: Tensor, r: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def inverse(self, r: Tensor) -> Tensor:
        """The relation vector that scores (t, ·, h) as ``r`` scores (h, ·, t)."""
        raise NotImplementedError


class TransE(Scorer):
    """-||h + r - t||_p (Bordes et al., 2013)."""

    name = "transe"

    def __init__(self, p: int = 1):
        self.p = p

    def triples(self, h, r, t):
        return -(h + r - t).norm(p=self.p, dim=-1)

    def tails(self, h, r, E):
        return -torch.cdist(h + r, E, p=self.p)

    def heads(self, E, r, t):
        return -torch.cdist(t - r, E, p=self.p)

    def inverse(self, r):
        return -r


class DistMult(Scorer):
    """<h, r, t> (Yang et al., 2015)."""

    name = "distmult"

    def triples(self, h, r, t):
        return (h * r * t).sum(-1)

    def tails(self, h, r, E):
        return (h * r) @ E.T

    def heads(self, E, r, t):
        return (r * t) @ E.T

    def inverse(self, r):
        return r


class ComplEx(Scorer):
    """Re(<h, r, conj(t)>) (Trouillon et al., 2016)."""

    name = "complex"

    def triples(self, h, r, t):
        return (self._query_tail(h, r) * t).sum(-1)

    def tails(self, h, r, E):
        return self._query_tail(h, r) @ E.T

    def heads(self, E, r, t):
        return self._query_head(r, t) @ E.T

    def inverse(self, r):
        rr, ri = _complex(r)
        return torch.cat([rr, -ri], dim=-1)

    @staticmethod
    def _query_tail(h: Tensor, r: Tensor) -> Tensor:
        hr, hi = _complex(h)
        rr, ri = _complex(r)
        return torch.cat([hr * rr - hi * ri, hr * ri + hi * rr], dim=-1)

    @staticmethod
    def _query_head(r: Tensor, t: Tensor) -> Tensor:
        rr, ri = _complex(r)
        tr, ti = _complex(t)
        return torch.cat([rr * tr + ri * ti, rr * ti - ri * tr], dim=-1)


class RotatE(Scorer):
    """-||h ∘ r - t|| with r a unit-modulus rotation (Sun et al., 2019).

    The norm is the Euclidean norm of the complex difference (as PyKEEN), which lets ranking
    against all entities run through ``cdist``.
    """

    name = "rotate"
    relation_dim_factor = 0.5

    def triples(self, h, r, t):
        return -(self._rotate(h, r) - t).norm(dim=-1)

    def tails(self, h, r, E):
        return -torch.cdist(self._rotate(h, r), E)

    def heads(self, E, r, t):
        # |h∘r - t| = |h - t∘conj(r)| because |r| = 1
        return -torch.cdist(self._rotate(t, -r), E)

    def inverse(self, r):
        return -r

    @staticmethod
    def _rotate(x: Tensor, phase: Tensor) -> Tensor:
        xr, xi = _complex(x)
        c, s = torch.cos(phase), torch.sin(phase)
        return torch.cat([xr * c - xi * s, xr * s + xi * c], dim=-1)


SCORERS: dict[str, type[Scorer]] = {s.name: s for s in (TransE, DistMult, ComplEx, RotatE)}


def make_scorer(name: str, p: int = 1) -> Scorer:
    name = name.lower()
    if name not in SCORERS:
        raise ValueError(f"unknown model {name!r} (choose from {', '.join(SCORERS)})")
    return TransE(p) if name == "transe" else SCORERS[name]()


def relation_dim(scorer: Scorer, dim: int) -> int:
    return int(math.ceil(dim * scorer.relation_dim_factor))
