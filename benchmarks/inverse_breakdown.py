"""Where a run's test MRR comes from: test triples whose reverse pair is in training vs the rest.

On WN9-IMG about 90% of test triples (h, r, t) have a training triple linking t back to h (mostly
the inverse relation: _hypernym / _hyponym), which a structural model can memorise; the other 10%
must be inferred. Overall MRR is therefore about 0.9 x (memorised) + 0.1 x (inferred), which is
what bounds every scorer near the paper's figures, and what text features would have to move.

    python benchmarks/inverse_breakdown.py RUN [RUN ...] [--filter directed|undirected]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import vlkge
from vlkge.evaluation.ranking import KnownIndex, rank_queries


def breakdown(run_dir: str, filter: str) -> dict:
    run = vlkge.load_run(run_dir)
    g, m, E = run.graph, run.model, run.entity_vectors
    test, allt = g.split("test"), g.all_triples()
    reverse = {(t, h) for h, _, t in g.split("train").tolist()}
    h, r, t = test.unbind(1)
    undirected = filter == "undirected"
    with torch.no_grad():
        tail = rank_queries(lambda a, b: m.score_tails(a, b, E), h, r, t,
                            KnownIndex(allt, g.num_relations, "tail", undirected=undirected), g.num_entities)
        head = rank_queries(lambda a, b: m.score_heads(a, b, E), t, r, h,
                            KnownIndex(allt, g.num_relations, "head", undirected=undirected), g.num_entities)
    ranks = torch.cat([tail, head])
    memorisable = torch.tensor([(a, b) in reverse for a, b in zip(h.tolist(), t.tolist())]).repeat(2)
    cfg = run.train_config
    out = {"run": f"{Path(run_dir).name} ({cfg.model}, {'+'.join(cfg.modalities)})", "mrr": float((1 / ranks).mean())}
    for name, sel in (("reverse in train", memorisable), ("no reverse", ~memorisable)):
        out[name] = (int(sel.sum()) // 2, float((1 / ranks[sel]).mean()), float((ranks[sel] <= 1).float().mean()),
                     float((ranks[sel] <= 10).float().mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--filter", choices=["directed", "undirected"], default="directed")
    args = ap.parse_args()
    print(f"filter: {args.filter}\n")
    print("| run | MRR | reverse in train: n, MRR, H@1, H@10 | no reverse: n, MRR, H@1, H@10 |")
    print("|---|---|---|---|")
    for d in args.runs:
        b = breakdown(d, args.filter)
        cells = [", ".join([str(v[0])] + [f"{x:.3f}" for x in v[1:]]) for v in (b["reverse in train"], b["no reverse"])]
        print(f"| {b['run']} | {b['mrr']:.3f} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
