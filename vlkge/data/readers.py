"""Read and validate graphs from the supported layouts: ``load_graph`` picks the reader.

Every fatal problem raises :class:`DataError` naming the file and line; recoverable ones are
appended to ``Graph.warnings`` and the affected item is dropped (an image becomes "no visual
modality", a duplicate triple is kept once).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from . import published
from .cache import CacheEntry, cached_graph
from .graph import Graph
from .tables import (absolute, build_graph, check_images, find_file, read_entities, read_mode_triples,
                     read_split_folder)

PYKEEN_DATASETS = ("umls", "kinships", "nations")


def load_graph(spec: str | os.PathLike, cache: bool = True) -> Graph:
    """Load a graph from ``spec``: a graph folder, a triples CSV, a folder of
    train/valid/test .txt files, ``pykeen:<name>``, or a published benchmark (WikiArt-MKG-v1/v2,
    WN9-IMG; detected, or forced with ``wikiart-mkg:``/``wn9-img:``/``ikrl:``). ``cache=False``
    reads the CSVs without the parsed-graph cache (a graph about to be renamed or deleted)."""
    s = str(spec)
    if s.startswith("pykeen:"):
        return _load_pykeen(s.split(":", 1)[1])
    if s.startswith(published.PREFIXES):
        return published.load_published(s)
    path = absolute(s)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    if published.detect_published(path):
        return published.load_published(path)
    if path.is_dir():
        if find_file(path, "triples.csv"):
            return read_graph_folder(path, cache)
        if find_file(path, "train.txt") or find_file(path, "train"):
            return read_split_folder(path)
        raise DataError(path, "not a graph folder: expected triples.csv (+ entities.csv) "
                              "or train.txt/valid.txt/test.txt")
    return read_triples_csv(path, cache)


def spec_path(spec: str) -> tuple[str, str]:
    """A graph spec as (prefix, path): ``("wn9-img:", "/d/wn9")``, ``("", "/d/art")``;
    ``pykeen:`` specs name a dataset, not a path: (spec, "")."""
    if spec.startswith("pykeen:"):
        return spec, ""
    for pre in published.PREFIXES:
        if spec.startswith(pre):
            return pre, spec[len(pre):]
    return "", spec


# ---------------------------------------------------------------- graph folder


def read_graph_folder(folder: Path, cache: bool = True) -> Graph:
    tpath = find_file(folder, "triples.csv")
    epath = find_file(folder, "entities.csv")
    assert tpath is not None
    files = [p for p in (epath, tpath) if p is not None]
    if not cache:
        return _parse_graph_folder(folder, tpath, epath, files).graph
    return cached_graph(files, folder, str(folder), lambda: _parse_graph_folder(folder, tpath, epath, files),
                        check_images)


def _parse_graph_folder(folder: Path, tpath: Path, epath: Path | None, files: list[Path]) -> CacheEntry:
    warnings: list[str] = []
    if epath is not None:
        ents = read_entities(epath, folder, warnings)
        image_warnings = len(warnings)  # the first ones: entities.csv is read first
        triples = read_mode_triples(tpath, warnings, known=set(ents["id"]), entities_file=epath)
    else:
        triples = read_mode_triples(tpath, warnings)
        ents, image_warnings = None, 0
    g = build_graph(triples, ents, warnings, root=folder, source=str(folder), files=files)
    return CacheEntry(g, ents["image_cells"] if ents else [], epath.name if epath else "", image_warnings)


def read_triples_csv(path: Path, cache: bool = True) -> Graph:
    if not cache:
        return _parse_triples_csv(path).graph
    return cached_graph([path], path.parent, str(path), lambda: _parse_triples_csv(path), check_images)


def _parse_triples_csv(path: Path) -> CacheEntry:
    warnings: list[str] = []
    triples = read_mode_triples(path, warnings)
    return CacheEntry(build_graph(triples, None, warnings, root=path.parent, source=str(path), files=[path]))


def _load_pykeen(name: str) -> Graph:
    name = name.lower()
    if name not in PYKEEN_DATASETS:
        raise DataError(f"pykeen:{name}", f"unknown dataset (choose from {', '.join(PYKEEN_DATASETS)})")
    # The bundled files are found without importing pykeen: ``pykeen.datasets`` costs seconds.
    import importlib.util
    spec = importlib.util.find_spec("pykeen")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"pykeen:{name}", "pykeen is not installed (pip install pykeen)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / name
    if not folder.is_dir():
        raise DataError(folder, "pykeen does not ship this dataset in its wheel")
    g = read_split_folder(folder)
    g.source = f"pykeen:{name}"
    return g


