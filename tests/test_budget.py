"""The default training budget adapts to the graph's size; checkpoints are also due by time."""
from __future__ import annotations

import json

from helpers import make_art_graph
from vlkge.cli import main
from vlkge.training import budget as B


def test_epochs_shrink_with_the_graph_within_bounds():
    assert B.default_epochs(5_216) == B.MAX_EPOCHS  # UMLS keeps its 300
    assert B.default_epochs(11_741) == B.MAX_EPOCHS  # WN9-IMG
    big = B.default_epochs(225_000)
    assert B.MIN_EPOCHS <= big < 30 and big * 225_000 <= B.TRIPLE_BUDGET
    assert B.default_epochs(50_000_000) == B.MIN_EPOCHS
    assert B.default_epochs(0) == B.MAX_EPOCHS
    sizes = [1_000, 20_000, 100_000, 400_000, 2_000_000]
    epochs = [B.default_epochs(n) for n in sizes]
    assert epochs == sorted(epochs, reverse=True)


def test_short_budgets_validate_often_enough_to_stop_early():
    assert B.default_eval_every(300) == 10
    for epochs in (10, 17, 40, 99):
        every = B.default_eval_every(epochs)
        assert 1 <= every <= 10 and epochs // every >= B.EVALUATIONS


def test_checkpoint_and_time_budget_rules():
    assert not B.checkpoint_due(10, 5, interval_s=120)
    assert B.checkpoint_due(100, 30, interval_s=120)  # waiting another epoch would pass 2 minutes
    assert not B.out_of_time(100, 30, None)
    assert B.out_of_time(100, 30, 120) and not B.out_of_time(10, 30, 120)


def test_default_run_resolves_its_budget_and_saves_state_when_time_says_so(tmp_path, monkeypatch):
    import vlkge.training.trainer as T
    graph = make_art_graph(tmp_path / "g", n_artists=3, per_artist=5)
    saved = []
    orig = T._save_state

    def save_state(out, model, opt, gen, neg_gen, epoch, *a):
        saved.append(epoch)
        orig(out, model, opt, gen, neg_gen, epoch, *a)
    monkeypatch.setattr(T, "_save_state", save_state)
    monkeypatch.setattr(T, "checkpoint_due", lambda since, epoch_s: epoch_s >= 0 and len(saved) < 3)
    out = tmp_path / "run"
    assert main(["train", "--data", str(graph), "--out", str(out), "--dim", "8", "--modalities", "structural",
                 "--patience", "2", "--quiet"]) == 0
    cfg = json.loads((out / "config.json").read_text())["train"]
    assert cfg["epochs"] == B.default_epochs(24) and cfg["eval_every"] == B.default_eval_every(cfg["epochs"])
    assert saved[:3] == [1, 2, 3]  # by time, before the first validation at epoch 10
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert history[-1]["epoch"] < cfg["epochs"]  # patience 2: early stopping fired
    # ... and the history says how long it ran: the best evaluation, then the two that did not beat it
    mrrs = [h["val_mrr"] for h in history]
    assert len(mrrs) - 1 - mrrs.index(max(mrrs)) == 2
