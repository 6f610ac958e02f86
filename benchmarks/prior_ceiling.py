"""How far above the frequency prior an artwork's title can take a tail prediction, on a graph
whose val/test artworks are unseen in train (a generated catalogue: ``museum_scale.py``).

Per relation with a small candidate pool, test tail MRR of rankings that use nothing but
training counts: the prior (how often a tail is the relation's tail in train); the tails of the
training works with the same title (digits folded), the prior breaking ties; naive Bayes over
the title's words (digits folded, word likelihoods tempered by T, the prior as its base rate;
T chosen on test, so an optimistic reference); and, as an upper bound no title-only model
reaches, the tail's frequency among the true artist's training works. Ties go to the prior.

    python benchmarks/prior_ceiling.py GRAPH
"""
from __future__ import annotations

import argparse
import csv
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

ARTIST = "isCreatedByArtist"
TEMPERATURES = (0.2, 0.3, 0.5, 1.0)


def words(title: str) -> set[str]:
    return set(re.sub(r"\d+", "N", title).lower().replace(":", " ").split())


def title_key(title: str) -> str:
    return re.sub(r"\d+", "N", title).lower()


def mrr(dists: list[dict], truths: list[str], prior: Counter) -> float:
    """Mean reciprocal rank of each truth when candidates are ordered by their score in ``d``
    (missing: 0), ties by prior count; a truth never seen in train ranks last."""
    order = {c: i for i, (c, _) in enumerate(sorted(prior.items(), key=lambda x: -x[1]))}
    total = 0.0
    for d, true in zip(dists, truths):
        if true not in order:
            continue
        scored = sorted((c for c, v in d.items() if v > 0), key=lambda c: (-d[c], order[c]))
        if true in d and d[true] > 0:
            rank = scored.index(true) + 1
        else:  # after every scored candidate, then by prior among the rest
            rank = len(scored) + order[true] - sum(order[c] < order[true] for c in scored) + 1
        total += 1.0 / rank
    return total / max(len(truths), 1)


def logistic(labels, facts, rel, train, val, test, prior) -> tuple[float, float]:
    """Test MRR of a logistic regression on title words and word pairs, C the best of a few on val."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    vec = CountVectorizer(binary=True, ngram_range=(1, 2), min_df=2, token_pattern=r"[^\s:]+")
    X = vec.fit_transform([title_key(labels[h]) for h in train])
    y = [facts[h][rel] for h in train]

    def score(model, heads):
        P = model.predict_proba(vec.transform([title_key(labels[h]) for h in heads]))
        return mrr([dict(zip(model.classes_, row + 1e-12)) for row in P], [facts[h][rel] for h in heads], prior)
    best = max((score(LogisticRegression(C=C, max_iter=300).fit(X, y), val), C) for C in (0.1, 1.0, 10.0))
    return score(LogisticRegression(C=best[1], max_iter=300).fit(X, y), test), best[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("graph")
    ap.add_argument("--max-pool", type=int, default=200, help="skip naive Bayes above this many candidates")
    a = ap.parse_args()
    g = Path(a.graph)
    labels = {r["id"]: r["label"] for r in csv.DictReader(open(g / "entities.csv", encoding="utf-8"))}
    facts, mode = defaultdict(dict), {}
    for r in csv.DictReader(open(g / "triples.csv", encoding="utf-8")):
        facts[r["head"]][r["relation"]] = r["tail"]
        mode[r["head"]] = r["mode"]
    relations = sorted({rel for f in facts.values() for rel in f})
    print("| relation | test n | prior | same title | title naive Bayes (best T) | title logistic regression (C) "
          "| P(tail given the true artist) |\n|---|---:|---:|---:|---:|---:|---:|")
    for rel in relations:
        train = [h for h in facts if mode[h] == "train" and rel in facts[h]]
        test = [h for h in facts if mode[h] == "test" and rel in facts[h]]
        prior = Counter(facts[h][rel] for h in train)
        truths = [facts[h][rel] for h in test]
        base = mrr([{}] * len(test), truths, prior)
        by_title = defaultdict(Counter)
        for h in train:
            by_title[title_key(labels[h])][facts[h][rel]] += 1
        same = mrr([by_title[title_key(labels[h])] for h in test], truths, prior)
        by_artist = defaultdict(Counter)
        for h in train:
            if ARTIST in facts[h]:
                by_artist[facts[h][ARTIST]][facts[h][rel]] += 1
        oracle = (mrr([by_artist[facts[h].get(ARTIST)] for h in test], truths, prior) if rel != ARTIST else None)
        nb = None
        if len(prior) <= a.max_pool:
            counts = defaultdict(Counter)
            for h in train:
                for w in words(labels[h]):
                    counts[facts[h][rel]][w] += 1
            best = []
            for T in TEMPERATURES:
                dists = []
                for h in test:
                    ws = words(labels[h])
                    s = {y: math.log(n) + T * sum(math.log((counts[y][w] + 0.5) / (n + 1)) for w in ws)
                         for y, n in prior.items()}
                    top = max(s.values())
                    dists.append({y: math.exp(v - top) for y, v in s.items()})
                best.append((mrr(dists, truths, prior), T))
            nb = max(best)
        lr = logistic(labels, facts, rel, train, [h for h in facts if mode[h] == "val" and rel in facts[h]], test,
                      prior) if len(prior) <= a.max_pool else None
        cells = [f"{same:.3f}", f"{nb[0]:.3f} (T {nb[1]})" if nb else "(pool too large)",
                 f"{lr[0]:.3f} (C {lr[1]})" if lr else "(pool too large)",
                 f"{oracle:.3f}" if oracle is not None else "—"]
        print(f"| {rel} | {len(test)} | {base:.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
