"""Finding entities by name (accent- and typo-tolerant), by type and by related entity; a search
that knows art (an artist's, style's or genre's works found through the graph's links, with facet
counts); paging."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence, TypeVar

import numpy as np
from rapidfuzz import fuzz, process
from unidecode import unidecode

from ..data.graph import Graph
from .facts import Adjacency

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


@dataclass
class FacetValue:
    value: int | str  # an entity index, or a type name for the "type" facet
    label: str
    count: int  # results that have it, with the other facets' choices applied


@dataclass
class Suggestion:
    index: int
    score: float
    works: int  # how many of the results are there because they link to it


@dataclass
class Found:
    """What :meth:`EntityIndex.find` returns: the grid, the best matches of any type above it,
    and facet counts over the grid."""
    items: list[int]
    suggestions: list[Suggestion]
    facets: dict[str, list[FacetValue]]
    total: int  # before ``limit``


# token quality of a match: the word itself, a word it begins, a word one or two typos away
_EXACT, _PREFIX, _TYPO = 1.0, 0.9, 0.8


class EntityIndex:
    """Normalised names, types and adjacency of a graph, built once per graph (the app caches it).

    Arrays rather than per-entity Python objects so that 81k entities cost milliseconds."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.types = np.array(graph.types, dtype=object)
        self.type_names = sorted(set(graph.types))
        trip = graph.all_triples().numpy()
        self.triples = trip  # (h, r, t) rows over all splits
        # ties ("Claude Monet" the artist vs. a portrait titled "Claude Monet") go to the
        # better-connected entity
        n = graph.num_entities
        self.degree = np.bincount(trip[:, 0], minlength=n) + np.bincount(trip[:, 2], minlength=n)
        self._words: dict[str, np.ndarray] | None = None
        self._adjacency: Adjacency | None = None

    @cached_property
    def names(self) -> list[str]:
        """Each entity's label (or id), normalised; made on the first search, not when a page
        that searches nothing opens (81k labels: a second of an app's first render)."""
        return [normalise(lbl or eid) for lbl, eid in zip(self.graph.labels, self.graph.entities)]

    @property
    def adjacency(self) -> Adjacency:
        if self._adjacency is None:
            self._adjacency = Adjacency(self.graph)
        return self._adjacency

    # ---------------------------------------------------------------- words
    def _word_index(self) -> dict[str, np.ndarray]:
        """word -> sorted entity indices whose name has it (built on the first word search)."""
        if self._words is None:
            posting: dict[str, list[int]] = {}
            self._name_words = np.zeros(len(self.names), dtype=np.int32)
            for i, name in enumerate(self.names):
                ws = set(name.split())
                self._name_words[i] = len(ws)
                for w in ws:
                    posting.setdefault(w, []).append(i)
            self._words = {w: np.asarray(v, dtype=np.int64) for w, v in posting.items()}
            self._vocab = list(self._words)
        return self._words

    def _word_matches(self, word: str) -> list[tuple[str, float]]:
        """Words of the index a query word stands for: itself, words it begins (4+ letters); only
        when neither exists, the words fewest typos away (one for 4-7 letters, two beyond): a
        correctly spelt "monet" never drags in "Mont" or "Beachmont"."""
        from rapidfuzz.distance import Levenshtein
        words = self._word_index()
        found = [(word, _EXACT)] if word in words else []
        if len(word) >= 4:
            found += [(w, _PREFIX) for w in self._vocab if w != word and w.startswith(word)]
        if found or len(word) < 4:
            return found
        limit = 1 if len(word) < 8 else 2
        near = process.extract(word, self._vocab, scorer=Levenshtein.distance, score_cutoff=limit, limit=None)
        if not near:
            return []
        best = min(d for _, d, _ in near)
        return [(w, _TYPO) for w, d, _ in near if d == best]

    def match(self, query: str) -> list[Hit]:
        """Entities whose name has every word of ``query`` (each as itself, as the start of a word,
        or, misspelt, as the nearest words), best first: the name exactly, then names with fewer
        other words, then better-connected entities."""
        q = normalise(query)
        qwords = list(dict.fromkeys(q.split()))
        if not qwords:
            return []
        words = self._word_index()
        score: dict[int, float] | None = None
        for qw in qwords:
            best: dict[int, float] = {}
            for w, quality in self._word_matches(qw):
                for i in words[w].tolist():
                    if best.get(i, 0.0) < quality:
                        best[i] = quality
            score = best if score is None else {i: score[i] + v for i, v in best.items() if i in score}
            if not score:
                return []
        hits = []
        for i, total in score.items():
            coverage = len(qwords) / max(len(qwords), int(self._name_words[i]))
            exact = 10.0 if self.names[i] == q else 0.0
            hits.append(Hit(i, 100.0 * total / len(qwords) + 10.0 * coverage + exact))
        hits.sort(key=lambda h: (-h.score, -self.degree[h.index], h.index))
        return hits

    # ---------------------------------------------------------------- search that knows art
    def work_types(self) -> list[str]:
        """The types a collection is made of (those with pictures; else the most common type):
        what a search's grid shows through their links."""
        pictured = sorted(self.adjacency.pictured_types)
        if pictured:
            return pictured
        return [max(self.type_names, key=lambda t: int((self.types == t).sum()))] if self.type_names else []

    def works_of(self, e: int) -> np.ndarray:
        """Entities of the work types linked to ``e`` (an artist's, style's, genre's works); for
        an entity no work links to directly (a movement, a nationality), the works of the
        entities linked to it (its artists' works)."""
        adj, work = self.adjacency, np.isin(self.types, self.work_types())
        nb = np.unique(adj.neighbours(e))
        direct = nb[work[nb]]
        if len(direct) or work[e]:
            return direct[direct != e]
        if len(nb) == 0:
            return direct
        two = np.concatenate([adj.neighbours(int(j)) for j in nb])
        two = np.unique(two)
        return two[work[two]]

    def facet_types(self) -> list[str]:
        """Facets of a result grid: the types the works link to (artist, style, genre, decade…),
        most linked first."""
        if not hasattr(self, "_facet_types"):
            work = np.isin(self.types, self.work_types())
            rows = self.triples[work[self.triples[:, 0]]]
            tails, counts = np.unique(self.types[rows[:, 2]], return_counts=True)
            self._facet_types = [str(t) for t, _ in sorted(zip(tails, counts), key=lambda tc: (-tc[1], tc[0]))]
        return self._facet_types

    def _links(self, items: np.ndarray, facet: str) -> tuple[np.ndarray, np.ndarray]:
        """(item, value) pairs of ``items`` (a boolean mask) under ``facet``, distinct."""
        if facet == "type":
            idx = np.nonzero(items)[0]
            return idx, idx  # the value is the item's own type: see find()
        t = self.triples
        rows = t[items[t[:, 0]] & (self.types[t[:, 2]] == facet)]
        pairs = np.unique(rows[:, [0, 2]], axis=0) if len(rows) else np.zeros((0, 2), dtype=np.int64)
        return pairs[:, 0], pairs[:, 1]

    def _facet_mask(self, facet: str, chosen: Sequence[int | str]) -> np.ndarray:
        if facet == "type":
            return np.isin(self.types, [str(c) for c in chosen])
        mask = np.zeros(self.graph.num_entities, dtype=bool)
        t = self.triples
        mask[t[np.isin(t[:, 2], [int(c) for c in chosen]), 0]] = True
        return mask

    def find(self, query: str = "", facets: dict[str, Sequence[int | str]] | None = None,
             relation: str | None = None, related: int | None = None, with_image: bool = False,
             limit: int = 5000, top_values: int = 12, suggestions: int = 6) -> Found:
        """The Browse grid for ``query``: entities named by it (every word, see :meth:`match`) and
        the works of the best-matching artist, style, genre… (through the graph's links), the
        match itself first; without a query, the collection's works. Then narrowed by ``facets``
        ({facet: chosen values}: "type" takes type names, the others entity indices; any value of
        a facet, every facet), ``relation``/``related`` and ``with_image``.

        Facet counts are over the grid with the *other* facets' choices applied, so a chip never
        promises what clicking it would not show; ``suggestions`` are the best matches of any
        type, each saying how many results it brought."""
        n = self.graph.num_entities
        chosen = {f: list(v) for f, v in (facets or {}).items() if v}
        score = np.full(n, -np.inf)
        sugg: list[Suggestion] = []
        if normalise(query):
            hits = self.match(query)
            if not hits:  # no word matches: the typo-tolerant ranking, as a "did you mean"
                hits = self.search(query, limit=suggestions)
                sugg = [Suggestion(h.index, h.score, 0) for h in hits]
                return Found([], sugg, self._facets(np.zeros(n, dtype=bool), chosen, top_values), 0)
            work = np.isin(self.types, self.work_types())
            for h in hits:
                score[h.index] = h.score
            others = [h for h in hits if not work[h.index]]
            best_other = others[0].score if others else None
            brought: dict[int, int] = {}
            for h in others:
                if h.score < best_other - 10:  # "Impressionism", not every "Neo-Impressionism" too
                    break
                ws = self.works_of(h.index)
                new = ws[score[ws] < h.score - 0.5]
                score[new] = h.score - 0.5  # just after what they are the works of
                brought[h.index] = len(ws)
            sugg = [Suggestion(h.index, h.score, brought.get(h.index, 0)) for h in hits[:suggestions]]
        else:
            score[:] = 0.0
        base = np.isfinite(score)
        if relation is not None and related is not None:
            r = self.graph.relation_index.get(relation)
            sel = np.zeros(n, dtype=bool)
            if r is not None:
                sel[self.triples[(self.triples[:, 1] == r) & (self.triples[:, 2] == related), 0]] = True
            base &= sel
        if with_image:
            base &= self.graph.has_image.numpy()
        masks = {f: self._facet_mask(f, v) for f, v in chosen.items()}
        if not normalise(query) and "type" not in masks:  # browsing: the works, until a type is picked
            masks["type"] = self._facet_mask("type", self.work_types())
        items = base.copy()
        for m in masks.values():
            items &= m
        order = np.nonzero(items)[0]
        order = order[np.lexsort((order, -self.degree[order], -score[order]))] if normalise(query) else order
        facet_counts = {}
        for f in ["type", *self.facet_types()]:
            within = base.copy()
            for g, m in masks.items():
                if g != f:
                    within &= m
            facet_counts[f] = self._facet_values(f, within, chosen.get(f, []), top_values if f != "type" else 50)
        return Found(order[:limit].tolist(), sugg, facet_counts, len(order))

    def _facets(self, within: np.ndarray, chosen: dict, top: int) -> dict[str, list[FacetValue]]:
        return {f: self._facet_values(f, within, chosen.get(f, []), top) for f in ["type", *self.facet_types()]}

    def _facet_values(self, facet: str, within: np.ndarray, chosen: Sequence[int | str], top: int) -> list[FacetValue]:
        """The ``top`` most frequent values of ``facet`` among ``within``, and every chosen one."""
        if facet == "type":
            names, counts = np.unique(self.types[within], return_counts=True)
            pairs = [(str(v), int(c)) for v, c in zip(names, counts)]
            label = str
        else:
            _, values = self._links(within, facet)
            vals, counts = np.unique(values, return_counts=True)
            pairs = [(int(v), int(c)) for v, c in zip(vals, counts)]
            label = lambda v: self.graph.labels[v] or self.graph.entities[v]  # noqa: E731
        pairs.sort(key=lambda vc: (-vc[1], str(label(vc[0])).lower()))
        shown = pairs[:top]
        have = {v for v, _ in shown}
        counts_of = dict(pairs)
        shown += [(v, counts_of.get(v, 0)) for v in chosen if v not in have]
        return [FacetValue(v, label(v), c) for v, c in shown]

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
