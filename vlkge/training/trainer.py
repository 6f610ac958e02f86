"""Train a KGE model with negative sampling, early stopping on a validation score, and resumable,
atomic checkpoints in a run directory. Evaluating and calibrating the finished run is the
pipeline's job (:mod:`vlkge.pipeline`)."""
from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..data.graph import Graph
from ..data.patterns import inverse_relations, symmetric_relations
from ..device import resolve_device
from ..errors import VLKGEError
from ..models.model import KGEModel, build_model
from ..runs import (CONFIG_FILE, METRICS_FILE, MODEL_FILE, STATE_FILE, atomic_save_tensors,
                    atomic_write_json, load_tensors, read_json)
from ..version import __version__
from .budget import checkpoint_due, out_of_time
from .config import ResolvedConfig
from .negatives import NegativeSampler
from .optim import Adam

log = logging.getLogger(__name__)

Features = dict[str, tuple[torch.Tensor, torch.Tensor]]
ProgressFn = Callable[[int, int, dict], None]
# (model in eval mode, graph whose "val" split to rank, evaluation protocol) -> score, higher is
# better: what early stopping and the kept checkpoint go by.
Validate = Callable[[KGEModel, Graph, str], float]


def make_model(graph: Graph, cfg: ResolvedConfig, features: Features | None, sparse: bool = True,
               structural_entities: torch.Tensor | None = None) -> KGEModel:
    """``structural_entities`` (bool [N]): who gets a structural embedding; by default every
    entity with training triples, the others being placed from their features."""
    structural = graph.train_entities if structural_entities is None else structural_entities
    model = build_model(cfg.model, graph.num_entities, graph.num_relations, cfg.dim,
                        structural_mask=structural, features=features,
                        fusion=cfg.fusion, p=cfg.p, sparse=sparse, tail_bias=cfg.tail_bias)
    if cfg.tie_inverse_relations:
        model.relation.tie(inverse_relations(graph.split("train"), graph.num_relations))
    return model


class TrainingLoss(nn.Module):
    """The model's loss on one batch as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, model: KGEModel, cfg: ResolvedConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, pos, S, tail_mask, head_mask, self_mask):
        return _loss(self.model, pos, S, tail_mask, head_mask, self_mask, self.cfg)


def distributed_context(device: torch.device) -> tuple[int, int]:
    """(rank, world size), joining the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


class Optimizers:
    """The optimizers of one model, stepped together (one, today: optim.Adam and Adagrad
    each handle sparse and dense gradients)."""

    def __init__(self, opts: list[torch.optim.Optimizer]):
        self.opts = opts

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.opts:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for o in self.opts:
            o.step()

    def scale_lr(self, factor: float) -> None:
        for o in self.opts:
            for g in o.param_groups:
                g["lr"] *= factor

    def state_dict(self) -> list[dict]:
        return [o.state_dict() for o in self.opts]

    def load_state_dict(self, states: list[dict]) -> None:
        for o, s in zip(self.opts, states):
            o.load_state_dict(s)


def sparse_entities(num_entities: int, rows_per_step: int) -> bool:
    """Whether the entity table takes sparse gradients (and sparse Adam updates).

    Sparse pays when a step touches few of the table's rows. When it touches about as many rows
    as the table has (UMLS: 135 entities, 513 rows a step at batch 256), the sparse bookkeeping
    (coalescing, per-row gathers) is most of a step's time and a dense fused Adam does the same
    work in one kernel.
    """
    return num_entities > rows_per_step


def make_optimizer(model: KGEModel, cfg: ResolvedConfig) -> Optimizers:
    if cfg.optimizer == "adam":  # optim.Adam: sparse rows for a sparse entity table, dense for the rest
        return Optimizers([Adam(model.parameters(), lr=cfg.lr)])
    if cfg.optimizer == "adagrad":
        return Optimizers([torch.optim.Adagrad(list(model.parameters()), lr=cfg.lr)])
    raise VLKGEError(f"unknown optimizer {cfg.optimizer!r} (choose adam or adagrad)")


def run_config(graph: Graph, cfg: ResolvedConfig, features: Features | None, extra: dict | None) -> dict:
    import numpy
    return {
        "format": "vlkge-run/1",
        "train": cfg.to_dict(),
        "data": {"source": graph.source, "fingerprint": graph.fingerprint,
                 "excluded_from_eval": graph.excluded_from_eval},
        "entities": graph.entities,
        "relations": graph.relations,
        "features": {m: int(f.shape[1]) for m, (f, _) in (features or {}).items()},
        "versions": {"vlkge": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
                     "python": platform.python_version()},
        "world_size": 1,
        **(extra or {}),
    }


def train(graph: Graph, cfg: ResolvedConfig, out: Path, features: Features | None = None,
          progress: bool = True, callback: ProgressFn | None = None, resume: bool = False,
          extra_config: dict | None = None, validate: Validate | None = None,
          structural_entities: torch.Tensor | None = None) -> dict:
    """Train and write a run directory at ``out``; return ``{"history": [...]}`` (``{}`` on
    torchrun ranks other than 0, which write nothing).

    ``structural_entities``: see make_model.

    The best model by ``validate`` is kept in ``model.safetensors`` (without ``validate`` or a val
    split: by lowest training loss); ``train_state.*`` holds the latest epoch's model and optimizer
    so ``resume=True`` continues exactly where it stopped. ``cfg`` comes from
    ``training.config.resolve``: every default is decided there, none here.
    """
    if not isinstance(cfg, ResolvedConfig):
        raise TypeError("train() takes a ResolvedConfig: pass training.config.resolve(cfg, graph)")
    out = Path(out)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)  # batch order: the same on every rank
    device = torch.device(resolve_device(cfg.device))
    rank, world = distributed_context(device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    neg_gen = torch.Generator().manual_seed(cfg.seed + 7919 * rank)  # negatives: per rank
    protocol, typed = cfg.eval_protocol_used, cfg.negative_sampling_used == "typed"
    # DDP all-reduces dense gradients; a single process keeps the sparse entity table.
    rows_per_step = 2 * cfg.batch_size + cfg.negatives
    model = make_model(graph, cfg, features, sparse=world == 1 and sparse_entities(graph.num_entities, rows_per_step),
                       structural_entities=structural_entities).to(device)
    step_loss = TrainingLoss(model, cfg)
    if world > 1:
        step_loss = DistributedDataParallel(step_loss, device_ids=[device.index] if device.type == "cuda" else None)
    opt = make_optimizer(model, cfg)
    train_triples = graph.split("train")
    sampler = NegativeSampler(train_triples, graph.num_entities, graph.num_relations, cfg.negatives,
                              typed=typed, filter_known=cfg.filter_negatives, generator=neg_gen,
                              anchor_relations=anchor_relations(model, train_triples, graph.num_relations))
    config = run_config(graph, cfg, features, extra_config)
    config["world_size"] = world
    config["train"]["inverse_relations_tied"] = {graph.relations[r]: graph.relations[o]
                                                 for r, o in model.relation.ties().items()}
    writer = rank == 0

    start_epoch, best, bad, history = 0, -1.0, 0, []
    if resume:
        start_epoch, best, bad, history = _load_state(out, model, opt, gen, graph, neg_gen)
        if writer and (out / CONFIG_FILE).exists():
            atomic_write_json(out / CONFIG_FILE, config)  # e.g. a new --epochs
    val = graph.split("val")
    if len(val) > cfg.eval_max_queries:
        pick = torch.randperm(len(val), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.eval_max_queries]
        val_graph = _with_split(graph, "val", val[pick])
    else:
        val_graph = graph
    has_val = len(val) > 0

    n = len(train_triples)
    steps = math.ceil(n / cfg.batch_size)
    bar = tqdm(range(start_epoch, cfg.epochs), desc="train", disable=not (progress and writer), initial=start_epoch,
               total=cfg.epochs, unit="epoch", dynamic_ncols=True)
    t0 = last_save = time.time()
    for epoch in bar:
        t_epoch = time.time()
        model.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(steps):
            pos = train_triples[perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]]
            if world > 1:
                pos = pos[rank::world]
            batch = (pos, *sampler.sample(pos))
            if device.type != "cpu":
                batch = [None if x is None else x.to(device) for x in batch]
            loss = step_loss(*batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
        now = time.time()
        info = {"epoch": epoch + 1, "loss": total / steps, "elapsed_s": now - t0}
        last = epoch + 1 == cfg.epochs or out_of_time(now - t0, now - t_epoch, cfg.time_budget_s)
        if (epoch + 1) % cfg.eval_every == 0 or last:
            if has_val and validate is not None:
                model.eval()
                mrr = validate(model, val_graph, protocol)
            else:
                mrr = -float(info["loss"])
            info["val_mrr"] = mrr
            history.append(info)
            if mrr > best:
                best, bad = mrr, 0
                if writer:
                    _save_best(out, model, config, history)
            else:
                bad += 1
                opt.scale_lr(cfg.lr_decay)
            if writer:
                _save_state(out, model, opt, gen, neg_gen, epoch + 1, best, bad, history)
                last_save = time.time()
            bar.set_postfix(loss=f"{info['loss']:.4f}", val_mrr=f"{mrr:.4f}", best=f"{best:.4f}")
            if callback:
                callback(epoch + 1, cfg.epochs, info)
            if bad >= cfg.patience or last:
                break
        else:
            if writer and checkpoint_due(now - last_save, now - t_epoch):
                _save_state(out, model, opt, gen, neg_gen, epoch + 1, best, bad, history)
                last_save = time.time()
            if callback:
                callback(epoch + 1, cfg.epochs, info)
    bar.close()
    if not writer:
        return {}
    if not (out / MODEL_FILE).exists():
        _save_best(out, model, config, history)
    # the saved model is the best epoch's, but the history is every evaluated epoch (how long it ran)
    atomic_write_json(out / METRICS_FILE, {"history": history})
    return {"history": history}


def anchor_relations(model: KGEModel, triples: torch.Tensor, num_relations: int) -> torch.Tensor:
    """Per relation, whether a positive's own anchors as answers, (h, r, h) and (t, r, t), are
    taught as negatives.

    A sampled set rarely contains them, yet ranking scores every entity against itself.
    Distance scorers favour staying put by construction (TransE ranked the anchor first
    for 95% of WN9 queries); bilinear ones do once fused features make an entity look like itself
    (VL-DistMult on WN9: 80%). Structural-only bilinear models are left alone: it costs them
    accuracy. TransE models a symmetric relation only with r = 0, where the anchor is its own
    nearest answer (``symmetric_is_identity``), so there the loops would contradict the relation (WN9's
    derivationally_related_form fell to 0.01 test MRR).
    """
    if not model.scorer.distance and len(model.entity.modalities) == 1:
        return torch.zeros(num_relations, dtype=torch.bool)
    if model.scorer.symmetric_is_identity:
        return ~symmetric_relations(triples, num_relations)
    return torch.ones(num_relations, dtype=torch.bool)


def negative_weights(neg_scores: torch.Tensor, mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """Weight of each negative in the loss, summing to 1 over the batch.

    temperature 0: the valid negatives weigh the same. Otherwise self-adversarial sampling (Sun et
    al., RotatE, 2019): within each positive's negatives, softmax(temperature * score), so the
    negatives the model currently confuses with the answer dominate; each positive's negatives
    weigh the same in all. The weights carry no gradient: they say what to learn from, not a
    quantity to optimise.
    """
    mask = mask.float()
    if temperature <= 0:
        return mask / mask.sum().clamp_min(1.0)
    w = torch.softmax((neg_scores.detach() * temperature).masked_fill(mask == 0, float("-inf")), 1)
    w = torch.nan_to_num(w) * mask  # a row without valid negatives is all -inf: softmax gives NaN
    return w / w.sum().clamp_min(1e-12)


def _loss(model: KGEModel, pos: torch.Tensor, S: torch.Tensor, tail_mask: torch.Tensor,
          head_mask: torch.Tensor, self_mask: torch.Tensor | None, cfg: ResolvedConfig) -> torch.Tensor:
    # Few tensor ops: on small graphs a step is dispatch overhead, not arithmetic.
    B = pos.shape[0]
    vecs = model.entity(torch.cat([pos[:, 0], pos[:, 2], S]), cfg.structural_dropout)  # one lookup, one sparse gradient
    h, t, E = vecs.split([B, B, len(S)])
    r = model.relation(pos[:, 1])
    sc = model.scorer
    pos_s = sc.triples(h, r, t) + model.offset
    neg_s = torch.cat([sc.tails(h, r, E), sc.heads(E, r, t)], dim=1) + model.offset
    if model.tail_bias is not None:
        # The bias goes on the positives and the corrupted tails only. A corrupted head keeps the
        # positive's tail, whose bias a head query's ranking ignores (score_heads leaves it out);
        # taught there as well, a popular tail's bias would be pushed down as often as up.
        rows = model.tail_bias.table(torch.cat([pos[:, 0], pos[:, 2], S]))  # one lookup, one sparse gradient
        bh, bt, bS = rows.split([B, B, len(S)])
        pos_s = pos_s + bt.gather(1, pos[:, 1:2]).squeeze(1)
        neg_s = neg_s + F.pad(bS[:, pos[:, 1]].T, (0, len(S)))
    weights = negative_weights(neg_s, torch.cat([tail_mask, head_mask], dim=1), cfg.adversarial_temperature)
    if cfg.loss == "margin":
        loss = (F.relu(cfg.margin - pos_s[:, None] + neg_s) * weights).sum()
    else:
        loss = F.softplus(-pos_s).mean() + (F.softplus(neg_s) * weights).sum()
    if self_mask is not None:
        # Besides the sampled corruptions, each positive's own anchors as answers (see anchor_relations).
        self_s = torch.stack([sc.triples(h, r, h), sc.triples(t, r, t)], dim=1) + model.offset
        if model.tail_bias is not None:  # (h, r, h) corrupts the tail, (t, r, t) the head
            self_s = self_s + F.pad(bh.gather(1, pos[:, 1:2]), (0, 1))
        loops = self_mask.float() / self_mask.sum().clamp_min(1)
        if cfg.loss == "margin":
            loss = loss + (F.relu(cfg.margin - pos_s[:, None] + self_s) * loops).sum()
        else:
            loss = loss + (F.softplus(self_s) * loops).sum()
    if cfg.reg:
        loss = loss + cfg.reg * (h.pow(2).sum(-1).mean() + t.pow(2).sum(-1).mean() + r.pow(2).sum(-1).mean())
    return loss


def _with_split(graph: Graph, split: str, triples: torch.Tensor) -> Graph:
    import copy
    g = copy.copy(graph)
    g.triples = {**graph.triples, split: triples}
    return g


def _save_best(out: Path, model: KGEModel, config: dict, history: list) -> None:
    atomic_save_tensors(out / MODEL_FILE, model.state_dict(), metadata={"format": "vlkge-run/1"})
    atomic_write_json(out / METRICS_FILE, {"history": history})
    atomic_write_json(out / CONFIG_FILE, config)


def _save_state(out: Path, model: KGEModel, opt: Optimizers, gen: torch.Generator, neg_gen: torch.Generator,
                epoch: int, best: float, bad: int, history: list) -> None:
    """The latest epoch's model, optimizer and RNG state, with the loop counters in the same
    file's metadata: one atomic write, so a kill can never pair one epoch's weights with another
    epoch's counters."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    sds = opt.state_dict()
    plain: list[str] = []  # optimizer values that were Python numbers (SparseAdam's step)
    for j, sd in enumerate(sds):
        for pid, st in sd["state"].items():
            for name, v in st.items():
                key = f"optim.{j}.{pid}.{name}"
                if not torch.is_tensor(v):
                    plain.append(key)
                    v = torch.tensor(v)
                tensors[key] = v
    tensors["rng.generator"] = gen.get_state()
    tensors["rng.negatives"] = neg_gen.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"epoch": epoch, "best": best, "bad": bad, "history": history,
            "param_groups": [sd["param_groups"] for sd in sds], "plain": plain}
    atomic_save_tensors(out / STATE_FILE, tensors, metadata={"state": json.dumps(meta)})


def _load_state(out: Path, model: KGEModel, opt: Optimizers, gen: torch.Generator,
                graph: Graph, neg_gen: torch.Generator) -> tuple[int, float, int, list]:
    path = out / STATE_FILE
    if not path.exists():
        raise VLKGEError(f"{out}: nothing to resume (no {STATE_FILE}); start a new run without --resume")
    cfg = read_json(out / CONFIG_FILE) if (out / CONFIG_FILE).exists() else None
    if isinstance(cfg, dict) and cfg.get("data", {}).get("fingerprint") not in (None, graph.fingerprint):
        raise VLKGEError(f"{out}: the data changed since this run started (fingerprint "
                         f"{cfg['data']['fingerprint']} != {graph.fingerprint}); start a new run")
    tensors = load_tensors(path)
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["state"])
        counters = int(meta["epoch"]), float(meta["best"]), int(meta["bad"]), list(meta["history"])
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        states: list[dict[int, dict]] = [{} for _ in meta["param_groups"]]
        plain = set(meta.get("plain", []))
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, j, pid, name = k.split(".", 3)
                states[int(j)].setdefault(int(pid), {})[name] = v.item() if k in plain else v
        gen.set_state(tensors["rng.generator"])
        neg_gen.set_state(tensors["rng.negatives"])
        torch.set_rng_state(tensors["rng.torch"])
    except (KeyError, ValueError, RuntimeError, TypeError, json.JSONDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VLKGEError(f"{path}: does not match this configuration or is incomplete ({first}); "
                         "resume with the same --model/--dim or start a new run") from None
    _load_optimizer(path, model, opt, states, meta["param_groups"], counters[0])
    return counters


def _load_optimizer(path: Path, model: KGEModel, opt: Optimizers, states: list[dict[int, dict]],
                    groups: list[list[dict]], epoch: int) -> None:
    """Restore the optimizer's moments, from this version's layout or an older one; when no
    layout fits, the weights and counters are kept and the moments start afresh, said in one
    warning line (Adam's first steps then move every weight by about the learning rate)."""
    try:
        sd = optimizer_state(model, states, groups)
    except (KeyError, TypeError, IndexError):  # param_groups not as any vlkge wrote them
        sd = None
    if sd is not None and len(opt.opts) == 1:
        fresh = opt.state_dict()
        try:
            opt.load_state_dict([sd])
            return
        except (KeyError, ValueError, RuntimeError, TypeError):
            opt.load_state_dict(fresh)
    log.warning("warning: %s: its optimizer state is in a layout this version cannot map onto the model's "
                "parameters; resuming from epoch %d with the saved weights and fresh optimizer moments", path, epoch)


def optimizer_state(model: KGEModel, states: list[dict[int, dict]], groups: list[list[dict]]) -> dict | None:
    """One optimizer state dict over ``model.parameters()`` from a checkpoint's optimizer states,
    or None when none of the layouts vlkge has written fits.

    The layouts: one optimizer over ``model.parameters()`` in order (today's); and, before
    training.optim.Adam replaced torch.optim, the structural entity table first, then every other
    parameter in order: torch.optim.SparseAdam([table]) + Adam(rest) as two optimizers, or
    Adagrad([table] + rest) as one. Which one a checkpoint holds is told by the moments' shapes
    (the table is [N, dim], the parameter that comes first today a scalar)."""
    params = list(model.parameters())
    if not all(len(g) == 1 for g in groups):
        return None
    sizes = [len(g[0]["params"]) for g in groups]  # each optimizer numbered its own parameters from 0
    if sum(sizes) != len(params) or any(pid >= n for optimizer, n in zip(states, sizes) for pid in optimizer):
        return None
    first = [sum(sizes[:j]) for j in range(len(sizes))]
    table = next(i for i, p in enumerate(params) if p is model.entity.structural.weight)
    for order in (list(range(len(params))), [table] + [i for i in range(len(params)) if i != table]):
        mapped = {order[first[j] + pid]: st for j, optimizer in enumerate(states) for pid, st in optimizer.items()}
        if all(_fits(st, params[i]) for i, st in mapped.items()):
            group = {**groups[-1][0], "params": list(range(len(params)))}  # the last: the dense parameters' lr
            return {"state": mapped, "param_groups": [group]}
    return None


def _fits(state: dict, param: torch.Tensor) -> bool:
    """Whether a parameter's saved optimizer state (moments, sums) has the parameter's shape."""
    moments = [v for k, v in state.items() if k != "step"]
    return bool(moments) and all(torch.is_tensor(v) and v.shape == param.shape for v in moments)
