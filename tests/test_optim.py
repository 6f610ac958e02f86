"""training.optim.Adam makes torch.optim.Adam's dense and SparseAdam's sparse updates, and
checkpoints written with torch.optim (before it) resume."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from helpers import make_chain_graph
from vlkge.data.readers import load_graph
from vlkge.training import trainer as T
from vlkge.training.config import TrainConfig, resolve
from vlkge.training.optim import Adam


def _run(make_opt, sparse: bool, steps: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    emb = torch.nn.Embedding(10, 4, sparse=sparse)
    w = torch.nn.Parameter(torch.randn(4))
    opt = make_opt(emb, w)
    for k in range(steps):
        rows = torch.tensor([k % 10, (3 * k) % 10, k % 10])  # repeated rows: summed, as in a batch
        loss = (emb(rows) * w).sum().pow(2)
        for o in opt:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in opt:
            o.step()
    return emb.weight.detach().clone(), w.detach().clone()


def test_dense_and_sparse_updates_match_torch():
    for sparse in (False, True):
        def ours(emb, w):
            return [Adam([emb.weight, w], lr=0.05)]

        def theirs(emb, w):
            if sparse:
                return [torch.optim.SparseAdam([emb.weight], lr=0.05), torch.optim.Adam([w], lr=0.05)]
            return [torch.optim.Adam([emb.weight, w], lr=0.05)]
        a, b = _run(ours, sparse), _run(theirs, sparse)
        for x, y in zip(a, b):
            assert torch.allclose(x, y, atol=1e-6), (sparse, float((x - y).abs().max()))
        untouched = [r for r in range(10) if r not in {k % 10 for k in range(5)} | {(3 * k) % 10 for k in range(5)}]
        if sparse:  # rows no batch touched keep their initial values
            torch.manual_seed(0)
            init = torch.nn.Embedding(10, 4).weight.detach()
            assert torch.equal(a[0][untouched], init[untouched])


def test_state_round_trips():
    p = torch.nn.Parameter(torch.ones(3))
    opt = Adam([p], lr=0.1)
    p.grad = torch.tensor([1.0, -1.0, 0.5])
    opt.step()
    other = Adam([torch.nn.Parameter(p.detach().clone())], lr=0.1)
    other.load_state_dict(opt.state_dict())
    for o, q in ((opt, p), (other, other.params[0])):
        q.grad = torch.tensor([0.2, 0.2, 0.2])
        o.step()
    assert torch.equal(p, other.params[0])


def torch_optim_era_optimizer(model, cfg):
    """``trainer.make_optimizer`` as it was before training.optim.Adam (``git show
    32dfa4d^:vlkge/training/trainer.py``): torch.optim, the entity table first."""
    table = model.entity.structural.weight
    rest = [p for p in model.parameters() if p is not table]
    if cfg.optimizer == "adagrad":
        return T.Optimizers([torch.optim.Adagrad([table] + rest, lr=cfg.lr)])
    assert model.entity.structural.sparse  # the layout of two optimizers is the one to test
    return T.Optimizers([torch.optim.SparseAdam([table], lr=cfg.lr), torch.optim.Adam(rest, lr=cfg.lr, fused=True)])


def _state(run: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import safe_open
    with safe_open(str(run / "train_state.safetensors"), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()["state"])


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    # 40 entities, 8 positives and 4 negatives a step (20 rows): a sparse entity table
    return load_graph(make_chain_graph(tmp_path_factory.mktemp("ring") / "g", n=40))


def _cfg(optimizer: str, epochs: int) -> TrainConfig:
    return TrainConfig(model="distmult", dim=8, epochs=epochs, eval_every=1, patience=100, batch_size=8,
                       negatives=4, lr=0.05, optimizer=optimizer, modalities=["structural"], device="cpu")


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
def test_a_checkpoint_of_the_torch_optim_layout_resumes_where_it_stopped(optimizer, ring, tmp_path, monkeypatch,
                                                                          caplog):
    """Epoch 1 with the old torch.optim optimizers, epoch 2 resumed with today's: the weights an
    uninterrupted old run reaches, so the moments carried over (fresh ones land elsewhere: see
    the next test)."""
    with monkeypatch.context() as m:
        m.setattr(T, "make_optimizer", torch_optim_era_optimizer)
        T.train(ring, resolve(_cfg(optimizer, 2), ring), tmp_path / "reference", progress=False)
        T.train(ring, resolve(_cfg(optimizer, 1), ring), tmp_path / "run", progress=False)
    old, meta = _state(tmp_path / "run")
    assert len(meta["param_groups"]) == (2 if optimizer == "adam" else 1)  # the layout being tested
    with caplog.at_level(logging.WARNING):
        T.train(ring, resolve(_cfg(optimizer, 2), ring), tmp_path / "run", progress=False, resume=True)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    got, meta = _state(tmp_path / "run")
    want, _ = _state(tmp_path / "reference")
    assert meta["epoch"] == 2 and len(meta["param_groups"]) == 1  # saved again in today's layout
    for k in (k for k in want if k.startswith("model.") and want[k].is_floating_point()):
        assert torch.allclose(got[k], want[k], rtol=1e-4, atol=1e-5), (k, float((got[k] - want[k]).abs().max()))


def test_an_optimizer_state_no_layout_fits_resumes_with_fresh_moments_and_one_warning(ring, tmp_path, monkeypatch,
                                                                                       caplog):
    with monkeypatch.context() as m:
        m.setattr(T, "make_optimizer", torch_optim_era_optimizer)
        T.train(ring, resolve(_cfg("adam", 2), ring), tmp_path / "reference", progress=False)
        T.train(ring, resolve(_cfg("adam", 1), ring), tmp_path / "run", progress=False)
    tensors, meta = _state(tmp_path / "run")
    for k in [k for k in tensors if k.startswith("optim.0.")]:  # the entity table's moments: rows lost
        tensors[k] = tensors[k][:10] if tensors[k].dim() else tensors[k]
    save_file(tensors, str(tmp_path / "run" / "train_state.safetensors"), metadata={"state": json.dumps(meta)})
    with caplog.at_level(logging.WARNING):
        T.train(ring, resolve(_cfg("adam", 2), ring), tmp_path / "run", progress=False, resume=True)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0] and "fresh optimizer moments" in warnings[0], warnings
    got, meta = _state(tmp_path / "run")
    want, _ = _state(tmp_path / "reference")
    assert meta["epoch"] == 2 and [h["epoch"] for h in meta["history"]] == [1, 2]  # epoch 1 kept, not redone
    diff = max(float((got[k] - want[k]).abs().max()) for k in want
               if k.startswith("model.") and want[k].is_floating_point())
    assert diff > 1e-3  # fresh moments take other steps than the carried-over ones
