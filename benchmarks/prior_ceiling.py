"""How far above the frequency prior an artwork's title can take a tail prediction, on a graph
whose val/test artworks are unseen in train (a generated catalogue: ``museum_scale.py``).

Per relation with a small candidate pool, test tail MRR of rankings that use nothing but
training counts: the prior (how often a tail is the relation's tail in train); the tails of the
training works with the same title (digits folded), the prior breaking ties; naive Bayes over
the title's words (digits folded, word likelihoods tempered by T, the prior as its base rate;
T chosen on test, so an optimistic reference); and, as an upper bound no title-only model
reaches, the tail's frequency among the true artist's training works. Ties go to the prior.

With ``--bayes OBJECTS SEED`` (the catalogue's ``museum_scale.py`` arguments) it adds the
Bayes-optimal title-only ranking: the generator is run again for each artist's true parameters
(count, home town, sitters, favoured subjects, media, active decade), every title is parsed back
into the templates and slot values that can produce it, and tails are ranked by
P(tail | title) = sum over artists of P(artist | title) P(tail | artist). No model that sees only
the title ranks better in expectation: it is the ceiling of an unseen work's title.

    python benchmarks/prior_ceiling.py GRAPH [--bayes 70000 0]
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


def bayes_posteriors(objects: int, seed: int, labels: dict[str, str], entity_type: dict[str, str],
                     heads: list[str]) -> dict[str, list[dict[str, float]]]:
    """Per relation, P(tail | title) for each of ``heads`` under the generator's true parameters."""
    import sys
    import tempfile

    import numpy as np
    from scipy.special import ndtr
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import museum_scale as ms

    params: list[dict] = []
    with tempfile.TemporaryDirectory() as d:
        ms.write_catalogue(Path(d) / "c.csv", objects, seed, params)
    by_label = {(entity_type[e], lab): e for e, lab in labels.items()}
    A = len(params)
    subjects = list(ms.SUBJECTS)
    w = np.array(ms.SUBJECT_WEIGHTS, float) / sum(ms.SUBJECT_WEIGHTS)
    p_subject = np.stack([0.8 * np.array([p["favoured"].count(s) for s in subjects]) / len(p["favoured"]) + 0.2 * w
                          for p in params])                                     # A x subjects
    log_count = np.log([p["count"] for p in params])
    archive = np.array([p["archive"] for p in params])
    home = np.array([ms.PLACES.index(p["home"]) for p in params])
    sitter_of: dict[str, np.ndarray] = {}
    for a, p in enumerate(params):
        for name in p["sitters"]:
            sitter_of.setdefault(name, np.zeros(A))[a] += 1
    p_random_person = 1 / (len(ms.FIRST) * len(ms.LAST))
    # P(tail | artist) for the attribute relations, tails as the graph's entity ids
    decades = list(range(1500, 2060, 10))
    mu = np.array([[p["decade"] + 5.0] for p in params])
    sd = np.array([[20.0 if p["archive"] else 12.0] for p in params])
    edges = np.array(decades + [decades[-1] + 10], float)
    p_decade = ndtr((edges[None, 1:] - mu) / sd) - ndtr((edges[None, :-1] - mu) / sd)
    media = sorted({m for p in params for m in p["media"]})
    p_medium = np.stack([np.array([p["media"].count(m) for m in media]) / len(p["media"]) for p in params])
    artist_ids = [by_label.get(("artist", p["name"])) for p in params]
    tails = {"isCreatedInDecade": ([by_label.get(("year", f"{d}s")) for d in decades], p_decade),
             "isCreatedWithMedium": ([by_label.get(("medium", m)) for m in media], p_medium)}
    slot_values = {"place": ms.PLACES, "person": [f"{f} {l}" for f in ms.FIRST for l in ms.LAST],
                   "role": ms.ROLES, "thing": ms.THINGS, "thing2": ms.THINGS, "saint": ms.SAINTS,
                   "animal": ms.ANIMALS, "flower": ms.FLOWERS, "flower2": ms.FLOWERS, "tree": ms.TREES}
    patterns = []
    for si, s in enumerate(subjects):
        for tpl in ms.SUBJECTS[s]:
            rx = re.escape(tpl)
            for slot, vals in slot_values.items():
                alt = "|".join(re.escape(v) for v in sorted(vals, key=len, reverse=True))
                rx = rx.replace(re.escape("{" + slot + "}"), f"(?P<{slot}>{alt})")
            patterns.append((si, len(ms.SUBJECTS[s]), re.compile(rx)))
    out: dict[str, list[dict[str, float]]] = {"isCreatedByArtist": [], **{r: [] for r in tails}}
    unparsed = 0
    for h in heads:
        title = labels[h]
        m = re.fullmatch(r"Negative \d+: (.*)", title)
        inner = m.group(1) if m else title
        like = np.zeros(A)
        seen = set()
        for text in (inner, inner[:1].lower() + inner[1:]):
            for si, n_tpl, rx in patterns:
                mt = rx.fullmatch(text)
                if not mt or (si, rx.pattern, tuple(sorted(mt.groupdict().items()))) in seen:
                    continue
                seen.add((si, rx.pattern, tuple(sorted(mt.groupdict().items()))))
                f = p_subject[:, si] / n_tpl
                for slot, v in mt.groupdict().items():
                    if slot == "place":
                        f = f * (0.6 * (home == ms.PLACES.index(v)) + 0.4 / len(ms.PLACES))
                    elif slot == "person":
                        f = f * (0.5 * sitter_of.get(v, np.zeros(A)) / 3 + 0.5 * p_random_person)
                    else:
                        f = f / len(slot_values[slot])
                like = like + f
        unparsed += not seen
        like = like * np.where(archive, 0.7 if m else 0.3, 0.0 if m else 1.0)
        logp = log_count + np.log(np.maximum(like, 1e-300))
        post = np.exp(logp - logp.max())
        post /= post.sum()
        out["isCreatedByArtist"].append({a: float(x) for a, x in zip(artist_ids, post) if a and x > 1e-12})
        for rel, (ids, table) in tails.items():
            out[rel].append({t: float(x) for t, x in zip(ids, post @ table) if t})
    if unparsed or None in artist_ids:
        raise SystemExit(f"the generator does not match the graph: {unparsed} titles no template produces, "
                         f"{artist_ids.count(None)} artists not in entities.csv")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("graph")
    ap.add_argument("--max-pool", type=int, default=200, help="skip naive Bayes above this many candidates")
    ap.add_argument("--bayes", nargs=2, type=int, metavar=("OBJECTS", "SEED"),
                    help="add the Bayes-optimal title-only ranking (the graph's museum_scale.py arguments)")
    a = ap.parse_args()
    g = Path(a.graph)
    rows = list(csv.DictReader(open(g / "entities.csv", encoding="utf-8")))
    labels = {r["id"]: r["label"] for r in rows}
    facts, mode = defaultdict(dict), {}
    for r in csv.DictReader(open(g / "triples.csv", encoding="utf-8")):
        facts[r["head"]][r["relation"]] = r["tail"]
        mode[r["head"]] = r["mode"]
    relations = sorted({rel for f in facts.values() for rel in f})
    bayes = None
    if a.bayes:
        heads = sorted(h for h in facts if mode[h] == "test")
        posts = bayes_posteriors(*a.bayes, labels, {r["id"]: r["type"] for r in rows}, heads)
        bayes = {rel: dict(zip(heads, d)) for rel, d in posts.items()}
    print("| relation | test n | prior | same title | title naive Bayes (best T) | title logistic regression (C) "
          "| P(tail given the true artist) | Bayes-optimal from the title |\n|---|---:|---:|---:|---:|---:|---:|---:|")
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
                 f"{oracle:.3f}" if oracle is not None else "—",
                 f"{mrr([bayes[rel][h] for h in test], truths, prior):.3f}" if bayes and rel in bayes else "—"]
        print(f"| {rel} | {len(test)} | {base:.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
