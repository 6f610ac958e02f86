"""Finding and describing runs for the curator app (training them: ``app.training``)."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.graph import Graph, vocabulary_difference
from ..errors import VLKGEError
from ..paths import graph_runs_dir, legacy_run_dirs, new_run_dir, writable_dir
from ..runs import is_run
from ..training.config import TrainConfig

def runs_dir(graph_root: Path) -> Path:
    """Where new runs for this graph go: the workspace (``$VLKGE_HOME/runs/<graph key>``), never
    the graph folder (see vlkge.paths)."""
    return graph_runs_dir(graph_root)


@dataclass
class RunInfo:
    path: Path
    name: str
    source: str  # "env", "workspace", or (made before the workspace) "graph" or "cache"
    mtime: float = 0.0


def discover_runs(graph: Graph, extra: list[str | Path] | None = None) -> list[RunInfo]:
    """Runs trained on ``graph``: ``$VLKGE_RUN`` and ``extra`` paths first, then the graph's runs
    in the workspace and those made before it (the graph folder's ``runs/``, the old cache),
    newest first. Runs whose entity or
    relation ids are not the graph's are left out (load_run would refuse them)."""
    found: list[RunInfo] = []
    seen: set[Path] = set()

    def add(p: Path, source: str) -> None:
        p = Path(p).expanduser()
        try:
            rp = p.resolve()
        except OSError:
            return
        if rp in seen or not is_run(rp):
            return
        try:
            entities, relations = run_vocabulary(rp / "config.json")
            if vocabulary_difference(graph, entities, relations):
                return
        except (OSError, ValueError, KeyError, TypeError):
            return
        seen.add(rp)
        found.append(RunInfo(rp, rp.name, source, (rp / "model.safetensors").stat().st_mtime))

    env = os.environ.get("VLKGE_RUN")
    for p in ([env] if env else []) + list(extra or []):
        add(Path(p), "env")
    local: list[RunInfo] = []
    if graph.root is not None:
        root = Path(graph.root).resolve()
        dirs = [(runs_dir(root), "workspace"), *legacy_run_dirs(root)]
        for d, source in dirs:
            if d.is_dir():
                for p in d.iterdir():
                    n = len(found)
                    add(p, source)
                    if len(found) > n:
                        local.append(found.pop())
    local.sort(key=lambda r: -r.mtime)
    return found + local


_VOCABULARIES: dict[tuple[Path, int, int], tuple[list[str], list[str]]] = {}


def run_vocabulary(config: Path) -> tuple[list[str], list[str]]:
    """A run's entity and relation ids from its config.json, parsed once per version of the file:
    the app asks on every rerun, and at 81k entities the file is 4.6 MB of JSON (~0.1 s)."""
    st = config.stat()
    key = (config, st.st_mtime_ns, st.st_size)
    if key not in _VOCABULARIES:
        cfg = json.loads(config.read_text(encoding="utf-8"))
        if len(_VOCABULARIES) >= 64:
            _VOCABULARIES.clear()
        _VOCABULARIES[key] = (list(cfg["entities"]), list(cfg["relations"]))
    return _VOCABULARIES[key]


def encoder_notice(run: Any) -> str | None:
    """The warning the app shows for a run whose features come from the offline fallback rather
    than a vision-language model; None otherwise."""
    if run.encoder.kind != "offline":
        return None
    return ("No vision-language model available here: features come from the offline fallback "
            f"({run.encoder.description.rstrip('.')}). Image/text similarity and placement are weaker "
            "than with CLIP.")


def run_card(run: Any) -> dict[str, Any]:
    """What the Home page shows about a run: scorer, encoder actually used, modalities,
    overall metrics per split and a per-relation table."""
    tc = run.train_config
    test = (run.metrics or {}).get("test") or {}
    overall = {}
    for split in ("val", "test"):
        m = (run.metrics or {}).get(split) or {}
        if m:
            overall[split] = {k: m.get(k) for k in ("mrr", "mr", "hits@1", "hits@3", "hits@10", "count")}
    per_rel = [{"relation": r, **{k: v.get(k) for k in ("mrr", "hits@1", "hits@3", "hits@10", "count")}}
               for r, v in sorted((test.get("per_relation") or {}).items())]
    return {
        "name": Path(run.path).name,
        "path": str(run.path),
        "scorer": tc.model,
        "dim": tc.dim,
        "epochs": tc.epochs,
        "encoder": run.encoder.description or "none (structure only)",
        "joint_space": run.encoder.vision_language,
        "offline": run.encoder.kind == "offline",
        "modalities": run.config.get("modalities_used") or [],
        "protocol": test.get("protocol") or run.protocol,
        "temperature": run.temperature if math.isfinite(run.temperature) else None,
        "overall": overall,
        "per_relation": per_rel,
        "verdicts": run.config.get("verdicts"),  # what the run learned from the Audit store
    }


def verdicts_text(v: dict) -> str:
    """The run card's line on the curators' verdicts a run learned from (plain text)."""
    moved = [f"{r} MRR {_mrr(m.get('before'))} → {_mrr(m.get('after'))}" for r, m in (v.get("mrr") or {}).items()]
    skipped = f", {v['skipped']} naming entities not in the graph left out" if v.get("skipped") else ""
    return (f"Learned from {v.get('accepted', 0)} accepted and {v.get('rejected', 0)} rejected Audit verdicts"
            f"{skipped}" + (f"; vs the previous run: {'; '.join(moved)}" if moved else "") + ".")


def _mrr(x: Any) -> str:
    return "–" if x is None else f"{x:.3f}"


def new_run_path(graph_root: Path, model: str | None = None) -> Path:
    """A fresh run folder in the workspace named by graph, scorer and time (default: the scorer
    the app trains)."""
    return new_run_dir(graph_root, model or TrainConfig().model)


def merge_status(graph: Graph) -> tuple[bool, str]:
    """Whether accepted links can be merged into the graph folder, and why not."""
    root = graph.root
    if root is None:
        return False, "the graph was not loaded from a folder"
    if not (Path(root) / "triples.csv").is_file():
        return False, "the graph has no plain triples.csv to append to (gzipped or split files)"
    if not writable_dir(Path(root)):
        return False, "the graph folder is read-only"
    return True, ""
