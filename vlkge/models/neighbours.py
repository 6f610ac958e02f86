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
    are saved with the model, so a run scores new entities without its graph.

    Finding a query's neighbours costs its similarity to every entity; the vote of an entity of
    the graph depends on nothing else than which of its features it is placed from, so its
    neighbours are remembered (:meth:`remember`, saved with the model): evaluation, calibration
    and the app score a placed artwork's every relation from one similarity row, once per run."""

    def __init__(self, triples: Tensor, num_entities: int, weight: Tensor, k: int = K):
        super().__init__()
        self.register_buffer("triples", triples.long().reshape(-1, 3), persistent=True)
        self.register_buffer("weight", weight.float().reshape(-1, weight.shape[-1]), persistent=True)
        self.register_buffer("k", torch.tensor(int(k)), persistent=True)
        self.num_entities = num_entities
        width = min(int(k), num_entities)
        # (set, relation, entity) keys, sorted (:meth:`key`), and each one's neighbours and shares
        self.register_buffer("memo_keys", torch.zeros(0, dtype=torch.long), persistent=True)
        self.register_buffer("memo_nearest", torch.zeros(0, width, dtype=torch.int32), persistent=True)
        self.register_buffer("memo_share", torch.zeros(0, width), persistent=True)
        self._tables: tuple[Tensor, Tensor, Tensor] | None = None

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._tables = None  # other triples: the derived tables are rebuilt on first use

    def tables(self) -> tuple[Tensor, Tensor, Tensor]:
        """(heads [R, N] bool: who is relation r's head in training; keys: r * N + h of each
        training triple, sorted; the tails in the same order)."""
        if self._tables is None or self._tables[0].device != self.triples.device:
            R, N = self.weight.shape[1], self.num_entities
            h, r, t = self.triples.unbind(1)
            # a triple listed twice is one answer; sorted by (r, h) key, then tail
            keys_t = torch.unique((r * N + h) * N + t)  # one long per triple: unique over rows is far slower
            keys, t = torch.div(keys_t, N, rounding_mode="floor"), keys_t % N
            heads = torch.zeros(R, N, dtype=torch.bool, device=h.device)
            heads[torch.div(keys, N, rounding_mode="floor"), keys % N] = True
            self._tables = heads, keys, t
        return self._tables

    def nearest(self, similarity: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
        """[B, N] similarity of each query to every entity, [B] relations -> the ``k`` most
        similar training heads of each query's relation [B, k] and their shares of the vote
        [B, k] (their similarities, normalised; 0 for a missing or dissimilar one)."""
        heads = self.tables()[0]
        r = r.to(heads.device)
        return self.top_shares(similarity.to(heads.device).float().masked_fill(~heads[r], float("-inf")))

    def top_shares(self, similarity: Tensor) -> tuple[Tensor, Tensor]:
        """The ``k`` most similar columns of each row of ``similarity`` [B, C] (-inf: not a
        candidate) and their shares of the vote."""
        top, nearest = similarity.topk(min(int(self.k), similarity.shape[1]), dim=1)
        w = torch.where(torch.isfinite(top), top.clamp_min(0.0), torch.zeros_like(top))
        return nearest, w / w.sum(1, keepdim=True).clamp_min(1e-12)

    def head_groups(self, relations: list[int]) -> list[tuple[list[int], Tensor]]:
        """``relations`` grouped by who their training heads are: (relations, heads [N] bool)
        -- on a catalogue every artwork is the head of most relations, whose neighbours are
        then one top-k."""
        groups: list[tuple[list[int], Tensor]] = []
        for rel, mask in zip(relations, self.tables()[0][relations]):
            same = next((g for g in groups if torch.equal(g[1], mask)), None)
            if same is None:
                groups.append(([rel], mask))
            else:
                same[0].append(rel)
        return groups

    def votes_of(self, nearest: Tensor, share: Tensor, r: Tensor, candidates: Tensor | None = None) -> Tensor:
        """[B, N] (or [B, len(candidates)]) votes: each of the ``nearest`` [B, k] heads of the
        query's relation gives its ``share`` to each of its tails."""
        _, keys, tails = self.tables()
        r, nearest, share = r.to(keys.device), nearest.to(keys.device).long(), share.to(keys.device)
        q = (r[:, None] * self.num_entities + nearest).flatten()  # each neighbour's (r, head) key
        lo, hi = torch.searchsorted(keys, q), torch.searchsorted(keys, q, right=True)
        counts = hi - lo
        pos = torch.repeat_interleave(lo - torch.cumsum(counts, 0) + counts, counts)
        pos = pos + torch.arange(len(pos), device=pos.device)
        row = torch.repeat_interleave(torch.arange(len(r), device=keys.device).repeat_interleave(nearest.shape[1]),
                                      counts)
        col, val = tails[pos], torch.repeat_interleave(share.flatten(), counts)
        width = self.num_entities
        if candidates is not None:  # votes straight into the candidates' columns; others dropped
            column = torch.full((self.num_entities,), -1, dtype=torch.long, device=keys.device)
            column[candidates.to(keys.device)] = torch.arange(len(candidates), device=keys.device)
            col = column[col]
            row, val, col, width = row[col >= 0], val[col >= 0], col[col >= 0], len(candidates)
        out = torch.zeros(len(r), width, device=keys.device)
        out.index_put_((row, col), val, accumulate=True)
        return out

    def votes(self, similarity: Tensor, r: Tensor) -> Tensor:
        """[B, N] similarity of each query to every entity, [B] relations -> [B, N] votes: each
        of the ``k`` most similar training heads of the query's relation gives its share of the
        similarity to each of its tails (0 without any)."""
        return self.votes_of(*self.nearest(similarity, r), r)

    def floor_log(self, votes: Tensor) -> Tensor:
        """log of votes, floored at half of one neighbour's equal share (a tail no neighbour has
        ranks below every voted one, not at -inf)."""
        return torch.log(votes.clamp_min(0.5 / float(self.k)))

    def log_votes(self, similarity: Tensor, r: Tensor, candidates: Tensor | None = None) -> Tensor:
        """:meth:`floor_log` of :meth:`votes`, for all entities or the ``candidates`` indices."""
        return self.floor_log(self.votes_of(*self.nearest(similarity, r), r, candidates))

    def query_weight(self, r: Tensor, present: Tensor) -> Tensor:
        """[B] weight of the vote for queries of relations ``r`` with ``present`` [B, M] features."""
        return self.weight.to(r.device)[feature_set(present.to(r.device)), r]

    def forward(self, similarity: Tensor, r: Tensor, present: Tensor, candidates: Tensor | None = None) -> Tensor:
        """[B, N] (or [B, len(candidates)]) additive scores for queries with ``present`` [B, M]
        feature modalities."""
        return self.query_weight(r, present)[:, None] * self.log_votes(similarity, r, candidates)

    def key(self, sets: Tensor, r: Tensor, entities: Tensor) -> Tensor:
        """[B] memo keys of queries: graph ``entities`` placed from feature set ``sets`` (index of
        :func:`feature_set`) for relations ``r``."""
        R = self.weight.shape[1]
        return (sets.long() * R + r.long()) * self.num_entities + entities.long()

    def remembered(self, keys: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(found [B] bool, nearest [B, k], share [B, k]) of the remembered ``keys`` (rows not
        found are zeros)."""
        keys = keys.to(self.memo_keys.device)
        if len(self.memo_keys) == 0:
            k = self.memo_nearest.shape[1]
            return (torch.zeros(len(keys), dtype=torch.bool, device=keys.device),
                    torch.zeros(len(keys), k, dtype=torch.long, device=keys.device),
                    torch.zeros(len(keys), k, device=keys.device))
        at = torch.searchsorted(self.memo_keys, keys).clamp_max(len(self.memo_keys) - 1)
        found = self.memo_keys[at] == keys
        return found, self.memo_nearest[at].long() * found[:, None], self.memo_share[at] * found[:, None]

    def remember(self, keys: Tensor, nearest: Tensor, share: Tensor) -> None:
        """Add the neighbours of ``keys`` (not yet remembered ones) to the memo."""
        keys = keys.to(self.memo_keys.device)
        pad = self.memo_nearest.shape[1] - nearest.shape[1]  # fewer candidates than k: no-share columns
        if pad > 0:
            nearest = torch.nn.functional.pad(nearest, (0, pad))
            share = torch.nn.functional.pad(share, (0, pad))
        keys, first = unique_first(keys)
        new = ~self.remembered(keys)[0]
        all_keys = torch.cat([self.memo_keys, keys[new]])
        order = torch.argsort(all_keys)
        self.memo_keys = all_keys[order]
        self.memo_nearest = torch.cat([self.memo_nearest, nearest[first][new].to(self.memo_nearest)])[order]
        self.memo_share = torch.cat([self.memo_share, share[first][new].to(self.memo_share)])[order]

    def forget(self, unweighted_only: bool = False) -> None:
        """Drop the remembered neighbours (only those of (set, relation) pairs whose weight is 0)."""
        sr = torch.div(self.memo_keys, self.num_entities, rounding_mode="floor")
        keep = self.weight.flatten()[sr] != 0 if unweighted_only else torch.zeros_like(sr, dtype=torch.bool)
        self.memo_keys, self.memo_nearest, self.memo_share = (
            self.memo_keys[keep], self.memo_nearest[keep], self.memo_share[keep])


def unique_first(x: Tensor) -> tuple[Tensor, Tensor]:
    """The distinct values of ``x`` [B] and the index of each one's first occurrence."""
    values, inverse = torch.unique(x, return_inverse=True)
    first = torch.full((len(values),), len(x), dtype=torch.long, device=x.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(x), device=x.device), reduce="amin")
    return values, first
