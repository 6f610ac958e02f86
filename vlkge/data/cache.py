"""A parsed-graph cache, so a big catalogue is read from its CSVs once.

A graph read from CSV is stored under ``<cache root>/graphs/`` as one safetensors file: the
split triples as int64 tensors, every string (vocabularies, labels, warnings) as JSON in its
metadata. Nothing is pickled. The key is the source path, the SHA-256 of the source files and of
the reader code, so an edited CSV or a changed reader never gets a stale graph. Image cells are
checked again on every load, because image files can appear, vanish or be swapped for a link
while the CSV stays the same. A cache file that cannot be read or does not hold a consistent
graph is ignored and rewritten; a cache that cannot be written only costs the next load time.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open

from ..paths import cache_root
from ..runs import atomic_save_tensors
from .graph import SPLITS, Graph, fingerprint_files

log = logging.getLogger(__name__)
FORMAT = "vlkge-graph-cache-1"
# The code that turns CSV text into a Graph: editing it must invalidate what it produced.
_READER_SOURCES = ("readers.py", "tables.py", "published.py", "graph.py", "cache.py")

ImageCell = tuple[int, str, int]  # (entity index, image cell as written, CSV line)
# (graph root, entities file name, cells, number of entities, warnings) -> image column
ImageCheck = Callable[[Path, str, list[ImageCell], int, list[str]], list[str]]


@dataclass
class CacheEntry:
    """What a reader parsed: the graph, plus what is needed to redo its image checks."""

    graph: Graph
    image_cells: list[ImageCell] = field(default_factory=list)
    entities_file: str = ""
    image_warnings: int = 0  # the first this many of graph.warnings come from the image checks


def cached_graph(files: list[Path], root: Path, source: str, parse: Callable[[], CacheEntry],
                 check_images: ImageCheck) -> Graph:
    """The graph ``parse()`` reads from ``files``, from the cache when the files are unchanged."""
    fingerprint = fingerprint_files(files)
    path = cache_path(source, root, fingerprint)
    graph = _read(path, root, source, fingerprint, check_images)
    if graph is not None:
        return graph
    entry = parse()
    _write(path, entry)
    return entry.graph


def cache_path(source: str, root: Path, fingerprint: str) -> Path:
    h = hashlib.sha256(FORMAT.encode())
    here = Path(__file__).parent
    for name in _READER_SOURCES:
        h.update((here / name).read_bytes())
    where = f"{source}\0{root}"
    h.update(where.encode())
    h.update(fingerprint.encode())
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(source).name)[:40] or "graph"
    folder = f"{name}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"
    return cache_root() / "graphs" / folder / f"{h.hexdigest()[:24]}.safetensors"


def _write(path: Path, entry: CacheEntry) -> None:
    g = entry.graph
    strings = {"entities": g.entities, "relations": g.relations, "types": g.types, "labels": g.labels,
               "descriptions": g.descriptions, "excluded_from_eval": g.excluded_from_eval,
               "warnings": g.warnings[entry.image_warnings:], "image_cells": entry.image_cells,
               "entities_file": entry.entities_file}
    try:
        atomic_save_tensors(path, {s: g.split(s).contiguous() for s in SPLITS},
                            metadata={"format": FORMAT, "graph": json.dumps(strings, ensure_ascii=False)})
        for old in path.parent.glob("*.safetensors"):  # older versions of the same source
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as e:
        log.info("graph cache not written (%s): %s", path, e)


def _read(path: Path, root: Path, source: str, fingerprint: str, check_images: ImageCheck) -> Graph | None:
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise ValueError("not a graph cache file")
            triples = {s: f.get_tensor(s) for s in SPLITS}
        d = json.loads(meta["graph"])
        n, n_rel = len(d["entities"]), len(d["relations"])
        if not all(len(d[k]) == n for k in ("types", "labels", "descriptions")):
            raise ValueError("entity columns of different lengths")
        for t in triples.values():
            if t.dtype != torch.long or t.dim() != 2 or t.shape[1] != 3:
                raise ValueError("triples are not an int64 [n, 3] tensor")
            if len(t) and (int(t.min()) < 0 or int(t[:, [0, 2]].max()) >= n or int(t[:, 1].max()) >= n_rel):
                raise ValueError("triple index out of range")
        cells = [(int(i), str(c), int(line)) for i, c, line in d["image_cells"]]
        if any(not 0 <= i < n for i, _, _ in cells):
            raise ValueError("image cell of an unknown entity")
        warnings: list[str] = []
        images = check_images(root, d["entities_file"], cells, n, warnings)
        return Graph(entities=d["entities"], relations=d["relations"], types=d["types"],
                     labels=d["labels"], descriptions=d["descriptions"], images=images,
                     triples=triples, root=root, source=source, fingerprint=fingerprint,
                     warnings=warnings + d["warnings"], excluded_from_eval=d["excluded_from_eval"])
    except Exception as e:  # damaged, truncated or foreign: parse the CSVs again and rewrite it
        log.warning("%s: unusable graph cache ignored (%s)", path, str(e).splitlines()[0] if str(e) else type(e).__name__)
        return None
