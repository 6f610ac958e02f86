"""Scorer-dependent defaults and the learning-rate schedule."""
import json

import torch
from safetensors import safe_open

import vlkge

from conftest import make_chain_graph
from vlkge.data.readers import load_graph
from vlkge.training.config import TrainConfig
from vlkge.training.pipeline import train_run
from vlkge.training.trainer import train


def test_scorer_defaults_fill_only_unset_fields():
    assert (TrainConfig().lr, TrainConfig().dim) == (0.005, 256)
    assert (TrainConfig(model="transe").lr, TrainConfig(model="transe").dim) == (0.05, 512)
    assert TrainConfig(model="transe", lr=0.001, dim=64).lr == 0.001
    saved = TrainConfig(model="transe").to_dict()
    assert TrainConfig.from_dict(saved) == TrainConfig(model="transe")


def test_lr_decays_after_each_evaluation_without_improvement(tmp_path):
    g = load_graph(make_chain_graph(tmp_path / "chain", n=12))
    cfg = TrainConfig(model="distmult", dim=8, epochs=12, eval_every=1, patience=100, lr=0.05, lr_decay=0.5,
                      modalities=["structural"], device="cpu")
    out = tmp_path / "run"
    train(g, cfg, out, progress=False)
    with safe_open(str(out / "train_state.safetensors"), "pt") as f:
        state = json.loads(f.metadata()["state"])
    history = [h["val_mrr"] for h in state["history"]]
    misses = sum(h <= max(history[:i], default=-1.0) for i, h in enumerate(history))
    assert misses > 0  # a tiny ring saturates quickly, so some evaluations cannot improve
    lrs = {g["lr"] for opt in state["param_groups"] for g in opt}
    assert lrs == {0.05 * 0.5 ** misses}


def test_vl_distmult_does_not_answer_with_the_query_entity_itself(tmp_path):
    """Fused text makes every entity most similar to itself, and DistMult scores (h, r, h) by that
    similarity; training must teach it that the anchor is not the answer."""
    g = load_graph(make_chain_graph(tmp_path / "chain", n=30))
    cfg = TrainConfig(model="distmult", dim=16, epochs=40, eval_every=20, modalities=["structural", "textual"],
                      encoder="offline", lr=0.02, device="cpu")
    train_run(g, cfg, tmp_path / "run", progress=False)
    run = vlkge.load_run(tmp_path / "run")
    h, r = g.split("train")[:, 0], g.split("train")[:, 1]
    with torch.no_grad():
        top = run.model.score_tails(h, r, run.entity_vectors).argmax(1)
    assert float((top == h).float().mean()) < 0.05  # 0.16 when self-loop negatives are left out
