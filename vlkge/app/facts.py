"""An entity's facts, its neighbourhood graph and short paths between two entities."""
from __future__ import annotations

import base64
import re
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.graph import Graph
from .display import script_json

if TYPE_CHECKING:  # networkx is imported where a neighbourhood is drawn: ~0.6 CPU-s off every app start
    import networkx as nx

# Colour per entity type: a fixed palette for the usual WikiArt types, then a cycle.
_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
            "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295"]


def type_colours(types: list[str]) -> dict[str, str]:
    return {t: _PALETTE[i % len(_PALETTE)] for i, t in enumerate(sorted(set(types)))}


@dataclass
class Fact:
    relation: str
    direction: str  # "out": entity --relation--> other; "in": other --relation--> entity
    other: int
    split: str


class Adjacency:
    """Both-direction adjacency over all splits, as CSR arrays (cheap at 81k entities / 280k
    triples, unlike a networkx graph of the whole collection)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        n = graph.num_entities
        parts, splits = [], []
        for k, s in enumerate(("train", "val", "test")):
            t = graph.split(s).numpy()
            parts.append(t)
            splits.append(np.full(len(t), k, dtype=np.int8))
        trip = np.concatenate(parts) if parts else np.zeros((0, 3), dtype=np.int64)
        split = np.concatenate(splits) if splits else np.zeros(0, dtype=np.int8)
        # row e lists (neighbour, relation, direction 0=out/1=in, split)
        src = np.concatenate([trip[:, 0], trip[:, 2]])
        nbr = np.concatenate([trip[:, 2], trip[:, 0]])
        rel = np.concatenate([trip[:, 1], trip[:, 1]])
        dirn = np.concatenate([np.zeros(len(trip), np.int8), np.ones(len(trip), np.int8)])
        spl = np.concatenate([split, split])
        order = np.argsort(src, kind="stable")
        self.nbr, self.rel, self.dir, self.split = nbr[order], rel[order], dirn[order], spl[order]
        self.ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=self.ptr[1:])
        self.pictured_types = {graph.types[j] for j in np.flatnonzero(graph.has_image.numpy())}

    def degree(self, i: int) -> int:
        return int(self.ptr[i + 1] - self.ptr[i])

    def neighbours(self, i: int) -> np.ndarray:
        return self.nbr[self.ptr[i]:self.ptr[i + 1]]

    def linked_with_images(self, i: int) -> list[int]:
        """The distinct entities linked to ``i`` that have an image, in id order (an artist's or
        a style's artworks: what stands for an entity that has no picture)."""
        nb = np.unique(self.neighbours(i))
        has = self.graph.has_image.numpy()
        return [int(j) for j in nb[has[nb]] if j != i]

    def representative(self, i: int) -> int | None:
        """``i`` when it has an image; else, for an entity of a type that is never pictured, a
        linked entity that has one (an artist or style is shown through one of its artworks); else
        None. An artwork whose scan is missing borrows nothing: a neighbour's picture would pass
        for its own on a card a curator judges by eye."""
        if self.graph.images[i]:
            return i
        if self.graph.types[i] in self.pictured_types:
            return None
        linked = self.linked_with_images(i)
        if linked:
            return linked[0]
        # two hops (a movement -> its artists -> their artworks), looking at a few neighbours only
        for j in np.unique(self.neighbours(i))[:50]:
            linked = self.linked_with_images(int(j))
            if linked:
                return linked[0]
        return None

    def facts(self, i: int) -> dict[str, list[Fact]]:
        """Every known fact about entity ``i``, grouped by relation ("relation" for outgoing,
        "relation (inverse)" for incoming links), targets sorted by label."""
        a, b = self.ptr[i], self.ptr[i + 1]
        out: dict[str, list[Fact]] = {}
        names = ("train", "val", "test")
        labels = self.graph.labels
        for nb, r, d, s in zip(self.nbr[a:b].tolist(), self.rel[a:b].tolist(),
                               self.dir[a:b].tolist(), self.split[a:b].tolist()):
            key = self.graph.relations[r] + ("" if d == 0 else " (inverse)")
            out.setdefault(key, []).append(Fact(self.graph.relations[r], "out" if d == 0 else "in", nb, names[s]))
        for v in out.values():
            v.sort(key=lambda f: (labels[f.other] or self.graph.entities[f.other]).lower())
        return dict(sorted(out.items(), key=lambda kv: (kv[0].endswith("(inverse)"), kv[0])))

    def neighbourhood(self, i: int, hops: int = 1, max_nodes: int = 60,
                      per_relation: int = 8) -> "nx.MultiDiGraph":
        """A networkx graph of entity ``i`` and its neighbours up to ``hops`` away, breadth first,
        capped at ``max_nodes`` nodes (hubs such as a popular style would otherwise bring in
        thousands) and at ``per_relation`` neighbours per entity and relation: the rest of a
        relation is one node, "+ 37 more artworks" (attribute ``more``: how many), so labels stay
        legible. Node attributes: label, type, hop (and more)."""
        import networkx as nx
        g = nx.MultiDiGraph()
        labels, types, rels = self.graph.labels, self.graph.types, self.graph.relations
        g.add_node(i, label=labels[i] or self.graph.entities[i], type=types[i], hop=0)
        frontier = deque([(i, 0)])
        while frontier:
            u, h = frontier.popleft()
            if h >= hops:
                continue
            a, b = self.ptr[u], self.ptr[u + 1]
            groups: dict[tuple[int, int], list[int]] = {}
            for nb, r, d in zip(self.nbr[a:b].tolist(), self.rel[a:b].tolist(), self.dir[a:b].tolist()):
                groups.setdefault((r, d), []).append(nb)
            for (r, d), nbs in groups.items():
                shown = [nb for nb in dict.fromkeys(nbs) if nb in g][:per_relation]  # already drawn first
                shown += [nb for nb in dict.fromkeys(nbs) if nb not in g][:per_relation - len(shown)]
                for nb in shown:
                    if nb not in g:
                        if g.number_of_nodes() >= max_nodes:
                            continue
                        g.add_node(nb, label=labels[nb] or self.graph.entities[nb], type=types[nb], hop=h + 1)
                        frontier.append((nb, h + 1))
                    s, t = (u, nb) if d == 0 else (nb, u)
                    if not g.has_edge(s, t, key=rels[r]):
                        g.add_edge(s, t, key=rels[r], relation=rels[r])
                rest = len(set(nbs)) - len(shown)
                if rest > 0 and g.number_of_nodes() < max_nodes:
                    kinds = sorted({types[nb] for nb in nbs if nb not in shown})
                    kind = kinds[0] if len(kinds) == 1 else "entitie"  # plural below
                    more = f"more:{u}:{r}:{d}"
                    g.add_node(more, label=f"+ {rest:,} more {kind}s", type="more", hop=h + 1, more=rest)
                    s, t = (u, more) if d == 0 else (more, u)
                    g.add_edge(s, t, key=rels[r], relation=rels[r])
        return g

    def paths(self, a: int, b: int, max_hops: int = 3, limit: int = 10,
              exclude_relation: str | None = None) -> list[list[tuple[int, str, str, int]]]:
        """Short undirected paths a → b of at most ``max_hops`` edges, shortest first. Each step
        is (from, relation, direction "→" or "←", to). The direct link a-exclude_relation-b is
        left out: it is the link being explained. Meets in the middle so hubs stay cheap."""
        if a == b:
            return []
        ex = self.graph.relation_index.get(exclude_relation) if exclude_relation else None

        def steps(u: int) -> list[tuple[int, int, int]]:
            s, e = self.ptr[u], self.ptr[u + 1]
            return list(zip(self.nbr[s:e].tolist(), self.rel[s:e].tolist(), self.dir[s:e].tolist()))

        def edge(u: int, r: int, d: int, v: int) -> tuple[int, str, str, int]:
            return (u, self.graph.relations[r], "→" if d == 0 else "←", v)

        found: list[list[tuple[int, str, str, int]]] = []
        sa = steps(a)
        for v, r, d in sa:  # 1 hop
            if v == b and r != ex:
                found.append([edge(a, r, d, v)])
        if max_hops >= 2:
            nb_b: dict[int, list[tuple[int, int]]] = {}
            for v, r, d in steps(b):
                nb_b.setdefault(v, []).append((r, 1 - d))  # v -> b direction flips
            for v, r, d in sa:
                if v == b or v == a:
                    continue
                for r2, d2 in nb_b.get(v, []):
                    found.append([edge(a, r, d, v), edge(v, r2, d2, b)])
                    if len(found) >= limit * 4:
                        break
            if max_hops >= 3 and len(found) < limit:
                for v, r, d in sa:
                    if v in (a, b):
                        continue
                    # skip expanding huge hubs past a budget: paths through them say little
                    if self.degree(v) > 5000:
                        continue
                    for w, r2, d2 in steps(v):
                        if w in (a, b, v):
                            continue
                        for r3, d3 in nb_b.get(w, []):
                            found.append([edge(a, r, d, v), edge(v, r2, d2, w), edge(w, r3, d3, b)])
                    if len(found) >= limit * 4:
                        break
        # dedupe, shortest first; among equals prefer paths through rarer (more specific) nodes
        uniq, seen = [], set()
        for p in found:
            key = tuple(p)
            if key not in seen:
                seen.add(key)
                uniq.append(p)
        uniq.sort(key=lambda p: (len(p), sum(self.degree(s[3]) for s in p[:-1])))
        return uniq[:limit]


def path_text(graph: Graph, path: list[tuple[int, str, str, int]]) -> str:
    """"Monet —hasStyle→ Impressionism ←hasStyle— Renoir" style rendering."""
    def name(i: int) -> str:
        return graph.labels[i] or graph.entities[i]
    parts = [name(path[0][0])]
    for _, rel, d, v in path:
        parts.append(f"—{rel}→ {name(v)}" if d == "→" else f"←{rel}— {name(v)}")
    return " ".join(parts)


# The iframe may reach nothing but itself: no CDN, no font, no image from catalogue text.
_IFRAME_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "img-src data: blob:; font-src data:")


def neighbourhood_html(g: "nx.MultiDiGraph", colours: dict[str, str], centre: int,
                       height: int = 480, thumbnails: dict[Any, bytes] | None = None) -> str:
    """Self-contained vis-network page for ``g``: the library (shipped inside pyvis) is inlined
    and a Content-Security-Policy forbids every other request, so it works offline and contacts
    no third party. Labels and tooltips are plain text to vis-network (canvas text, innerText).
    ``thumbnails`` (node -> PNG/JPEG bytes) draw artwork nodes as their pictures, inlined as
    ``data:`` URLs. Labels sit on a white band and nodes repel each other so labels do not
    overlap; the view is fitted to the whole graph once the layout settles (nothing clipped)."""
    thumbnails = thumbnails or {}
    nodes = []
    for n, d in g.nodes(data=True):
        # past the first ring, names show on hover: fifty labels on one canvas cover each other
        label = _short(d["label"]) if d.get("hop", 0) <= 1 or d["type"] == "more" else ""
        node = {"id": _node_id(n), "label": label, "title": f"{d['label']} ({d['type']})",
                "color": colours.get(d["type"], "#999999"), "size": 26 if n == centre else 14,
                "borderWidth": 3 if n == centre else 1, "shape": "dot"}
        if d["type"] == "more":
            node.update(shape="box", color="#eeeeee", font={"color": "#555555"}, title=d["label"])
        elif n in thumbnails:
            node.update(shape="circularImage", image=_data_url(thumbnails[n]),
                        size=34 if n == centre else 22)
        nodes.append(node)
    edges = [{"from": _node_id(u), "to": _node_id(v), "title": d["relation"], "arrows": "to", "color": "#bbbbbb"}
             for u, v, d in g.edges(data=True)]
    options = {"physics": {"solver": "forceAtlas2Based",
                           "forceAtlas2Based": {"gravitationalConstant": -90, "springLength": 110,
                                                "avoidOverlap": 0.8},
                           "stabilization": {"iterations": 300}},
               "nodes": {"font": {"size": 14, "background": "rgba(255,255,255,0.85)"},
                         # vis hides labels below 5 px on screen: a fitted 2-hop view would have none
                         "scaling": {"label": {"drawThreshold": 1}}},
               "interaction": {"hover": True}}
    js, css = _vis_network()
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_IFRAME_CSP}">'
            f"<style>{css}\nhtml,body{{margin:0}}#net{{width:100%;height:{int(height)}px;"
            f"border:1px solid lightgray;box-sizing:border-box}}</style><script>{js}</script></head>"
            f'<body><div id="net"></div><script>var net = new vis.Network(document.getElementById("net"), '
            f"{{nodes: new vis.DataSet({script_json(nodes)}), edges: new vis.DataSet({script_json(edges)})}}, "
            f"{script_json(options)});"
            # freeze the settled layout (no drifting labels) and show all of it
            f'net.once("stabilizationIterationsDone", function () {{ net.setOptions({{physics: false}}); '
            f"net.fit(); document.body.dataset.settled = '1'; }});</script></body></html>")


def _node_id(n: Any) -> int | str:
    return int(n) if isinstance(n, (int, np.integer)) else str(n)


def _data_url(image: bytes) -> str:
    kind = "png" if image[:8] == b"\x89PNG\r\n\x1a\n" else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(image).decode('ascii')}"


@lru_cache(maxsize=1)
def _vis_network() -> tuple[str, str]:
    """vis-network's script and stylesheet as pyvis ships them."""
    import pyvis
    lib = Path(pyvis.__file__).parent / "templates" / "lib" / "vis-9.1.2"
    # only "</script" ends an inline script; the library has none today (a string would keep its
    # meaning with the slash escaped)
    js = re.sub(r"(?i)</(script)", r"<\\/\1", (lib / "vis-network.min.js").read_text(encoding="utf-8"))
    return js, (lib / "vis-network.css").read_text(encoding="utf-8")


def _short(s: str, n: int = 28) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"
