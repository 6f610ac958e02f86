"""On-disk cache of frozen features, in safetensors shards (never pickle).

Layout: ``<cache_dir>/<encoder name>-<name hash>/<revision>/<modality>/shard-*.safetensors``.
Each shard holds ``features`` [n, dim] float32 and ``ok`` uint8 [n]; its metadata holds the
row keys (sha256 of the image bytes or of the text) and the problem for rows that failed, so
an unreadable image is remembered too and a warm cache makes no encoder call at all.

Every batch is written as its own shard, to a unique temp name then ``os.replace``d into place:
an interrupted extraction keeps the finished batches, and two processes filling the same store
at once can only duplicate work, never corrupt a file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
import warnings as _warnings
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..data.graph import Graph
from ..errors import VLKGEError
from ..paths import cache_root
from ..runs import atomic_save_tensors
from .base import Encoder
from .info import imported_name

log = logging.getLogger(__name__)
MODALITIES = ("visual", "textual")


def default_cache_dir() -> Path:
    return cache_root() / "features"


def safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_")[:80] or "x"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_key(path: Path) -> str:
    h = hashlib.sha256()
    from ..data.images import open_regular  # never blocks on a FIFO swapped in for an image
    with open_regular(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Features(tuple):
    """The result of :func:`extract_features`. Unpacks as ``(features, mask)``; also carries
    ``warnings`` (one "WHAT: problem" line each) and ``stats`` (hits, computed, seconds)."""

    def __new__(cls, features: torch.Tensor, mask: torch.Tensor, warnings: list[str], stats: dict):
        self = super().__new__(cls, (features, mask))
        self.warnings = warnings
        self.stats = stats
        return self

    @property
    def features(self) -> torch.Tensor:
        return self[0]

    @property
    def mask(self) -> torch.Tensor:
        return self[1]


class FeatureStore:
    """Content-addressed feature cache for one or more encoders."""

    def __init__(self, cache_dir: Path | str | None = None):
        self.root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        # (folder) -> {shard file -> list of keys}, and key -> (shard file, row)
        self._seen: dict[Path, set[Path]] = {}
        self._index: dict[Path, dict[str, tuple[Path, int]]] = {}
        self._problems: dict[Path, dict[str, str]] = {}

    def folder(self, encoder_name: str, revision: str, modality: str) -> Path:
        if modality not in MODALITIES:
            raise VLKGEError(f"unknown modality {modality!r}: use visual or textual")
        tag = hashlib.sha256(encoder_name.encode()).hexdigest()[:8]
        return self.root / f"{safe_name(encoder_name)}-{tag}" / safe_name(revision or "none") / modality

    def _refresh(self, folder: Path) -> dict[str, tuple[Path, int]]:
        index = self._index.setdefault(folder, {})
        problems = self._problems.setdefault(folder, {})
        seen = self._seen.setdefault(folder, set())
        if not folder.is_dir():
            return index
        for shard in sorted(folder.glob("shard-*.safetensors")):
            if shard in seen:
                continue
            seen.add(shard)
            try:
                with safe_open(str(shard), framework="pt") as f:
                    meta = f.metadata() or {}
                keys = json.loads(meta["keys"])
                probs = json.loads(meta.get("problems", "{}"))
            except Exception as e:  # a foreign or damaged file: skip it, recompute its rows
                _warnings.warn(f"{shard}: unreadable feature shard skipped ({e})")
                continue
            for row, k in enumerate(keys):
                index[k] = (shard, row)
            problems.update(probs)
        return index

    def lookup(self, folder: Path, keys: list[str]) -> set[str]:
        """The subset of ``keys`` already stored."""
        index = self._refresh(folder)
        return {k for k in keys if k in index}

    def problem(self, folder: Path, key: str) -> str:
        return self._problems.get(folder, {}).get(key, "")

    def get(self, folder: Path, keys: list[str], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows for stored ``keys`` (features [n, dim], ok [n]); shards are memory-mapped by
        safetensors and only the needed rows are copied out."""
        index = self._refresh(folder)
        out = torch.zeros(len(keys), dim, dtype=torch.float32)
        ok = torch.zeros(len(keys), dtype=torch.bool)
        by_shard: dict[Path, list[tuple[int, int]]] = {}
        for i, k in enumerate(keys):
            shard, row = index[k]
            by_shard.setdefault(shard, []).append((i, row))
        for shard, pairs in by_shard.items():
            dst = torch.tensor([p[0] for p in pairs])
            src = torch.tensor([p[1] for p in pairs])
            with safe_open(str(shard), framework="pt") as f:
                feats = f.get_tensor("features")
                if feats.shape[1] != dim:
                    raise VLKGEError(f"{shard}: cached features have dim {feats.shape[1]}, "
                                     f"encoder gives {dim}; delete {folder} to rebuild")
                out[dst] = feats[src].float()
                ok[dst] = f.get_tensor("ok")[src].bool()
        return out, ok

    def put(self, folder: Path, keys: list[str], features: torch.Tensor, ok: torch.Tensor,
            problems: dict[str, str] | None = None) -> Path:
        """Persist one batch atomically as a new shard."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"shard-{time.time_ns():x}-{uuid.uuid4().hex[:12]}.safetensors"
        atomic_save_tensors(path, {"features": features.float(), "ok": ok.to(torch.uint8)},
                            metadata={"keys": json.dumps(keys), "problems": json.dumps(problems or {})})
        return path

    def clear(self) -> None:
        self._seen.clear()
        self._index.clear()
        self._problems.clear()


def extract_features(graph: Graph, encoder: Encoder | str, modality: str,
                     store: FeatureStore | None = None, batch_size: int | None = None,
                     progress: bool = True,
                     callback: Callable[[int, int], None] | None = None) -> Features:
    """Per-entity features for one modality, computing only what the store lacks.

    Returns a :class:`Features` that unpacks as ``(features [num_entities, dim] float32,
    mask BoolTensor)``; entities without the modality (no image, empty text, unreadable image)
    get a zero row and mask False, and are reported in ``.warnings`` (also sent to logging).
    ``encoder`` may be the string ``imported:NAME`` to load features written by
    :func:`vlkge.encoders.import_features.import_features`. ``callback(done, total)`` is
    called after each batch with counts of distinct items. ``batch_size`` (items per encoder
    call and per shard) defaults to 64 images or 512 texts.
    """
    if isinstance(encoder, str):
        if imported_name(encoder) is not None:
            feats, mask = load_imported(graph, modality, imported_name(encoder), store)
            return Features(feats, mask, [], {"hits": int(mask.sum()), "computed": 0, "seconds": 0.0})
        from .loading import load_encoder
        encoder = load_encoder(encoder)
    store = store or FeatureStore()
    folder = store.folder(encoder.name, encoder.revision, modality)
    visual = modality == "visual"
    dim = encoder.image_dim if visual else encoder.text_dim
    n = graph.num_entities
    t0 = time.time()
    warns: list[str] = []

    keys: list[str | None] = [None] * n
    sources: dict[str, object] = {}
    absent = []
    for i in range(n):
        if visual:
            p = graph.image_path(i)
            if p is None:
                absent.append(graph.entities[i])
                continue
            try:
                k = file_key(p)
            except OSError as e:
                warns.append(f"{p}: cannot read image ({e.strerror or e})")
                continue
        else:
            t = graph.text(i).strip()
            if not t:
                absent.append(graph.entities[i])
                continue
            k = text_key(t)
            p = t
        keys[i] = k
        sources.setdefault(k, p)
    if absent:
        what = "image" if visual else "text"
        more = f", ... (+{len(absent) - 3})" if len(absent) > 3 else ""
        warns.insert(0, f"{len(absent)} of {n} entities have no {what}; they get zero {modality} "
                        f"features: {', '.join(absent[:3])}{more}")

    unique = list(sources)
    have = store.lookup(folder, unique)
    missing = [k for k in unique if k not in have]
    if not visual:
        # neighbours in length share a batch: a transformer pads each batch to its longest text
        missing.sort(key=lambda k: len(sources[k]))
    batch_size = batch_size or (64 if visual else 512)
    total, done = len(unique), len(unique) - len(missing)
    if callback:
        callback(done, total)
    bar = None
    if progress and missing:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(missing), desc=f"{modality} features ({encoder.name})",
                   unit="image" if visual else "text")
    try:
        for s in range(0, len(missing), batch_size):
            batch = missing[s:s + batch_size]
            problems: dict[str, str] = {}
            if visual:
                batch_warns: list[str] = []
                feats, ok = encoder.encode_images([sources[k] for k in batch], warnings=batch_warns)
                for k, good in zip(batch, ok.tolist()):
                    if not good:
                        # encode_images reports failures in order; map them back to their keys.
                        problems[k] = batch_warns.pop(0).split(": ", 1)[-1] if batch_warns else "unreadable"
            else:
                feats = encoder.encode_texts([sources[k] for k in batch])
                ok = torch.ones(len(batch), dtype=torch.bool)
            store.put(folder, batch, feats, ok, problems)
            done += len(batch)
            if bar is not None:
                bar.update(len(batch))
            if callback:
                callback(done, total)
    finally:
        if bar is not None:
            bar.close()

    out = torch.zeros(n, dim, dtype=torch.float32)
    mask = torch.zeros(n, dtype=torch.bool)
    rows = [i for i in range(n) if keys[i] is not None]
    if rows:
        feats, ok = store.get(folder, [keys[i] for i in rows], dim)
        out[rows] = feats
        mask[rows] = ok
        for i, good in zip(rows, ok.tolist()):
            if not good:
                warns.append(f"{sources[keys[i]]}: {store.problem(folder, keys[i]) or 'unreadable'}; "
                             f"entity {graph.entities[i]} gets zero {modality} features")
    for w in warns:
        log.warning(w)
    stats = {"hits": len(unique) - len(missing), "computed": len(missing),
             "seconds": time.time() - t0, "items": len(unique)}
    return Features(out, mask, warns, stats)


# ---------------------------------------------------------------- imported features
def _graph_tag(graph: Graph) -> str:
    if graph.fingerprint:
        return graph.fingerprint
    # No file fingerprint (built in memory): the entity list is what rows are aligned to.
    return hashlib.sha256("\n".join(graph.entities).encode()).hexdigest()[:16]


def imported_path(graph: Graph, modality: str, name: str, store: FeatureStore | None = None) -> Path:
    if modality not in MODALITIES:
        raise VLKGEError(f"unknown modality {modality!r}: use visual or textual")
    store = store or FeatureStore()
    return store.root / "imported" / safe_name(name) / f"{_graph_tag(graph)}-{modality}.safetensors"


def load_imported(graph: Graph, modality: str, name: str,
                  store: FeatureStore | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(features [num_entities, dim], mask) previously written by :func:`import_features`."""
    name = imported_name(name) or name
    path = imported_path(graph, modality, name, store)
    if not path.is_file():
        raise VLKGEError(f"no imported {modality} features named {name!r} for this graph "
                         f"(looked for {path}); run the import first")
    t = load_file(str(path))
    return t["features"].float(), t["mask"].bool()
