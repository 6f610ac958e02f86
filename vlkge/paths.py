"""Where vlkge keeps things on disk: one workspace, ``$VLKGE_HOME``.

Runs, audit verdicts, caches and imported catalogues all live under the workspace (default
``$XDG_DATA_HOME/vlkge``, i.e. ``~/.local/share/vlkge``), never inside a graph folder: a data
folder stays as it was given, whatever its permission bits say and whoever runs vlkge (root
ignores the bits). A graph folder is written only where the curator asks for it (``--out`` of
``train``, "Merge accepted links"). Layout::

    $VLKGE_HOME/runs/<graph key>/<run>   runs of one graph (``vlkge train`` without --out)
    $VLKGE_HOME/audit/<graph key>.sqlite audit verdicts of one graph
    $VLKGE_HOME/cache/                   features, projections, the demo graph ($VLKGE_CACHE)
    $VLKGE_HOME/graphs/                  catalogues imported in the app ($VLKGE_IMPORTS)

Places used before the workspace (``GRAPH/runs``, ``GRAPH/vlkge-audit.sqlite``,
``~/.cache/vlkge``) are still read so nothing made there is lost; nothing new goes there.

Kept free of heavy imports so light processes (the audit store) can use it.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

AUDIT_FILENAME = "vlkge-audit.sqlite"


def workspace() -> Path:
    """``$VLKGE_HOME``, else ``$XDG_DATA_HOME/vlkge``, else ``~/.local/share/vlkge``."""
    env = os.environ.get("VLKGE_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share") / "vlkge"


def cache_root() -> Path:
    """``$VLKGE_CACHE``, else ``cache`` in the workspace: features, projections of runs kept
    outside the workspace, the demo graph."""
    env = os.environ.get("VLKGE_CACHE")
    return Path(env).expanduser() if env else workspace() / "cache"


def imports_dir() -> Path:
    """Where the app saves imported catalogues: ``$VLKGE_IMPORTS``, else ``graphs`` in the workspace."""
    env = os.environ.get("VLKGE_IMPORTS")
    return Path(env).expanduser() if env else workspace() / "graphs"


def folder_key(folder: Path) -> str:
    """A name for a folder's entries in the workspace: readable name + hash of the full path, so
    two graphs (or runs) called "data" never share an entry."""
    root = Path(folder).resolve()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", root.name)[:40] or "graph"
    return f"{name}-{hashlib.sha256(str(root).encode()).hexdigest()[:12]}"


def graph_runs_dir(graph_root: Path) -> Path:
    """Where new runs of the graph in ``graph_root`` go: ``$VLKGE_HOME/runs/<graph key>``."""
    return workspace() / "runs" / folder_key(graph_root)


def new_run_dir(graph_root: Path, model: str) -> Path:
    """A fresh run folder in the workspace named by graph, scorer and time
    (``wikiart-mini-distmult-20261201-162659``)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(graph_root).resolve().name)[:40] or "graph"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return graph_runs_dir(graph_root) / f"{name}-{model}-{stamp}"


def _previous_cache_root() -> Path:
    # the cache's place before the workspace existed
    env = os.environ.get("VLKGE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vlkge"


def legacy_run_dirs(graph_root: Path) -> list[tuple[Path, str]]:
    """Folders that may hold runs made before the workspace, with a source name: read only."""
    root = Path(graph_root).resolve()
    return [(root / "runs", "graph"), (_previous_cache_root() / "runs" / folder_key(root), "cache")]


def audit_path(graph_root: Path) -> Path:
    """The audit database of the graph in ``graph_root``: ``$VLKGE_HOME/audit/<graph key>.sqlite``,
    unless one made before the workspace exists (beside the graph or in the old cache): those hold
    curators' decisions, so they keep being used."""
    root = Path(graph_root).resolve()
    path = workspace() / "audit" / f"{folder_key(root)}.sqlite"
    if path.exists():
        return path
    old = _previous_cache_root() / "audit"
    name = folder_key(root).rsplit("-", 1)[0]
    for legacy in (root / AUDIT_FILENAME, old / f"{folder_key(root)}.sqlite",
                   old / f"{name}-{hashlib.sha256(str(root).encode()).hexdigest()[:16]}.sqlite"):
        if legacy.is_file():
            return legacy
    return path


def in_workspace(path: Path) -> bool:
    """Whether ``path`` lies inside the workspace (where vlkge may add files of its own)."""
    try:
        return Path(path).resolve().is_relative_to(workspace().resolve())
    except OSError:
        return False


def image_roots() -> list[Path]:
    """Folders a web user of the app may name as an import's image folder: the workspace and
    those listed in ``$VLKGE_IMAGE_ROOTS`` (separated by the OS path separator, ``:``)."""
    extra = [Path(p).expanduser() for p in os.environ.get("VLKGE_IMAGE_ROOTS", "").split(os.pathsep) if p.strip()]
    return [workspace(), *extra]


def graph_roots() -> list[Path]:
    """Folders a web user of the app may save an imported graph in: the workspace and the imports
    folder (``$VLKGE_IMPORTS`` may lie elsewhere). Not ``$VLKGE_IMAGE_ROOTS``: a folder the app may
    read pictures from (a data folder, a share of scans) is not one a web user may write into."""
    return list(dict.fromkeys([workspace(), imports_dir()]))


def _inside(folder: Path, roots: list[Path]) -> Path | None:
    try:
        target = Path(folder).expanduser().resolve()
        return target if any(target.is_relative_to(r.resolve()) for r in roots) else None
    except OSError:
        return None


def allowed_image_folder(folder: Path) -> Path | None:
    """``folder`` resolved when it lies inside one of :func:`image_roots`, else None."""
    return _inside(folder, image_roots())


def allowed_graph_folder(folder: Path) -> Path | None:
    """``folder`` resolved when it lies inside one of :func:`graph_roots`, else None."""
    return _inside(folder, graph_roots())


def writable_dir(d: Path) -> bool:
    """Whether files may be created in ``d``.

    Root ignores permission bits, so honour them explicitly: a folder marked r-x (the shared data
    folders) is meant to stay untouched even by root. Then really try, which also catches
    read-only mounts."""
    try:
        if not d.is_dir() or not d.stat().st_mode & 0o222:
            return False
        fd, probe = tempfile.mkstemp(dir=d, prefix=".vlkge-probe-")
        os.close(fd)
        os.unlink(probe)
        return True
    except OSError:
        return False
