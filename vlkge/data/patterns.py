"""Relation patterns read off a graph's training triples: symmetric relations, and pairs of
relations that are each other's inverse (WordNet's hypernym / hyponym, has_part / part_of)."""
from __future__ import annotations

import torch
from torch import Tensor


def symmetric_relations(triples: Tensor, num_relations: int, share: float = 0.5) -> Tensor:
    """Per relation, whether at least ``share`` of its distinct triples (h, r, t) also hold as (t, r, h)."""
    if len(triples) == 0:
        return torch.zeros(num_relations, dtype=torch.bool)
    uniq = torch.unique(triples, dim=0)
    h, r, t = uniq.unbind(1)
    n = int(uniq[:, [0, 2]].max()) + 1
    reverse_known = torch.isin((t * num_relations + r) * n + h, (h * num_relations + r) * n + t)
    both = torch.bincount(r, weights=reverse_known.double(), minlength=num_relations)
    return both / torch.bincount(r, minlength=num_relations).clamp_min(1) >= share


def inverse_relations(triples: Tensor, num_relations: int, share: float = 0.5, lift: float = 10.0) -> dict[int, int]:
    """Pairs of relations a, b where at least ``share`` of a's distinct triples (h, a, t) also hold
    as (t, b, h), and of b's as (t, a, h), as {b: a}: each relation in one pair at most, the one
    with fewer triples (else the later one) mapped to the other, surest pairs first. A symmetric
    relation is its own inverse: {a: a}.

    A share is also asked to be ``lift`` times what chance gives (the share of all entity pairs
    the other relation holds for): in a small dense graph (pykeen's Nations: 14 countries, most
    relations between most of them) unrelated relations overlap by half."""
    if len(triples) == 0:
        return {}
    uniq = torch.unique(triples, dim=0)
    h, r, t = uniq.unbind(1)
    n = int(uniq[:, [0, 2]].max()) + 1
    # join each triple's reversed pair (t, h) to the triples holding that pair
    pair = h * n + t
    order = torch.argsort(pair)
    sorted_pair = pair[order]
    lo = torch.searchsorted(sorted_pair, t * n + h)
    count = torch.searchsorted(sorted_pair, t * n + h, right=True) - lo
    a = torch.repeat_interleave(torch.arange(len(uniq)), count)
    within = torch.arange(len(a)) - torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
    b = order[torch.repeat_interleave(lo, count) + within]
    codes, hits = torch.unique(r[a] * num_relations + r[b], return_counts=True)
    size = torch.bincount(r, minlength=num_relations).double()
    chance = size / len(torch.unique(uniq[:, [0, 2]])) ** 2
    reversed_share = {(x, y): float(k) / float(size[x]) for c, k in zip(codes.tolist(), hits.tolist())
                      for x, y in [divmod(c, num_relations)] if float(k) / float(size[x]) >= max(share, lift * chance[y])}
    candidates = sorted(((min(s, reversed_share[y, x]), x, y) for (x, y), s in reversed_share.items()
                         if x <= y and (y, x) in reversed_share), reverse=True)
    tied: dict[int, int] = {}
    for _, x, y in candidates:
        if {x, y} & (set(tied) | set(tied.values())):
            continue
        kept, follows = (y, x) if size[y] > size[x] else (x, y)
        tied[follows] = kept
    return tied
