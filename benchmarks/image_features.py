"""Leave-one-out nearest-neighbour accuracy of each image feature on a graph's artworks.

For every artwork with an image, its nearest other artwork by cosine (1-NN) votes for its style,
genre and artist; accuracy is the share of artworks whose label that neighbour shares (any of
the artwork's labels counts, as some artworks carry two styles). Features: the descriptor alone,
EfficientNet-Lite0 alone, and the two fused with descriptor weights ``--weights``.

    python benchmarks/image_features.py --data ../shared/data/wikiart-mini [--weights 0.25,0.5,1]
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import torch

from vlkge.data import load_graph
from vlkge.encoders import FeatureStore, extract_features
from vlkge.encoders.effnet import EffNetLite0Encoder
from vlkge.encoders.offline import OfflineEncoder, fuse

RELATIONS = {"style": "hasStyle", "genre": "belongsToGenre", "artist": "isCreatedByArtist"}


def nn_accuracy(feats: torch.Tensor, labels: list[set[int]]) -> float:
    sim = feats @ feats.T
    sim.fill_diagonal_(-2.0)
    nearest = sim.argmax(1).tolist()
    rows = [i for i, ls in enumerate(labels) if ls]
    return sum(bool(labels[i] & labels[nearest[i]]) for i in rows) / len(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/wikiart-mini")
    ap.add_argument("--weights", default="0.25,0.35,0.5,0.7,1.0")
    args = ap.parse_args()
    g = load_graph(args.data)
    store = FeatureStore()
    desc, dmask = extract_features(g, OfflineEncoder(image_features="descriptor"), "visual", store, progress=False)
    eff, emask = extract_features(g, EffNetLite0Encoder(), "visual", store, progress=False)
    rows = torch.nonzero(dmask & emask).flatten()
    labels = defaultdict(lambda: [set() for _ in rows])
    pos = {int(e): j for j, e in enumerate(rows)}
    for h, r, t in g.all_triples().tolist():
        if h in pos:
            labels[g.relations[r]][pos[h]].add(t)
    feats = {"descriptor": desc[rows], "EfficientNet-Lite0": eff[rows]}
    for w in (float(x) for x in args.weights.split(",")):
        feats[f"fused, descriptor weight {w:g}"] = fuse(eff[rows], desc[rows], w)
    print(f"{len(rows)} artworks with an image\n")
    print("| image feature | " + " | ".join(f"{k} 1-NN acc." for k in RELATIONS) + " | mean |")
    print("|---|" + "---:|" * (len(RELATIONS) + 1))
    for name, f in feats.items():
        acc = [nn_accuracy(f, labels[rel]) for rel in RELATIONS.values()]
        print(f"| {name} | " + " | ".join(f"{a:.3f}" for a in acc) + f" | {sum(acc) / len(acc):.3f} |")


if __name__ == "__main__":
    main()
