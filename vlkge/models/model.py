"""The VL-KGE model on one screen: a multimodal entity representation plus a scorer.

An entity's vector is the average of the modalities it has: a trainable structural embedding
(for entities seen in training), and frozen VLM image and text features, each passed through a
linear projection when its size differs from the KGE dimension. Entities never seen in training
(a new artwork) are therefore placed from their features alone. Relations are vectors; two that
are each other's inverse in the data may share one (``Relations.tie``).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .fusion import FUSIONS, make_fusion  # noqa: F401  (FUSIONS: the choices, re-exported)
from .scorers import Scorer, make_scorer, relation_dim, scorer_class
from .neighbours import NeighbourVote, feature_set
from .prior import TailBias, TailPrior
from .rejected import RejectedLinks

MODALITIES = ("structural", "visual", "textual")
# Elements of one [rows, N] block of query-to-entity similarities (64 MB of float32): the neighbour
# vote's temporaries stay this size whatever the batch (4,096 queries against 82k entities were
# several GB: a 70k-object catalogue's evaluation peaked at 9.4 GB RSS), and a block has enough
# rows for the matrix product to run near full speed (a few dozen rows do not).
SIMILARITY_BLOCK = 1 << 24
# The neighbour vote compares placed entities with the training heads alone when they are at most
# this share of the entities and a copy of their features at most this many bytes (a catalogue's
# artworks beside its artists, places, dates); otherwise with every entity, in place.
HEADS_APART_BELOW = 0.9
HEADS_COPY_BYTES = 1 << 28
# Where each feature modality's frozen rows are kept (the buffer names of saved models).
FEATURE_BUFFERS = {"visual": "visual_features", "textual": "textual_features"}


class EntityRepresentation(nn.Module):
    """Fuses structural, visual and textual modalities into one [dim] vector per entity."""

    def __init__(self, num_entities: int, dim: int, structural_mask: Tensor,
                 features: dict[str, tuple[Tensor, Tensor]] | None = None,
                 fusion: str = "average", init_std: float | None = None, sparse: bool = True,
                 fill_structural: bool = True):
        super().__init__()
        self.dim, self.fusion = dim, fusion
        self.fuse_parts = make_fusion(fusion)
        # Sparse gradients: a batch touches few rows, and a dense [N, dim] gradient per step
        # (plus a dense optimizer update) would dominate training time on large graphs.
        if fill_structural:
            self.structural = nn.Embedding(num_entities, dim, sparse=sparse)
            nn.init.normal_(self.structural.weight, std=init_std or 1.0 / math.sqrt(dim))
        else:  # saved weights are about to replace the table: filling it with random numbers first
            # cost load_run more CPU than everything else after the imports (81k x 256, twice)
            self.structural = nn.Embedding(num_entities, dim, sparse=sparse, _weight=torch.empty(num_entities, dim))
        self.modalities = ["structural"] + sorted((features or {}).keys())
        self.proj = nn.ModuleDict()
        masks = [structural_mask.bool()]
        for m in self.modalities[1:]:
            feats, mask = features[m]
            self.register_buffer(FEATURE_BUFFERS[m], feats.float(), persistent=True)
            masks.append(mask.bool())
            self.proj[m] = nn.Linear(feats.shape[1], dim) if feats.shape[1] != dim else nn.Identity()
        masks = torch.stack(masks, dim=1)
        # An entity with no modality at all keeps its (untrained) structural vector.
        masks[:, 0] |= ~masks.any(dim=1)
        self.register_buffer("masks", masks, persistent=True)
        self.fuse_parts.add_parameters(self, len(self.modalities), dim)

    def features(self, modality: str) -> Tensor:
        """The frozen feature rows of a (non-structural) modality, [N, d_m]."""
        return self.get_buffer(FEATURE_BUFFERS[modality])

    def forward(self, idx: Tensor | None = None, structural_dropout: float = 0.0) -> Tensor:
        """Fused vectors of entities ``idx`` (all when None).

        ``structural_dropout`` (training only) hides the structural part of entities that have
        other modalities with that probability, so the projections learn to place an entity from
        its features alone, which is how entities unseen in training are represented.
        """
        if idx is None:
            if len(self.modalities) == 1 and not torch.is_grad_enabled():
                return self.structural.weight  # every row in order: the table itself, not a copy of it
            idx = torch.arange(self.masks.shape[0], device=self.masks.device)
        if len(self.modalities) == 1:
            return self.structural(idx)
        parts = [self.structural(idx)]
        for m in self.modalities[1:]:
            parts.append(self.proj[m](self.features(m)[idx]))
        mask = self.masks[idx]
        if structural_dropout > 0:
            drop = (torch.rand(len(idx), device=mask.device) < structural_dropout) & mask[:, 1:].any(dim=1)
            mask = torch.cat([mask[:, :1] & ~drop[:, None], mask[:, 1:]], dim=1)
        return self.fuse(torch.stack(parts, dim=1), mask)

    def placed_from_features(self, idx: Tensor) -> Tensor:
        """bool [B]: which of entities ``idx`` have no structural embedding (no training
        triples) and are therefore represented by their features alone."""
        return ~self.masks[idx.to(self.masks.device), 0]

    def present(self, features: dict[str, Tensor]) -> Tensor:
        """[B, M] bool: which of the feature modalities (``modalities[1:]``) each query row of
        ``features`` has (a zero row or a missing key is an absent modality)."""
        b = next(iter(features.values())).shape[0]
        cols = [features[m].norm(dim=1) > 0 if m in features else torch.zeros(b, dtype=torch.bool)
                for m in self.modalities[1:]]
        return torch.stack([c.to(self.masks.device) for c in cols], dim=1)

    def similarity_blocks(self, features: dict[str, Tensor], exclude: Tensor | None = None,
                          among: Tensor | None = None):
        """(rows slice, :meth:`feature_similarity` of those rows) over the query rows of
        ``features``, a block of at most SIMILARITY_BLOCK elements at a time."""
        b = next(iter(features.values())).shape[0]
        targets = self.similarity_targets(among)
        step = max(1, SIMILARITY_BLOCK // max(1, int(self.masks.shape[0] if among is None else len(among))))
        for i in range(0, b, step):
            sl = slice(i, min(b, i + step))
            yield sl, self.feature_similarity({m: f[sl] for m, f in features.items()},
                                              None if exclude is None else exclude[sl], targets=targets)

    def similarity_targets(self, among: Tensor | None = None) -> dict:
        """What :meth:`feature_similarity` compares queries with: every entity's (or only the
        ``among`` entities') frozen features, their inverse norms and presence, per modality."""
        idx = slice(None) if among is None else among.to(self.masks.device)
        targets: dict = {"among": among}
        for i, m in enumerate(self.modalities[1:], start=1):
            targets[m] = (self.features(m)[idx], 1.0 / self.feature_norms(m)[idx].clamp_min(1e-12), self.masks[idx, i])
        return targets

    def feature_similarity(self, features: dict[str, Tensor], exclude: Tensor | None = None,
                           targets: dict | None = None) -> Tensor:
        """[B, N] cosine similarity of query features (``{modality: [B, d_m]}``; a zero row is an
        absent modality) with every entity's frozen features (or those of ``targets``, from
        :meth:`similarity_targets`: [B, len(among)]), averaged over the modalities both have;
        -inf where they share none and at ``exclude`` [B] (the query itself, when it is in the
        graph)."""
        targets = self.similarity_targets() if targets is None else targets
        total = count = None
        for m in self.modalities[1:]:
            f = features.get(m)
            if f is None:
                continue
            f = f.float().to(self.masks.device)
            F, inv_norm, has = targets[m]
            q_norm = f.norm(dim=1)
            cos = ((f / q_norm.clamp_min(1e-12)[:, None]) @ F.T).mul_(inv_norm)
            both = (q_norm > 0)[:, None] & has[None, :]
            total = cos.mul_(both) if total is None else total.add_(cos.mul_(both))
            count = both.float() if count is None else count.add_(both)
        if total is None:
            raise ValueError("the query has none of this model's feature modalities")
        sim = total.div_(count.clamp_min(1.0)).masked_fill_(count == 0, float("-inf"))
        if exclude is not None:
            exclude = exclude.to(sim.device)
            rows = torch.arange(len(sim), device=sim.device)
            if targets["among"] is not None:  # the query's column among the targets, if it is one
                column = torch.full((self.masks.shape[0],), -1, dtype=torch.long, device=sim.device)
                column[targets["among"].to(sim.device)] = torch.arange(len(targets["among"]), device=sim.device)
                exclude = column[exclude]
                rows, exclude = rows[exclude >= 0], exclude[exclude >= 0]
            sim[rows, exclude] = float("-inf")
        return sim

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self.__dict__.pop("_feature_norms", None)  # other features: their norms are recomputed

    def feature_norms(self, modality: str) -> Tensor:
        """[N] L2 norms of a modality's frozen features (computed once: they never change)."""
        cache = self.__dict__.setdefault("_feature_norms", {})
        f = self.features(modality)
        if modality not in cache or cache[modality].device != f.device:
            cache[modality] = f.norm(dim=1)
        return cache[modality]

    def from_features(self, features: dict[str, Tensor]) -> Tensor:
        """Vectors for entities outside the graph from their raw features ([B, d_m] each)."""
        b = next(iter(features.values())).shape[0]
        parts = [torch.zeros(b, self.dim, device=self.masks.device)]
        masks = [torch.zeros(b, dtype=torch.bool, device=self.masks.device)]
        for m in self.modalities[1:]:
            f = features.get(m)
            if f is None:
                parts.append(torch.zeros(b, self.dim, device=self.masks.device))
                masks.append(masks[0])
            else:
                parts.append(self.proj[m](f.float().to(self.masks.device)))
                masks.append(torch.ones(b, dtype=torch.bool, device=self.masks.device))
        mask = torch.stack(masks, dim=1)
        if not mask.any(dim=1).all():
            raise ValueError("a new entity needs at least one modality this model was trained with")
        return self.fuse(torch.stack(parts, dim=1), mask)

    def fuse(self, parts: Tensor, mask: Tensor) -> Tensor:
        """parts [B, M, dim], mask [B, M] -> [B, dim] (see models.fusion)."""
        return self.fuse_parts(self, parts, mask)

    def modality_vectors(self, modality: str) -> tuple[Tensor, Tensor]:
        """One modality's (projected) vectors for all entities and its presence mask."""
        i = self.modalities.index(modality)
        if modality == "structural":
            return self.structural.weight, self.masks[:, 0]
        return self.proj[modality](self.features(modality)), self.masks[:, i]


class Relations(nn.Embedding):
    """Relation vectors. A relation tied to its inverse in the data (``tie``) has no vector of its
    own but the scorer's inverse of the other one's, so the two learn from the triples of both and
    stay exact inverses; its row is written out only when saved, so a saved model needs no ties."""

    def __init__(self, num_relations: int, dim: int, scorer: Scorer):
        super().__init__(num_relations, dim)
        self.invert = scorer.inverse
        self.register_buffer("source", torch.arange(num_relations), persistent=False)
        self.register_buffer("inverted", torch.zeros(num_relations, dtype=torch.bool), persistent=False)
        self.tied = False  # nothing tied: a plain lookup (the common case, and training's hot path)

    def tie(self, inverse_of: dict[int, int]) -> None:
        """Make each relation ``r`` of ``inverse_of`` the inverse of relation ``inverse_of[r]``."""
        for r, other in inverse_of.items():
            self.source[r], self.inverted[r] = other, True
        self.tied = bool(self.inverted.any())

    def ties(self) -> dict[int, int]:
        return {int(r): int(self.source[r]) for r in self.inverted.nonzero().flatten()}

    def forward(self, r: Tensor) -> Tensor:
        if not self.tied:
            return super().forward(r)
        source = self.source[r]
        v = super().forward(source)
        inv = self.invert(v)
        # a relation tied to itself (symmetric) is the nearest vector that is its own inverse
        inv = torch.where((source == r).unsqueeze(-1), (v + inv) / 2, inv)
        return torch.where(self.inverted[r].unsqueeze(-1), inv, v)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        # every row as used, tied ones included: the saved weight stands alone
        destination[prefix + "weight"] = self(torch.arange(self.num_embeddings, device=self.weight.device)).detach()


class KGEModel(nn.Module):
    def __init__(self, entity: EntityRepresentation, num_relations: int, scorer: Scorer):
        super().__init__()
        self.entity, self.scorer = entity, scorer
        self.relation = Relations(num_relations, relation_dim(scorer, entity.dim), scorer)
        # A learned offset added to scores in the logistic loss only (ranking ignores it): distance
        # scorers (TransE, RotatE) are never positive, so without it a true triple could never be
        # judged likely and training collapses the relations (RotatE's margin gamma, learned).
        self.offset = nn.Parameter(torch.zeros(()))
        # Fitted after training (prior.TailPrior): popularity added to tail queries' scores.
        self.tail_prior: TailPrior | None = None
        # Learned with the model when asked (training.config tail_bias): popularity per (relation, tail).
        self.tail_bias: TailBias | None = None
        # Fitted after training (neighbours.NeighbourVote): the answers of the entities nearest by
        # features, added to the tail scores of an entity placed from its features.
        self.neighbour_vote: NeighbourVote | None = None
        # Set after training from curators' verdicts (rejected.RejectedLinks): rejected answers rank last.
        self.rejected_links: RejectedLinks | None = None
        scorer.init_relations(self.relation.weight, entity.dim)

    def score_triples(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        s = self.scorer.triples(self.entity(h), self.relation(r), self.entity(t))
        return s if self.tail_bias is None else s + self.tail_bias(r, t)

    def score_tails(self, h: Tensor, r: Tensor, entities: Tensor | None = None,
                    candidates: Tensor | None = None) -> Tensor:
        """[B] heads and relations against all entities (or the ``candidates`` indices) -> [B, N]
        (or [B, len(candidates)]); ``entities`` are precomputed entity vectors."""
        E = self.entity() if entities is None else entities
        h, r = h.to(E.device), r.to(E.device)  # queries are often built on the CPU; a GPU model scores there
        s = self.score_tails_of(E[h], r, E, candidates)
        if self.neighbour_vote is not None:
            placed = self.entity.placed_from_features(h).to(E.device)
            if bool(placed.any()):
                s[placed] = s[placed] + self.entity_vote_scores(h[placed], r[placed], candidates).to(s.dtype)
        if self.rejected_links is not None:
            s = self.rejected_links.demote(s, h, r, "tail", candidates)
        return s

    def score_tails_of(self, heads: Tensor, r: Tensor, entities: Tensor, candidates: Tensor | None = None,
                       features: dict[str, Tensor] | None = None) -> Tensor:
        """``score_tails`` for head vectors [B, dim] (an entity outside the graph, placed from
        its ``features``: ``{modality: [B, d_m]}``, which the neighbour vote uses), against
        ``entities`` (or their ``candidates`` rows)."""
        r = r.to(entities.device)
        s = self.scorer.tails(heads, self.relation(r),
                              entities if candidates is None else entities[candidates.to(entities.device)])
        if self.tail_bias is not None:
            s = s + self.tail_bias.of(r, candidates)
        if self.tail_prior is not None:
            s = s + self.tail_prior(r, candidates)
        if self.neighbour_vote is not None and features:
            s = s + self.vote_scores(features, r, candidates).to(s.dtype)
        return s

    def vote_scores(self, features: dict[str, Tensor], r: Tensor, candidates: Tensor | None = None,
                    present: Tensor | None = None, exclude: Tensor | None = None) -> Tensor:
        """The neighbour vote's additive scores [B, N] (or [B, len(candidates)]) for queries with
        ``features`` (``present`` [B, M]: which modalities they have, by default read from the
        features; ``exclude``: the queries themselves when in the graph), a block of rows at a time."""
        present = self.entity.present(features) if present is None else present
        return torch.cat([self.neighbour_vote(sim, r[sl], present[sl], candidates)
                          for sl, sim in self.entity.similarity_blocks(features, exclude=exclude)])

    def entity_vote_scores(self, h: Tensor, r: Tensor, candidates: Tensor | None = None,
                           modalities: list[str] | None = None) -> Tensor:
        """:meth:`vote_scores` of graph entities ``h`` placed from their own features (those of
        ``modalities``; by default all they have), each left out of its own neighbours. Their
        neighbours are found once per entity and feature set (:meth:`remember_neighbours`) and
        looked up after that, in this process and, saved with the model, in later ones."""
        vote, rep = self.neighbour_vote, self.entity
        h = h.to(rep.masks.device)
        r = r.to(h.device)
        present = self.own_features_present(h, modalities)
        w = vote.query_weight(r, present) * present.any(1)
        out = torch.zeros(len(h), rep.masks.shape[0] if candidates is None else len(candidates), device=h.device)
        live = torch.nonzero(w != 0).squeeze(1)
        if len(live) == 0:
            return out
        keys = vote.key(feature_set(present[live]), r[live], h[live])
        found = vote.remembered(keys)[0]
        if not bool(found.all()):
            self.remember_neighbours(h[live][~found], modalities)
        _, nearest, share = vote.remembered(keys)
        out[live] = w[live, None] * vote.floor_log(vote.votes_of(nearest, share, r[live], candidates)).to(out.device)
        return out

    def own_features_present(self, h: Tensor, modalities: list[str] | None = None) -> Tensor:
        """[B, M] which feature modalities graph entities ``h`` have, of ``modalities`` (all by default)."""
        present = self.entity.masks[h.to(self.entity.masks.device), 1:]
        if modalities is None:
            return present
        keep = torch.tensor([m in modalities for m in self.entity.modalities[1:]], device=present.device)
        return present & keep

    @torch.no_grad()
    def remember_neighbours(self, h: Tensor, modalities: list[str] | None = None) -> None:
        """Find and remember in the neighbour vote the neighbours of graph entities ``h`` placed
        from their own features (of ``modalities``) for every relation the vote weighs for their
        feature set: one similarity row per entity, against the training heads only, and one
        top-k per group of relations with the same heads."""
        vote, rep = self.neighbour_vote, self.entity
        h = torch.unique(h.to(rep.masks.device))
        present = self.own_features_present(h, modalities)
        h, present = h[present.any(1)], present[present.any(1)]
        sets = feature_set(present)
        weighted = vote.weight.to(h.device)[sets] != 0  # [B, R]: the relations each one needs
        relations = torch.nonzero(weighted.any(0)).squeeze(1).tolist()
        if len(h) == 0 or not relations:
            return
        groups = vote.head_groups(relations)
        among = torch.nonzero(torch.stack([heads for _, heads in groups]).any(0)).squeeze(1)
        copy = len(among) * sum(rep.features(m).shape[1] * 4 for m in rep.modalities[1:])
        if len(among) <= HEADS_APART_BELOW * len(rep.masks) and copy <= HEADS_COPY_BYTES:
            groups = [(rels, heads[among]) for rels, heads in groups]
        else:
            among = None
        own = {m: rep.features(m)[h] * present[:, i, None] for i, m in enumerate(rep.modalities[1:])}
        found: list[tuple[Tensor, Tensor, Tensor]] = []  # (keys, nearest, shares), added to the memo at once
        for sl, sim in rep.similarity_blocks(own, exclude=h, among=among):
            for rels, heads in groups:
                local, share = vote.top_shares(sim if bool(heads.all()) else sim.masked_fill(~heads, float("-inf")))
                nearest = local if among is None else among.to(h.device)[local]
                for rel in rels:
                    rows = torch.nonzero(weighted[sl, rel]).squeeze(1)
                    rr = torch.full((len(rows),), rel, dtype=torch.long, device=h.device)
                    found.append((vote.key(sets[sl][rows], rr, h[sl][rows]), nearest[rows], share[rows]))
        vote.remember(*(torch.cat(parts) for parts in zip(*found)))

    def score_heads(self, t: Tensor, r: Tensor, entities: Tensor | None = None) -> Tensor:
        """[B] tails and relations against all entities as heads -> [B, N] (a tail bias would be
        the same for every candidate: left out)."""
        E = self.entity() if entities is None else entities
        t, r = t.to(E.device), r.to(E.device)
        s = self.scorer.heads(E, self.relation(r), E[t])
        return s if self.rejected_links is None else self.rejected_links.demote(s, t, r, "head")


def build_model(model: str, num_entities: int, num_relations: int, dim: int,
                structural_mask: Tensor, features: dict[str, tuple[Tensor, Tensor]] | None = None,
                fusion: str = "average", p: int = 1, sparse: bool = True, tail_bias: bool = False,
                fill_structural: bool = True) -> KGEModel:
    """A model to train (or, with ``fill_structural=False``, an entity table left unfilled, for
    saved weights to be loaded into)."""
    if scorer_class(model).complex and dim % 2:
        raise ValueError(f"{model} needs an even dimension (got {dim})")
    scorer = make_scorer(model, p=p)
    rep = EntityRepresentation(num_entities, dim, structural_mask, features, fusion, sparse=sparse,
                               fill_structural=fill_structural)
    kge = KGEModel(rep, num_relations, scorer)
    if tail_bias:
        kge.tail_bias = TailBias(num_entities, num_relations, sparse=sparse)
    if scorer.distance and fill_structural:
        with torch.no_grad():  # start the offset at a typical distance of random triples
            g = torch.Generator().manual_seed(0)
            h, t = (torch.randint(0, num_entities, (256,), generator=g) for _ in range(2))
            r = torch.randint(0, num_relations, (256,), generator=g)
            kge.offset.fill_(-float(kge.score_triples(h, r, t).mean()))
    return kge
