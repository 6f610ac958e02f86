"""Nearest neighbours in embedding space and cached 2-D projections (UMAP) of a run."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..data.graph import Graph
from ..paths import cache_root, folder_key, in_workspace
from ..prediction.projection import compute_projection, read_projection, write_projection
from ..spreadsheet import spreadsheet_csv

SPACES = ("fused", "structural", "visual", "textual")


def available_spaces(run: Any) -> list[str]:
    return ["fused"] + [m for m in ("structural", "visual", "textual") if m in run.model.entity.modalities]


def unit_vectors(run: Any, space: str = "fused") -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised vectors of ``space`` and their presence mask (cosine = dot product).
    Memoised on the run object: normalising 81k vectors per query would dominate latency."""
    memo = run.__dict__.setdefault("_explore_unit_vectors", {})
    if space in memo:
        return memo[space]
    v, m = run.embeddings(space)
    v = v.float()
    memo[space] = (torch.nn.functional.normalize(v, dim=-1), m.bool())
    return memo[space]


def nearest(vectors: torch.Tensor, query: torch.Tensor, k: int = 12,
            among: torch.Tensor | np.ndarray | None = None,
            exclude: list[int] | None = None) -> list[tuple[int, float]]:
    """Top-``k`` (index, cosine) of unit ``vectors`` to unit ``query``, restricted to the
    boolean mask ``among`` and skipping ``exclude``."""
    q = query.reshape(-1)
    q = q.float()
    q = torch.nn.functional.normalize(q, dim=0)
    sims = vectors @ q
    allowed = torch.ones(len(sims), dtype=torch.bool)
    if among is not None:
        allowed &= torch.as_tensor(np.asarray(among), dtype=torch.bool)
    for e in exclude or []:
        allowed[e] = False
    sims = torch.where(allowed, sims, torch.tensor(float("-inf")))
    k = min(k, int(allowed.sum()))
    if k <= 0:
        return []
    top = torch.topk(sims, k)
    return [(int(i), float(s)) for s, i in zip(top.values, top.indices)]


def entity_neighbours(run: Any, i: int, k: int = 12, space: str = "fused",
                      same_type: bool = True) -> list[tuple[int, float]]:
    """Entities closest to entity ``i`` in ``space`` (by cosine), of the same type by default."""
    vecs, mask = unit_vectors(run, space)
    if not bool(mask[i]):
        return []
    among = mask.clone()
    if same_type and run.graph is not None:
        t = run.graph.types[i]
        among &= torch.tensor([x == t for x in run.graph.types])
    return nearest(vecs, vecs[i], k, among, exclude=[i])


# ---------------------------------------------------------------- attributes for colouring
def attribute(graph: Graph, relation: str) -> list[str]:
    """Per entity, the label of its tail for ``relation`` ("" when none; the most frequent tail
    when several), used to colour a map by style, genre, artist..."""
    r = graph.relation_index[relation]
    t = graph.all_triples().numpy()
    t = t[t[:, 1] == r]
    out = [""] * graph.num_entities
    if len(t) == 0:
        return out
    freq = np.bincount(t[:, 2], minlength=graph.num_entities)
    # visit rarer tails first so the most frequent one wins: a stable overall colour per entity
    order = np.argsort(freq[t[:, 2]], kind="stable")
    for h, _, tail in t[order]:
        out[int(h)] = graph.labels[int(tail)] or graph.entities[int(tail)]
    return out


def selection_csv(graph: Graph, indices: list[int]) -> bytes:
    """The map's selection as an ``id,label,type`` CSV for a spreadsheet (formulas neutralised)."""
    return spreadsheet_csv(("id", "label", "type"),
                           ((graph.entities[i], graph.labels[i] or graph.entities[i], graph.types[i])
                            for i in indices))


def stratified_sample(types: list[str], max_points: int, seed: int = 0,
                      mask: np.ndarray | None = None) -> np.ndarray:
    """At most ``max_points`` indices, each type keeping its share but at least a few points
    (rare types stay visible). Sorted; all indices when there are few enough."""
    idx = np.arange(len(types)) if mask is None else np.nonzero(mask)[0]
    if len(idx) <= max_points:
        return idx
    rng = np.random.default_rng(seed)
    tarr = np.asarray(types, dtype=object)[idx]
    groups = {t: idx[tarr == t] for t in sorted(set(tarr))}
    # every type first gets up to `floor` points, the rest of the budget goes by size
    floor = max(1, min(50, max_points // (2 * len(groups))))
    base = {t: min(len(g), floor) for t, g in groups.items()}
    left = max_points - sum(base.values())
    extra_pool = {t: len(g) - base[t] for t, g in groups.items()}
    total_extra = sum(extra_pool.values())
    picked = []
    for t, g in groups.items():
        n = base[t] + (int(left * extra_pool[t] / total_extra) if total_extra else 0)
        n = min(len(g), n)
        picked.append(rng.choice(g, n, replace=False) if n < len(g) else g)
    out = np.sort(np.concatenate(picked))
    return out


# ---------------------------------------------------------------- projection with disk cache
def projection_dir(run_path: Path) -> Path:
    """``RUN/projections`` for a run in the workspace, else a cache folder keyed by the run path
    (a run elsewhere, perhaps inside a data folder, is left as it is)."""
    run_path = Path(run_path).resolve()
    if in_workspace(run_path):
        return run_path / "projections"
    return cache_root() / "projections" / folder_key(run_path)


def _folders(run_path: Path) -> list[Path]:
    # the run's own folder first (written at the end of training), then the app's
    own = Path(run_path).resolve() / "projections"
    return [own] + ([projection_dir(run_path)] if projection_dir(run_path) != own else [])


def projection_cached(run: Any, space: str = "fused", method: str = "umap", seed: int = 0) -> bool:
    """Whether ``projection`` would read its result from disk (no computation)."""
    return any(read_projection(d, run.path, space, method, seed) is not None for d in _folders(run.path))


def projection(run: Any, space: str = "fused", method: str = "umap", seed: int = 0,
               on_status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """2-D coordinates of every entity of the run that has a vector in ``space``.

    Read from the run's ``projections`` folder (precomputed at the end of training) or the app's
    (:func:`projection_dir`); else computed once and stored there for every later call, from any
    process. Returns {"index": int array, "xy": float32 [n, 2], "total": int, "method",
    "seconds", "cached": bool, "sampled": False}."""
    for d in _folders(run.path):
        p = read_projection(d, run.path, space, method, seed)
        if p is not None:
            return p
    if on_status:
        on_status(f"projecting with {method.upper()} (once per run and space)…")
    p = compute_projection(run, space, method, seed)
    write_projection(projection_dir(run.path), run.path, space, p, seed)
    return p


# ---------------------------------------------------------------- the map's colours
# 24 distinct colours (Plotly's Dark24): beyond that a legend stops telling colours apart, and the
# rarer categories share one grey "(other)". Plotly's default cycle repeats after 10 (Impressionism
# and Rococo were both red).
MAP_PALETTE = ("#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
               "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
               "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038")
OTHER, NONE = "(other)", "(none)"
OTHER_COLOUR = "#c8c8c8"


def map_categories(values: list[str] | np.ndarray, cap: int = len(MAP_PALETTE)) -> tuple[np.ndarray, dict[str, str]]:
    """Each point's category for colouring ("" becomes "(none)"; beyond the ``cap`` most frequent,
    "(other)") and a distinct colour per category, most frequent first."""
    v = np.asarray(values, dtype=object)
    v = np.where(v == "", NONE, v)
    cats, counts = np.unique(v, return_counts=True)
    order = [str(cats[k]) for k in np.lexsort((cats, -counts))]
    kept = order[:cap] if len(order) > cap else order
    if len(order) > cap:
        v = np.where(np.isin(v, kept), v, OTHER)
    colours = {c: MAP_PALETTE[k] for k, c in enumerate(kept)}
    if len(order) > cap:
        colours[OTHER] = OTHER_COLOUR
    return v, colours
