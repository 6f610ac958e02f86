"""How well a run places entities from their features alone, as it would a new one.

For the first N test triples (h, r, t) of the chosen relations, h is treated as new: its text (and
image, when the run uses images and h has one) is encoded again by the run's encoder
(``Run.new_entity``, what ``predict_new`` does), and the rank of t among the relation's
candidates is recorded (realistic ranks: ties averaged), other known tails of (h, r) and h itself
filtered. Three rankers see the same queries and the same features:

* ``run``: what ``predict_new`` returns (the model, its frequency prior and, when fitted, its
  neighbour vote);
* ``model alone``: the same run without the neighbour vote;
* ``kNN vote``: the neighbour vote alone (the k training heads of r nearest by cosine over the
  same features vote for their tails, similarity-weighted; ties broken by training frequency).

On a transductive graph (every entity trained) this is what structural dropout buys; the ranking
metrics of ``vlkge evaluate`` never exercise it there.

    python benchmarks/placement.py RUN [RUN ...] [--relations _hypernym,_part_of] [--n 150]
        [--inputs both|image|text] [--k 10]
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import torch

import vlkge
from vlkge.evaluation.ranking import realistic_ranks
from vlkge.models.neighbours import K, NeighbourVote
from vlkge.models.prior import tail_log_prior

RANKERS = ("run", "model alone", "kNN vote")


def placement_rr(run_dir: str, relations: list[str], n: int, inputs: str = "both",
                 k: int = K) -> dict[str, dict[str, list[float]]]:
    """{ranker: {relation: [reciprocal rank per query]}} for the first ``n`` (0: all) test
    triples of ``relations``."""
    run = vlkge.load_run(run_dir)
    g, model = run.graph, run.model
    known: dict[tuple[int, int], set[int]] = defaultdict(set)
    for h, r, t in g.all_triples().tolist():
        known[h, r].add(t)
    uses_image = "visual" in (run.config.get("modalities_used") or [])
    knn = NeighbourVote(g.split("train"), g.num_entities, torch.zeros(g.num_relations), k)
    log_prior = tail_log_prior(g.split("train"), g.num_relations, g.num_entities)
    vote, placed = model.neighbour_vote, {}
    out: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in RANKERS}
    count = 0
    for h, r, t in g.split("test").tolist():
        if g.relations[r] not in relations:
            continue
        if h not in placed:
            image = g.image_path(h) if uses_image and inputs != "text" else None
            text = (g.text(h) or None) if inputs != "image" else None
            placed[h] = run.new_entity(image=image, text=text)
        new = placed[h]
        rel = torch.tensor([r])
        cand = run.candidates(r, "tail")
        for x in known[h, r] - {t}:
            cand[x] = False
        cand[h] = False
        idx = torch.nonzero(cand).squeeze(1)
        target = torch.searchsorted(idx, torch.tensor([t]))
        with torch.no_grad():
            scores = {"run": model.score_tails_of(new.vector, rel, run.entity_vectors, idx, new.features)}
            model.neighbour_vote = None
            scores["model alone"] = model.score_tails_of(new.vector, rel, run.entity_vectors, idx, new.features)
            model.neighbour_vote = vote
            sim = model.entity.feature_similarity(new.features)
            scores["kNN vote"] = knn.log_votes(sim, rel, idx) + 1e-3 * log_prior[r, idx]
        for name, s in scores.items():
            out[name][g.relations[r]].append(float(1.0 / realistic_ranks(s.float().cpu(), target)[0]))
        count += 1
        if n and count >= n:
            break
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--relations", default="_hypernym,_part_of")
    ap.add_argument("--n", type=int, default=150, help="queries (0: every test triple of the relations)")
    ap.add_argument("--inputs", choices=("both", "image", "text"), default="both",
                    help="what of each placed entity predict_new is given")
    ap.add_argument("--k", type=int, default=K, help="neighbours of the kNN vote baseline")
    args = ap.parse_args()
    rels = [r.strip() for r in args.relations.split(",") if r.strip()]
    print(f"inputs: {args.inputs}; MRR per relation, their mean, and over all queries\n")
    print("| run | ranker | " + " | ".join(rels) + " | mean | all queries | queries |\n|---|---|"
          + "---:|" * (len(rels) + 3))
    for d in args.runs:
        res = placement_rr(d, rels, args.n, args.inputs, args.k)
        for name in RANKERS:
            per = [sum(v) / len(v) if (v := res[name].get(rel)) else float("nan") for rel in rels]
            every = [x for v in res[name].values() for x in v]
            print(f"| {d} | {name} | " + " | ".join(f"{x:.3f}" for x in per)
                  + f" | {sum(per) / len(per):.3f} | {sum(every) / max(1, len(every)):.3f} | {len(every)} |")


if __name__ == "__main__":
    main()
