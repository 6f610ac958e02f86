"""Finding entities by name (accent- and typo-tolerant), by type and by related entity; paging."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, TypeVar

import numpy as np
from rapidfuzz import fuzz, process
from unidecode import unidecode

from ..data.graph import Graph

T = TypeVar("T")


def normalise(text: str) -> str:
    """Lower-case ASCII folding: "Monét" and "Monet" compare equal."""
    return " ".join(unidecode(text or "").lower().replace("_", " ").replace("-", " ").split())


def _short_guard(q: str, name: str, score: float) -> float:
    # WRatio's partial matching gives a one-letter title ("T") a near-perfect score for any
    # query containing that letter; names much shorter than the query get the plain ratio.
    if len(name) < max(3, len(q) // 2):
        return float(fuzz.ratio(q, name))
    return score


@dataclass
class Hit:
    index: int
    score: float


class EntityIndex:
    """Normalised names, types and adjacency of a graph, built once per graph (the app caches it).

    Arrays rather than per-entity Python objects so that 81k entities cost milliseconds."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.names = [normalise(lbl or eid) for lbl, eid in zip(graph.labels, graph.entities)]
        self.types = np.array(graph.types, dtype=object)
        self.type_names = sorted(set(graph.types))
        trip = graph.all_triples().numpy()
        self.triples = trip  # (h, r, t) rows over all splits
        # ties ("Claude Monet" the artist vs. a portrait titled "Claude Monet") go to the
        # better-connected entity
        n = graph.num_entities
        self.degree = np.bincount(trip[:, 0], minlength=n) + np.bincount(trip[:, 2], minlength=n)

    # ---------------------------------------------------------------- search
    def search(self, query: str, types: Sequence[str] | None = None, limit: int = 50,
               min_score: float = 60.0) -> list[Hit]:
        """Best matches of ``query`` against entity labels. Exact and substring matches rank
        first; then rapidfuzz WRatio, which tolerates typos ("monnet") and word order."""
        q = normalise(query)
        if not q:
            return []
        mask = self.type_mask(types)
        cand = np.nonzero(mask)[0] if mask is not None else None
        choices = self.names if cand is None else [self.names[i] for i in cand]
        res = process.extract(q, choices, scorer=fuzz.WRatio, limit=max(limit * 4, 200),
                              score_cutoff=min_score)
        hits = []
        for _, score, pos in res:
            i = int(cand[pos]) if cand is not None else int(pos)
            name = self.names[i]
            score = _short_guard(q, name, score)
            if score < min_score:
                continue
            bonus = 20.0 if name == q else 10.0 if name.startswith(q) or f" {q}" in f" {name}" else 0.0
            hits.append(Hit(i, float(score) + bonus))
        hits.sort(key=lambda h: (-h.score, len(self.names[h.index]), -self.degree[h.index], h.index))
        return hits[:limit]

    def type_mask(self, types: Sequence[str] | None) -> np.ndarray | None:
        if not types:
            return None
        return np.isin(self.types, list(types))

    # ---------------------------------------------------------------- filters
    def relation_values(self, relation: str, head_types: Sequence[str] | None = None) -> list[tuple[int, int]]:
        """Tails of ``relation`` with how many heads have them, most common first: the options of
        a "related to" filter (artist, style, genre, decade...)."""
        r = self.graph.relation_index.get(relation)
        if r is None:
            return []
        rows = self.triples[self.triples[:, 1] == r]
        if head_types:
            rows = rows[np.isin(self.types[rows[:, 0]], list(head_types))]
        tails, counts = np.unique(rows[:, 2], return_counts=True)
        order = np.lexsort((tails, -counts))
        return [(int(tails[i]), int(counts[i])) for i in order]

    def filter(self, types: Sequence[str] | None = None, relation: str | None = None,
               related: int | None = None, query: str = "", with_image: bool = False,
               limit: int = 5000, min_score: float = 78.0) -> list[int]:
        """Entity indices matching every given filter. With a query, in relevance order;
        otherwise in graph order."""
        mask = np.ones(self.graph.num_entities, dtype=bool)
        if types:
            mask &= np.isin(self.types, list(types))
        if relation is not None and related is not None:
            r = self.graph.relation_index.get(relation)
            sel = np.zeros_like(mask)
            if r is not None:
                rows = self.triples[(self.triples[:, 1] == r) & (self.triples[:, 2] == related)]
                sel[rows[:, 0]] = True
            mask &= sel
        if with_image:
            mask &= self.graph.has_image.numpy()
        if query.strip():
            allowed = np.nonzero(mask)[0]
            if len(allowed) == 0:
                return []
            sub_names = [self.names[i] for i in allowed]
            q = normalise(query)
            # stricter than search(): a listing shows every hit, and WRatio's partial matching
            # scores "bluebonnet" 75 for "monnet" while "claude monet" gets 82
            res = process.extract(q, sub_names, scorer=fuzz.WRatio, limit=limit, score_cutoff=min_score)
            scored = []
            for _, score, pos in res:
                i = int(allowed[pos])
                name = self.names[i]
                score = _short_guard(q, name, score)
                if score < min_score:
                    continue
                bonus = 20.0 if name == q else 10.0 if name.startswith(q) or f" {q}" in f" {name}" else 0.0
                scored.append((-(score + bonus), len(name), -int(self.degree[i]), i))
            scored.sort()
            return [i for *_, i in scored]
        return np.nonzero(mask)[0][:limit].tolist()


@dataclass
class Page:
    items: list
    page: int
    pages: int
    total: int
    start: int  # 0-based index of the first item shown


def paginate(items: Sequence[T], page: int, size: int) -> Page:
    """Page ``page`` (1-based, clamped to the valid range) of ``items``."""
    size = max(1, int(size))
    total = len(items)
    pages = max(1, math.ceil(total / size))
    page = min(max(1, int(page)), pages)
    start = (page - 1) * size
    return Page(list(items[start:start + size]), page, pages, total, start)
