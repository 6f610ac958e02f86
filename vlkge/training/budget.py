"""How much training a graph gets by default, and when a checkpoint is due.

A fixed epoch count is wrong at both ends: 300 epochs are right for UMLS (5k training triples,
seconds) and half an hour or more for a 70,000-object catalogue. The default is a budget of
triples seen (epochs x training triples), capped at ``MAX_EPOCHS``, so small graphs keep the
epochs their defaults were tuned with and large ones stop in minutes; validation comes often
enough that early stopping can act within the budget.
"""
from __future__ import annotations


MAX_EPOCHS = 300
MIN_EPOCHS = 10
# epochs x training triples. 300 epochs up to 13k training triples (UMLS, WN9-IMG, wikiart-mini,
# the demo): the graphs the defaults were measured on.
TRIPLE_BUDGET = 4_000_000
MAX_EVAL_EVERY = 10
EVALUATIONS = 10  # validation passes the budget affords at least, when it has that many epochs
CHECKPOINT_INTERVAL_S = 120.0  # the longest a kill may cost, as wall-clock time


def default_epochs(train_triples: int, budget: int = TRIPLE_BUDGET) -> int:
    """Epochs so that epochs x ``train_triples`` <= ``budget``, within [MIN_EPOCHS, MAX_EPOCHS]."""
    if train_triples <= 0:
        return MAX_EPOCHS
    return max(MIN_EPOCHS, min(MAX_EPOCHS, budget // train_triples))


def default_eval_every(epochs: int) -> int:
    """Epochs between validations: every 10 epochs, but at least ``EVALUATIONS`` validations when
    the budget is short, so early stopping (patience counts validations) can fire early."""
    return max(1, min(MAX_EVAL_EVERY, epochs // EVALUATIONS))


def checkpoint_due(since_last_s: float, epoch_s: float, interval_s: float = CHECKPOINT_INTERVAL_S) -> bool:
    """Whether to save the training state now, at an epoch's end, though no validation is due:
    when waiting one more epoch would leave more than ``interval_s`` since the last save."""
    return since_last_s + epoch_s >= interval_s


def out_of_time(elapsed_s: float, epoch_s: float, budget_s: float | None) -> bool:
    """Whether another epoch would overrun a wall-clock budget (None: no budget)."""
    return budget_s is not None and elapsed_s + epoch_s > budget_s
