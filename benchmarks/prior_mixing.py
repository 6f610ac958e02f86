"""How a trained run's tail scores and the frequency prior are best combined, per relation.

For each relation of a run, the filtered tail scores of its val and test queries within the
relation's candidate pool (``evaluation.prior.filtered_tail_scores``, the model without its fitted
prior), then test MRR of each way of mixing in the prior, its one parameter chosen on val:

* ``model``: the scores alone (with the model's own learned per-(relation, tail) bias, if it has one);
* ``product 1-SE``: score + w * log p(t), w the smallest within one paired standard error of the
  best on val (the default, ``evaluation.prior.fit_tail_prior``);
* ``product best``: the same, w simply the best on val;
* ``mixture 1-SE`` / ``mixture best``: log((1 - a) softmax(score / T) + a p(t)), T fitted per
  relation on val by likelihood (temperature scaling), a from a grid as w above: a prior mixed
  with the calibrated scores as probabilities rather than as log-probabilities.

    python benchmarks/prior_mixing.py RUN [RUN ...] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402,F401  (OMP_WAIT_POLICY before torch)
import torch  # noqa: E402

from vlkge.data.graph import candidate_mask  # noqa: E402
from vlkge.evaluation.prior import WEIGHTS, filtered_tail_scores, smallest_within_one_se  # noqa: E402
from vlkge.evaluation.ranking import KnownIndex, realistic_ranks  # noqa: E402
from vlkge.models.prior import tail_log_prior  # noqa: E402
from vlkge.prediction.run import load_run  # noqa: E402

MIX = torch.tensor([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9])
TEMPERATURES = torch.logspace(-3, 3, 61)


def chunks(run, split, rel, pools, known, max_queries):
    """The model's scores without its fitted prior (nor neighbour vote): what a mixing is fitted to."""
    model = run.model
    saved = model.tail_prior, model.neighbour_vote
    model.tail_prior = model.neighbour_vote = None
    try:
        return [(s, t, c) for _, _, s, t, c in filtered_tail_scores(
            run.graph, run.graph.split(split), rel, pools, known,
            lambda h, r, cand: model.score_tails(h, r, run.entity_vectors, cand), max_queries)]
    finally:
        model.tail_prior, model.neighbour_vote = saved


def temperature(parts) -> float:
    nll = torch.zeros(len(TEMPERATURES), dtype=torch.float64)
    for scores, target, _ in parts:
        for j, T in enumerate(TEMPERATURES.tolist()):
            nll[j] += float(torch.nn.functional.cross_entropy(scores / T, target, reduction="sum"))
    return float(TEMPERATURES[int(torch.argmin(torch.nan_to_num(nll, nan=float("inf"))))])


def reciprocal_ranks(parts, lp_rel, T):
    """{mechanism: [grid, queries]} reciprocal ranks."""
    prod, mix, prior = [], [], []
    for scores, target, cand in parts:
        lp = lp_rel[cand]
        log_p = torch.log_softmax(lp, 0)
        prod.append(torch.stack([1.0 / realistic_ranks(scores + w * lp, target) for w in WEIGHTS.tolist()]))
        log_q = torch.log_softmax(scores / T, 1)  # in logs: a confident model's small probabilities underflow
        dead = torch.isinf(scores)

        def mixed(a: float):
            if a == 0:
                return log_q
            return torch.logaddexp(log_q + math.log1p(-a), log_p + math.log(a)).masked_fill(dead, float("-inf"))
        mix.append(torch.stack([1.0 / realistic_ranks(mixed(a), target) for a in MIX.tolist()]))
        prior.append(1.0 / realistic_ranks(lp.expand_as(scores).masked_fill(dead, float("-inf")), target))
    return torch.cat(prod, 1), torch.cat(mix, 1), torch.cat(prior)


def compare(path: str, max_val: int = 2000) -> dict:
    run = load_run(path)
    g = run.graph
    run.model.tail_prior = None
    pools = candidate_mask(g) if run.protocol == "tail-candidates" else None
    known = KnownIndex(g.all_triples(), g.num_relations, "tail", undirected=run.train_config.eval_filter == "undirected")
    lp = tail_log_prior(g.split("train"), g.num_relations, g.num_entities)
    out = {}
    test_rels = torch.unique(g.split("test")[:, 1]).tolist()
    for rel in torch.unique(g.split("val")[:, 1]).tolist():
        if rel not in test_rels:
            continue
        val = chunks(run, "val", rel, pools, known, max_val)
        T = temperature(val)
        vp, vm, _ = reciprocal_ranks(val, lp[rel], T)
        test = chunks(run, "test", rel, pools, known, 10 ** 9)
        tp, tm, tprior = reciprocal_ranks(test, lp[rel], T)
        picks = {"product 1-SE": (tp, WEIGHTS, smallest_within_one_se(vp)),
                 "product best": (tp, WEIGHTS, int(torch.argmax(vp.mean(1)))),
                 "mixture 1-SE": (tm, MIX, smallest_within_one_se(vm)),
                 "mixture best": (tm, MIX, int(torch.argmax(vm.mean(1))))}
        row = {"n": tp.shape[1], "n_val": vp.shape[1], "prior": float(tprior.mean()), "model": float(tp[0].mean()),
               "temperature": T}
        for name, (rr, grid, i) in picks.items():
            row[name] = float(rr[i].mean())
            row[name + " parameter"] = float(grid[i])
        out[g.relations[rel]] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--json", help="write the figures here too")
    a = ap.parse_args()
    res = {}
    names = ["model", "product 1-SE", "product best", "mixture 1-SE", "mixture best"]
    for path in a.runs:
        res[path] = compare(path)
        print(f"\n{path}\n| relation | test n | prior | " + " | ".join(names) + " |")
        print("|---|---:|---:|" + "---:|" * len(names))
        for rel, m in res[path].items():
            cells = [f"{m[k]:.4f}" + (f" ({m[k + ' parameter']:.3g})" if k + " parameter" in m else "") for k in names]
            print(f"| {rel} | {m['n']} | {m['prior']:.4f} | " + " | ".join(cells) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
