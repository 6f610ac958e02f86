"""Training runs from the curator app: the settings its form may change, what they are when left
unset (as ``training.config.resolve`` decides them), and progress with an ETA."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..data.graph import Graph
from ..errors import VLKGEError
from ..training.config import TrainConfig, resolve


# What the app's training form may set besides epochs, scorer and modalities (the CLI sets every field).
APP_SETTINGS = {"dim": int, "negatives": int, "lr": float, "batch_size": int, "seed": int}


def app_setting_defaults(graph: Graph, model: str | None = None) -> dict:
    """What each of APP_SETTINGS is when left unset, for this graph and scorer."""
    cfg = resolve(default_train_config(model=model), graph)
    return {name: getattr(cfg, name) for name in APP_SETTINGS}


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
                  settings: dict | None = None, verdicts: Path | None = None, previous: Path | None = None) -> dict:
    """Train a run with default hyperparameters (but ``settings``, see default_train_config) into
    ``out``, reporting progress; ``verdicts`` and ``previous`` as for pipeline.train_run."""
    from ..pipeline import train_run
    cfg = default_train_config(epochs, model, settings)
    if modalities:
        cfg = replace(cfg, modalities=modalities)
    prog = TrainProgress(feature_share=0.3 if graph.has_image.any() or graph.has_text.any() else 0.0)

    def fcb(m: str, d: int, t: int) -> None:
        prog.on_features(m, d, t)
        if on_update:
            on_update(prog)

    def ecb(e: int, n: int, info: dict) -> None:
        prog.on_epoch(e, n, info)
        if on_update:
            on_update(prog)

    return train_run(graph, cfg, Path(out), progress=False, callback=ecb, feature_callback=fcb,
                     verdicts=verdicts, previous=previous)
