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
from .graph import Graph
from .tables import build_graph, find_file, read_entities, read_mode_triples, read_split_folder

PYKEEN_DATASETS = ("umls", "kinships", "nations")


def load_graph(spec: str | os.PathLike) -> Graph:
    """Load a graph from ``spec``: a graph folder, a triples CSV, a folder of
    train/valid/test .txt files, ``pykeen:<name>``, or a published benchmark (WikiArt-MKG-v1/v2,
    WN9-IMG; detected, or forced with ``wikiart-mkg:``/``wn9-img:``/``ikrl:``)."""
    s = str(spec)
    if s.startswith("pykeen:"):
        return _load_pykeen(s.split(":", 1)[1])
    if s.startswith(published.PREFIXES):
        return published.load_published(s)
    path = Path(s)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    if published.detect_published(path):
        return published.load_published(path)
    if path.is_dir():
        if find_file(path, "triples.csv"):
            return read_graph_folder(path)
        if find_file(path, "train.txt") or find_file(path, "train"):
            return read_split_folder(path)
        raise DataError(path, "not a graph folder: expected triples.csv (+ entities.csv) "
                              "or train.txt/valid.txt/test.txt")
    return read_triples_csv(path)


# ---------------------------------------------------------------- graph folder


def read_graph_folder(folder: Path) -> Graph:
    warnings: list[str] = []
    tpath = find_file(folder, "triples.csv")
    epath = find_file(folder, "entities.csv")
    assert tpath is not None
    if epath is not None:
        ents = read_entities(epath, folder, warnings)
        triples = read_mode_triples(tpath, warnings, known=set(ents["id"]), entities_file=epath)
    else:
        triples = read_mode_triples(tpath, warnings)
        ents = None
    g = build_graph(triples, ents, warnings, root=folder, source=str(folder),
                    files=[p for p in (epath, tpath) if p is not None])
    return g


def read_triples_csv(path: Path) -> Graph:
    warnings: list[str] = []
    triples = read_mode_triples(path, warnings)
    return build_graph(triples, None, warnings, root=path.parent, source=str(path), files=[path])


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


