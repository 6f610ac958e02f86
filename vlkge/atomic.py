"""Atomic file writes: readers only ever see the old file or the complete new one.

Kept free of heavy imports so light processes (the audit store) can use it.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(mask)
    return mask


UMASK = _read_umask()  # at import, before any thread of the app could race the two calls


def as_if_created(path: Path | str, directory: bool = False) -> None:
    """Give a file or folder made by ``tempfile`` (private: 0600 / 0700) the permissions a plain
    ``open`` or ``mkdir`` would have, so a run or graph another user may read is readable once renamed
    into place."""
    os.chmod(path, (0o777 if directory else 0o666) & ~UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        as_if_created(tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable; not every filesystem lets a directory be fsynced
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode())
