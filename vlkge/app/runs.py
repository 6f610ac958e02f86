"""Finding, describing and training runs for the curator app."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..data.graph import Graph, vocabulary_difference
from ..errors import VLKGEError
from ..paths import graph_runs_dir, legacy_run_dirs, new_run_dir, writable_dir
from ..runs import is_run
from ..training.config import TrainConfig

OFFLINE_BANNER = ("No vision-language model available here: features come from the offline "
                  "fallback (MiniLM text + image descriptor), not a VLM. Image/text similarity "
                  "and placement are weaker than with CLIP.")


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
    import json
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
            cfg = json.loads((rp / "config.json").read_text(encoding="utf-8"))
            if vocabulary_difference(graph, cfg["entities"], cfg["relations"]):
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


def is_offline(run: Any) -> bool:
    name = (run.config.get("encoder_used") or {}).get("name") or ""
    return name.startswith("offline")


def has_joint_space(run: Any) -> bool:
    return bool((run.config.get("encoder_used") or {}).get("joint_space"))


def run_card(run: Any) -> dict[str, Any]:
    """What the Home page shows about a run: scorer, encoder actually used, modalities,
    overall metrics per split and a per-relation table."""
    tc = run.config.get("train", {})
    enc = run.config.get("encoder_used") or {}
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
        "scorer": tc.get("model"),
        "dim": tc.get("dim"),
        "epochs": tc.get("epochs"),
        "encoder": enc.get("name") or "none (structure only)",
        "joint_space": bool(enc.get("joint_space")),
        "offline": is_offline(run),
        "modalities": run.config.get("modalities_used") or [],
        "protocol": test.get("protocol") or run.protocol,
        "temperature": run.temperature if math.isfinite(run.temperature) else None,
        "overall": overall,
        "per_relation": per_rel,
    }


# What the app's training form may set besides epochs, scorer and modalities (the CLI sets every field).
APP_SETTINGS = {"dim": int, "negatives": int, "lr": float, "batch_size": int, "seed": int}


def app_setting_defaults(graph: Graph, model: str | None = None) -> dict:
    """What each of APP_SETTINGS is when left unset, for this graph and scorer."""
    from ..evaluation.ranking import default_protocol
    from ..training.config import negatives_for
    cfg = default_train_config(model=model)
    negatives = cfg.negatives or negatives_for(default_protocol(graph) == "tail-candidates")
    return {"dim": cfg.dim, "negatives": negatives, "lr": cfg.lr, "batch_size": cfg.batch_size, "seed": cfg.seed}


def default_train_config(epochs: int = 100, model: str | None = None, settings: dict | None = None) -> TrainConfig:
    """Defaults are good; fewer epochs so a curator waits minutes, not an hour. Early stopping
    still applies. ``model`` picks another scorer, with that scorer's own defaults; ``settings``
    overrides some of them (keys of APP_SETTINGS; None: the default).

    Raises VLKGEError for an unknown setting or a value out of range."""
    chosen = {}
    for name, value in (settings or {}).items():
        if name not in APP_SETTINGS:
            raise VLKGEError(f"unknown training setting {name!r} (known: {', '.join(APP_SETTINGS)})")
        if value is None:
            continue
        whole = APP_SETTINGS[name] is int
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or (whole and value != int(value))):
            raise VLKGEError(f"training setting {name} must be {'a whole number' if whole else 'a number'}, "
                             f"not {value!r}")
        if value < 0 or (value == 0 and name != "seed"):
            raise VLKGEError(f"training setting {name} must be {'0 or more' if name == 'seed' else 'above 0'}, "
                             f"not {value}")
        chosen[name] = APP_SETTINGS[name](value)
    return TrainConfig(epochs=epochs, **({"model": model} if model else {}), **chosen)


def new_run_path(graph_root: Path, model: str | None = None) -> Path:
    """A fresh run folder in the workspace named by graph, scorer and time (default: the scorer
    the app trains)."""
    return new_run_dir(graph_root, model or TrainConfig().model)


@dataclass
class TrainProgress:
    """Turns ``train_run`` callbacks into a fraction and an ETA. Feature extraction counts as
    the first ``feature_share`` of the bar, epochs as the rest."""
    feature_share: float = 0.3
    started: float = field(default_factory=time.monotonic)
    fraction: float = 0.0
    message: str = "starting"
    _epoch_start: float | None = None
    _feat_start: dict[str, float] = field(default_factory=dict)
    _last_feature: float | None = None

    def on_features(self, modality: str, done: int, total: int) -> None:
        now = time.monotonic()
        t0 = self._feat_start.setdefault(modality, now)
        frac = done / total if total else 1.0
        self._last_feature = now
        self.fraction = self.feature_share * frac
        eta = (now - t0) / frac * (1 - frac) if frac > 0 else None
        self.message = f"{modality} features {done:,}/{total:,}" + (f" · ETA {fmt_eta(eta)}" if eta else "")

    def on_epoch(self, epoch: int, epochs: int, info: dict | None = None) -> None:
        now = time.monotonic()
        if self._epoch_start is None:
            # training starts when the last feature batch is done (or at the start)
            self._epoch_start = self._last_feature or self.started
        per = (now - self._epoch_start) / epoch if epoch > 0 else None
        eta = per * (epochs - epoch) if per else None
        frac = epoch / epochs if epochs else 1.0
        self.fraction = min(1.0, self.feature_share + (1 - self.feature_share) * frac)
        loss = (info or {}).get("loss")
        extra = f" · loss {loss:.4f}" if isinstance(loss, (int, float)) else ""
        self.message = (f"epoch {epoch}/{epochs}{extra}" +
                        (f" · ETA {fmt_eta(eta)} (at most: early stopping may end sooner)" if eta is not None else ""))


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def train_for_app(graph: Graph, out: Path, epochs: int = 100,
                  on_update: Callable[[TrainProgress], None] | None = None,
                  modalities: list[str] | None = None, model: str | None = None,
                  settings: dict | None = None) -> dict:
    """Train a run with default hyperparameters (but ``settings``, see default_train_config) into
    ``out``, reporting progress."""
    from ..pipeline import train_run
    cfg = default_train_config(epochs, model, settings)
    if modalities:
        cfg.modalities = modalities
    prog = TrainProgress(feature_share=0.3 if graph.has_image.any() or graph.has_text.any() else 0.0)

    def fcb(m: str, d: int, t: int) -> None:
        prog.on_features(m, d, t)
        if on_update:
            on_update(prog)

    def ecb(e: int, n: int, info: dict) -> None:
        prog.on_epoch(e, n, info)
        if on_update:
            on_update(prog)

    return train_run(graph, cfg, Path(out), progress=False, callback=ecb, feature_callback=fcb)


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
