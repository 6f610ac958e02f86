"""Where vlkge keeps things on disk: the cache ($VLKGE_CACHE), per-folder cache keys, the
folder imported catalogues go to ($VLKGE_IMPORTS), and whether a folder may be written into.

Kept free of heavy imports so light processes (the audit store) can use it.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path


def cache_root() -> Path:
    """``$VLKGE_CACHE``, else ``~/.cache/vlkge``: features, runs and projections of read-only
    folders, audit databases of read-only graphs, the demo graph."""
    env = os.environ.get("VLKGE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vlkge"


def imports_dir() -> Path:
    """Where the app saves imported catalogues: ``$VLKGE_IMPORTS``, else ``graphs`` in the folder
    it runs in."""
    return Path(os.environ.get("VLKGE_IMPORTS") or "graphs").expanduser()


def folder_key(folder: Path) -> str:
    """A name for a folder's entries in the cache: readable name + hash of the full path, so two
    graphs (or runs) called "data" never share an entry."""
    root = Path(folder).resolve()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", root.name)[:40] or "graph"
    return f"{name}-{hashlib.sha256(str(root).encode()).hexdigest()[:12]}"


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
