"""Run directories: ``model.safetensors`` + ``config.json`` + ``metrics.json``.

Every file is written atomically (temp file in the same folder, fsync, rename) so a killed
process leaves either the previous complete file or the new one. ``config.json`` is written
only after the first model file, so a folder without it holds no run. Nothing is unpickled.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .atomic import as_if_created, atomic_write_bytes, atomic_write_json  # noqa: F401 (re-exported)
from .errors import VLKGEError

MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.safetensors", "config.json", "metrics.json"
STATE_FILE = "train_state.safetensors"  # latest epoch: weights, optimizer, RNG; counters in its metadata


def cache_root() -> Path:
    """``$VLKGE_CACHE``, else ``~/.cache/vlkge``: the one root of every derived file vlkge keeps
    (features, parsed graphs, projections, the demo graph)."""
    env = os.environ.get("VLKGE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vlkge"


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        as_if_created(tmp)  # after: save_file makes the file anew
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VLKGEError(f"{path}: missing") from None
    except json.JSONDecodeError as e:
        raise VLKGEError(f"{path}:{e.lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise VLKGEError(f"{path}: not valid JSON (not UTF-8: {e.reason})") from None
    except IsADirectoryError:
        raise VLKGEError(f"{path}: is a folder, expected a JSON file") from None


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise VLKGEError(f"{path}: missing") from None
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise VLKGEError(f"{path}: not a readable safetensors file ({e})") from None


def is_run(path: Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file() and (Path(path) / MODEL_FILE).is_file()
