"""How well a run places entities from their features alone, as it would a new one.

For the first N test triples (h, r, t) of the chosen relations, h is treated as new: its text (and
image, when the run uses images and h has one) goes through ``Run.predict_new``, and the rank of t
among the relation's candidates is recorded, other known tails of (h, r) and h itself filtered.
On a transductive graph (every entity trained) this is what structural dropout buys; the ranking
metrics of ``vlkge evaluate`` never exercise it there.

    python benchmarks/placement.py RUN [RUN ...] [--relations _hypernym,_part_of] [--n 150]
        [--inputs both|image|text]
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import vlkge


def placement_mrr(run_dir: str, relations: list[str], n: int, inputs: str = "both") -> tuple[float, int]:
    run = vlkge.load_run(run_dir)
    g = run.graph
    known: dict[tuple[int, int], set[int]] = defaultdict(set)
    for h, r, t in g.all_triples().tolist():
        known[h, r].add(t)
    uses_image = "visual" in (run.config.get("modalities_used") or [])
    rr = []
    for h, r, t in g.split("test").tolist():
        if g.relations[r] not in relations:
            continue
        image = g.image_path(h) if uses_image and inputs != "text" else None
        text = (g.text(h) or None) if inputs != "image" else None
        preds = run.predict_new(g.relations[r], image=image, text=text, k=None)
        skip = {g.entities[x] for x in known[h, r] - {t}} | {g.entities[h]}
        ranked = [p.entity for p in preds if p.entity not in skip]
        rr.append(1.0 / (ranked.index(g.entities[t]) + 1))
        if len(rr) >= n:
            break
    return sum(rr) / max(1, len(rr)), len(rr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--relations", default="_hypernym,_part_of")
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--inputs", choices=("both", "image", "text"), default="both",
                    help="what of each placed entity predict_new is given")
    args = ap.parse_args()
    rels = [r.strip() for r in args.relations.split(",") if r.strip()]
    print("| run | structural dropout | placement MRR | queries |\n|---|---|---|---|")
    for d in args.runs:
        mrr, count = placement_mrr(d, rels, args.n, args.inputs)
        print(f"| {d} | {vlkge.load_run(d).train_config.structural_dropout} | {mrr:.3f} | {count} |")


if __name__ == "__main__":
    main()
