"""Training and ranking on a GPU (skipped where there is none, as in CI)."""
import pytest
import torch
from helpers import make_art_graph, make_chain_graph

from vlkge.data.readers import load_graph
from vlkge.evaluation.ranking import evaluate_model
from vlkge.prediction.run import load_run
from vlkge.training.config import TrainConfig
from vlkge.pipeline import train_and_evaluate

pytestmark = [pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
              pytest.mark.slow]  # trains 100 epochs per scorer


@pytest.mark.parametrize("model", ["transe", "distmult", "complex", "rotate"])
def test_trains_on_gpu_and_ranks_as_on_cpu(tmp_path, model):
    g = load_graph(make_chain_graph(tmp_path / "g", n=30, holdout_every=5))
    cfg = TrainConfig(model=model, modalities=["structural"], dim=32, epochs=100, eval_every=20, lr=0.01,
                      device="cuda")
    metrics = train_and_evaluate(g, cfg, tmp_path / "run", progress=False)
    if model != "transe":  # a translation cannot go round a ring
        assert metrics["test"]["mrr"] > 0.3  # chance is about 0.14
    run = load_run(tmp_path / "run", graph=g)
    on_gpu = evaluate_model(run.model.cuda(), g, "test")
    on_cpu = evaluate_model(run.model.cpu(), g, "test")
    assert on_gpu["mrr"] == pytest.approx(on_cpu["mrr"], abs=1e-6)


def test_candidate_pools_rank_on_gpu_as_on_cpu(tmp_path):
    g = load_graph(make_art_graph(tmp_path / "art"))
    cfg = TrainConfig(model="distmult", modalities=["structural"], dim=16, epochs=20, eval_every=10, device="cuda")
    train_and_evaluate(g, cfg, tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run", graph=g)
    on_gpu = evaluate_model(run.model.cuda(), g, "test", protocol="tail-candidates")
    on_cpu = evaluate_model(run.model.cpu(), g, "test", protocol="tail-candidates")
    assert on_gpu["count"] == on_cpu["count"] > 0
    assert on_gpu["mrr"] == pytest.approx(on_cpu["mrr"], abs=1e-6)
