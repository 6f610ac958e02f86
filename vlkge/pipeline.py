"""From a graph to a finished run: pick modalities, extract frozen features, train (early
stopping on validation MRR), evaluate on val and test, calibrate confidences."""
from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

from .data.graph import Graph, candidate_mask
from .device import resolve_device
from .encoders import extract_features, load_encoder
from .errors import VLKGEError
from .evaluation.ranking import evaluate_model
from .evaluation.zero_shot import evaluate_zero_shot
from .prediction.run import Run, load_run
from .prediction.projection import precompute as precompute_projections
from .runs import CONFIG_FILE, METRICS_FILE, atomic_write_json, read_json
from .training.config import TrainConfig
from .training.trainer import Features, ProgressFn, Validate, distributed_context, train

log = logging.getLogger(__name__)
FeatureProgress = Callable[[str, int, int], None]


def available_modalities(graph: Graph) -> list[str]:
    """structural always; textual when entities carry real text (not just their ids); visual when
    any entity has an image."""
    mods = ["structural"]
    if any(d for d in graph.descriptions) or any(l and l != e for l, e in zip(graph.labels, graph.entities)):
        mods.append("textual")
    if bool(graph.has_image.any()):
        mods.append("visual")
    return mods


def resolve_modalities(graph: Graph, requested: list[str]) -> list[str]:
    have = available_modalities(graph)
    if not requested or requested == ["auto"]:
        return have
    bad = [m for m in requested if m not in ("structural", "textual", "visual")]
    if bad:
        raise VLKGEError(f"unknown modality {bad[0]!r} (choose from structural, textual, visual)")
    missing = [m for m in requested if m not in have]
    if missing:
        raise VLKGEError(f"the graph has no {missing[0]} modality (it has: {', '.join(have)})")
    return ["structural"] + [m for m in ("textual", "visual") if m in requested]


def prepare_features(graph: Graph, modalities: list[str], encoder_spec: str, device: str = "auto",
                     progress: bool = True, callback: FeatureProgress | None = None
                     ) -> tuple[Features, dict]:
    """Frozen features for the non-structural modalities, and a description of the encoder used."""
    wanted = [m for m in modalities if m != "structural"]
    if not wanted:
        return {}, {"name": None}
    if encoder_spec.startswith("imported:"):
        encoder, info = encoder_spec, {"name": encoder_spec, "joint_space": False}
    else:
        encoder = load_encoder(encoder_spec, device=device)
        info = encoder.info()
    _extract_own_shard(graph, encoder, wanted)
    feats: Features = {}
    for m in wanted:
        cb = (lambda done, total, m=m: callback(m, done, total)) if callback else None
        res = extract_features(graph, encoder, m, progress=progress, callback=cb)
        graph.warnings.extend(res.warnings)
        feats[m] = (res.features, res.mask)
        log.info("%s features: %d/%d entities, %s", m, int(res.mask.sum()), graph.num_entities, res.stats)
    return feats, info


def _extract_own_shard(graph: Graph, encoder, modalities: list[str]) -> None:
    """Under torchrun, each rank first fills the shared feature cache for its shard of the
    entities; the full extraction that follows on every rank is then all cache hits."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or isinstance(encoder, str):
        return
    rank, world = distributed_context(torch.device(resolve_device("auto")))
    idx = list(range(rank, graph.num_entities, world))
    shard = copy.copy(graph)
    for name in ("entities", "types", "labels", "descriptions", "images"):
        setattr(shard, name, [getattr(graph, name)[i] for i in idx])
    for name in ("has_image", "has_text", "entity_index"):
        shard.__dict__.pop(name, None)
    for m in modalities:
        extract_features(shard, encoder, m, progress=False)
    dist.barrier()


def train_run(graph: Graph, cfg: TrainConfig, out: Path, resume: bool = False, progress: bool = True,
              callback: ProgressFn | None = None, feature_callback: FeatureProgress | None = None) -> dict:
    """Train ``cfg`` on ``graph`` into run directory ``out`` and return its metrics."""
    out = Path(out)
    if not resume and (out / CONFIG_FILE).exists():
        raise VLKGEError(f"{out} already holds a run; choose another --out or pass --resume")
    modalities = resolve_modalities(graph, cfg.modalities)
    cfg.modalities = modalities
    features, encoder = prepare_features(graph, modalities, cfg.encoder, cfg.device, progress, feature_callback)
    extra = {"encoder_used": encoder, "modalities_used": modalities}
    metrics = train_and_evaluate(graph, cfg, out, features=features, progress=progress, callback=callback,
                                 resume=resume, extra_config=extra)
    if metrics:  # empty on ranks other than 0 under torchrun
        calibrate(out, graph)
        # the map opens at once, with no projection to wait for (see prediction.projection)
        precompute_projections(load_run(out, graph=graph))
    return metrics


def validation_mrr(filter: str) -> Validate:
    """Early stopping's score: filtered MRR on the val split under the run's protocol."""
    def validate(model, graph: Graph, protocol: str) -> float:
        return evaluate_model(model, graph, split="val", protocol=protocol, filter=filter)["mrr"]
    return validate


def train_and_evaluate(graph: Graph, cfg: TrainConfig, out: Path, features: Features | None = None,
                       progress: bool = True, callback: ProgressFn | None = None, resume: bool = False,
                       extra_config: dict | None = None) -> dict:
    """``train`` with early stopping on validation MRR, then :func:`finish_run`; returns the
    metrics written (``{}`` on torchrun ranks other than 0)."""
    metrics = train(graph, cfg, out, features=features, progress=progress, callback=callback,
                    resume=resume, extra_config=extra_config, validate=validation_mrr(cfg.eval_filter))
    if metrics:
        metrics = finish_run(Path(out), graph)
    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # the other ranks wait for rank 0 to evaluate and write the run
    return metrics


def finish_run(out: Path, graph: Graph) -> dict:
    """Evaluate the best checkpoint on val and test and write metrics.json."""
    run = load_run(out, graph=graph)
    metrics = {"val": run.evaluate("val") if len(graph.split("val")) else None,
               "test": run.evaluate("test") if len(graph.split("test")) else None,
               "history": read_json(out / METRICS_FILE).get("history", []) if (out / METRICS_FILE).exists() else []}
    atomic_write_json(out / METRICS_FILE, metrics)
    return metrics


def calibrate(out: Path, graph: Graph) -> float:
    """Fit a softmax temperature on validation tail queries so a prediction's confidence matches
    how often such predictions are right (temperature scaling); stored in config.json."""
    val = graph.split("val")
    if len(val) == 0:
        return 1.0
    run = load_run(out, graph=graph)
    h, r, t = val[:5000].unbind(1)
    pools = candidate_mask(graph) if run.protocol == "tail-candidates" else None
    # A 1-D grid over temperature: robust where an optimizer can diverge on -inf scores. Each
    # relation's queries are scored against its candidate pool only, in chunks, so memory stays
    # at [chunk, pool] whatever the graph's size.
    grid = torch.logspace(-3, 3, 121)
    nll = torch.zeros(len(grid), dtype=torch.float64)
    E = run.entity_vectors
    for rel in torch.unique(r).tolist():
        idx = torch.nonzero(r == rel).squeeze(1)
        cand = torch.nonzero(pools[rel]).squeeze(1) if pools is not None else torch.arange(graph.num_entities)
        target = torch.searchsorted(cand, t[idx])
        for i in range(0, len(idx), 256):
            sel = idx[i:i + 256]
            with torch.no_grad():
                scores = run.model.score_tails(h[sel], r[sel], E, cand).float()
            for j, T in enumerate(grid):
                nll[j] += float(torch.nn.functional.cross_entropy(scores / T, target[i:i + 256], reduction="sum"))
    nll = torch.nan_to_num(nll, nan=float("inf"))
    temperature = float(grid[int(torch.argmin(nll))]) if torch.isfinite(nll).any() else 1.0
    config = read_json(out / CONFIG_FILE)
    config["calibration"] = {"temperature": temperature, "fitted_on": "val tail queries"}
    atomic_write_json(out / CONFIG_FILE, config)
    return temperature


def zero_shot(run: Run, split: str = "test", protocol: str | None = None) -> dict:
    """The zero-shot baseline on ``run``'s graph; text (and image) features come from the run, or
    are extracted with its encoder when the run was trained without them."""
    if run.graph is None:
        raise VLKGEError(f"{run.path}: the run's data is not available for zero-shot evaluation")
    features = encoder = None
    if "textual" not in run.model.entity.modalities:
        mods = ["textual"] + (["visual"] if bool(run.graph.has_image.any()) else [])
        features, encoder = prepare_features(run.graph, mods, run.train_config.encoder, progress=False)
    return evaluate_zero_shot(run, split, protocol, features=features, encoder_info=encoder)
