"""2-D projections of a run's entity vectors (UMAP, PCA) for the embedding map, stored as
``.npy`` + ``.json`` (never pickle) so they are computed once, at the end of training where
possible, and read by the app in milliseconds.

Every entity with a vector in the space is projected: the map draws all of them."""
from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_write_bytes, atomic_write_json

PROJECTION_VERSION = 2
# Below this many entities UMAP is left to the map's button: its one-off compilation (~20 s)
# would dominate training a toy graph, and PCA opens the map meanwhile.
UMAP_AT_TRAINING_FROM = 1000
# From this many entities UMAP starts from the PCA layout and runs 100 epochs (its default: 200):
# the spectral start and the second 100 epochs cost a large share of a big map's minutes for about
# the same neighbourhoods (benchmarks/RESULTS.md); a map of that size is computed at the end of training.
LARGE_MAP_FROM = 10_000


def model_stamp(run_path: Path) -> str:
    st = (Path(run_path) / "model.safetensors").stat()
    return f"{st.st_size}-{int(st.st_mtime)}"


def projection_files(folder: Path, space: str, method: str, seed: int = 0) -> tuple[Path, Path]:
    stem = f"{space}-{method}-all-s{seed}"
    return Path(folder) / f"{stem}.npy", Path(folder) / f"{stem}.json"


def read_projection(folder: Path, run_path: Path, space: str, method: str, seed: int = 0) -> dict[str, Any] | None:
    """The stored projection in ``folder`` when it is of this run's current model, else None."""
    npy, meta_path = projection_files(folder, space, method, seed)
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("model") != model_stamp(run_path) or meta.get("version") != PROJECTION_VERSION:
            return None
        arr = np.load(npy, allow_pickle=False)
    except (OSError, ValueError, KeyError):
        return None
    return {"index": arr[:, 0].astype(np.int64), "xy": arr[:, 1:].astype(np.float32), "total": meta["total"],
            "method": method, "seconds": meta.get("seconds", 0.0), "cached": True, "sampled": False}


def compute_projection(run: Any, space: str = "fused", method: str = "umap", seed: int = 0) -> dict[str, Any]:
    """Project every entity that has a vector in ``space``."""
    v, mask = run.embeddings(space)
    idx = np.nonzero(mask.numpy())[0]
    x = torch.nn.functional.normalize(v.float(), dim=-1)[torch.as_tensor(idx)].numpy().astype(np.float32)
    t0 = time.monotonic()
    xy = project(x, method, seed)
    return {"index": idx.astype(np.int64), "xy": xy, "total": int(len(idx)), "method": method,
            "seconds": time.monotonic() - t0, "cached": False, "sampled": False}


def write_projection(folder: Path, run_path: Path, space: str, p: dict[str, Any], seed: int = 0) -> None:
    npy, meta_path = projection_files(folder, space, p["method"], seed)
    npy.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, np.concatenate([p["index"][:, None].astype(np.float64), p["xy"].astype(np.float64)], 1),
            allow_pickle=False)
    atomic_write_bytes(npy, buf.getvalue())
    atomic_write_json(meta_path, {"version": PROJECTION_VERSION, "model": model_stamp(run_path), "space": space,
                                  "method": p["method"], "seed": seed, "total": p["total"],
                                  "seconds": round(p["seconds"], 2)})


def precompute(run: Any, spaces: tuple[str, ...] = ("fused",)) -> list[str]:
    """Store the map's projections in ``RUN/projections`` (called at the end of training): PCA,
    and UMAP for a graph of :data:`UMAP_AT_TRAINING_FROM` entities or more. Returns the methods."""
    methods = ["pca"] + (["umap"] if len(run.entities) >= UMAP_AT_TRAINING_FROM else [])
    for space in spaces:
        for method in methods:
            write_projection(Path(run.path) / "projections", run.path, space, compute_projection(run, space, method))
    return methods


def project(x: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
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
    large = n >= LARGE_MAP_FROM
    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), metric="cosine", random_state=seed,
                        init="random" if n <= 10 else "pca" if large else "spectral", n_epochs=100 if large else None,
                        n_jobs=1)
    return reducer.fit_transform(x).astype(np.float32)
