"""Nearest neighbours in embedding space and cached 2-D projections (UMAP) of a run."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..data.graph import Graph
from ..paths import cache_root, folder_key, in_workspace
from ..spreadsheet import spreadsheet_csv

SPACES = ("fused", "structural", "visual", "textual")
PROJECTION_VERSION = 1


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


def _model_stamp(run_path: Path) -> str:
    st = (Path(run_path) / "model.safetensors").stat()
    return f"{st.st_size}-{int(st.st_mtime)}"


def _cache_files(run_path: Path, space: str, method: str, max_points: int, seed: int,
                 cache: Path | None) -> tuple[Path, Path]:
    d = Path(cache) if cache is not None else projection_dir(run_path)
    stem = f"{space}-{method}-{max_points}-s{seed}"
    return d / f"{stem}.npy", d / f"{stem}.json"


def projection_cached(run: Any, space: str = "fused", method: str = "umap", max_points: int = 20000,
                      seed: int = 0, cache: Path | None = None) -> bool:
    """Whether ``projection`` would read its result from disk (no computation)."""
    npy, meta_path = _cache_files(run.path, space, method, max_points, seed, cache)
    if not (npy.is_file() and meta_path.is_file()):
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    return meta.get("model") == _model_stamp(run.path) and meta.get("version") == PROJECTION_VERSION


def projection(run: Any, space: str = "fused", max_points: int = 20000, method: str = "umap",
               seed: int = 0, cache: Path | None = None,
               on_status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """2-D coordinates of (a stratified sample of) the run's entities in ``space``.

    Computed once per run, space, method and sample size and stored as ``.npy`` + ``.json``
    (never pickle); later calls, from any process, read the files. Returns
    {"index": int array, "xy": float32 [n, 2], "sampled": bool, "total": int, "method", "seconds",
    "cached": bool}."""
    npy, meta_path = _cache_files(run.path, space, method, max_points, seed, cache)
    d = npy.parent
    stamp = _model_stamp(run.path)
    if npy.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("model") == stamp and meta.get("version") == PROJECTION_VERSION:
                arr = np.load(npy, allow_pickle=False)
                return {"index": arr[:, 0].astype(np.int64), "xy": arr[:, 1:].astype(np.float32),
                        "sampled": meta["sampled"], "total": meta["total"], "method": method,
                        "seconds": meta.get("seconds", 0.0), "cached": True}
        except (OSError, ValueError, KeyError):
            pass  # recompute a damaged cache entry
    vecs, mask = unit_vectors(run, space)
    types = run.graph.types if run.graph is not None else ["entity"] * len(run.entities)
    idx = stratified_sample(types, max_points, seed, mask.numpy())
    x = vecs[torch.as_tensor(idx)].numpy().astype(np.float32)
    t0 = time.monotonic()
    if on_status:
        on_status(f"projecting {len(idx):,} points with {method.upper()} (once per run and space)…")
    xy = _project(x, method, seed)
    secs = time.monotonic() - t0
    d.mkdir(parents=True, exist_ok=True)
    from ..runs import atomic_write_bytes, atomic_write_json
    import io
    buf = io.BytesIO()
    np.save(buf, np.concatenate([idx[:, None].astype(np.float64), xy.astype(np.float64)], 1), allow_pickle=False)
    atomic_write_bytes(npy, buf.getvalue())
    meta = {"version": PROJECTION_VERSION, "model": stamp, "space": space, "method": method,
            "max_points": max_points, "seed": seed, "sampled": bool(len(idx) < int(mask.sum())),
            "total": int(mask.sum()), "points": int(len(idx)), "seconds": round(secs, 2)}
    atomic_write_json(meta_path, meta)
    return {"index": idx.astype(np.int64), "xy": xy.astype(np.float32), "sampled": meta["sampled"],
            "total": meta["total"], "method": method, "seconds": secs, "cached": False}


def _project(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    n = len(x)
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if n < 4 or method == "pca":
        xc = x - x.mean(0, keepdims=True)
        if n < 2:
            return np.zeros((n, 2), np.float32)
        u, s, _ = np.linalg.svd(xc, full_matrices=False)
        out = u[:, :2] * s[:2]
        if out.shape[1] < 2:
            out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
        return out.astype(np.float32)
    import umap
    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), metric="cosine", random_state=seed,
                        init="spectral" if n > 10 else "random", n_jobs=1)
    return reducer.fit_transform(x).astype(np.float32)
