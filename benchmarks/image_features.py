"""Leave-one-out nearest-neighbour accuracy of candidate image features on a graph's artworks.

For every artwork with an image, its nearest other artwork by cosine (1-NN) votes for its style,
genre and artist; accuracy is the share of artworks whose label that neighbour shares (any of
the artwork's labels counts, as some artworks carry two styles). For the artist also: the vote of
the k nearest (similarity-weighted, k as the neighbour vote's), and the rank of the true artist
when artists are ordered by their most similar work (mean rank, MRR).

The candidates are made from one pass of EfficientNet-Lite0 over every image, keeping the output
maps of the ends of its stages 3-7 (blocks 4, 7, 10, 14, 15) and of the head, pooled several ways
(mean, mean+std "style statistics", GeM p=3, max), alone and side by side (each part
L2-normalised), fused with the descriptor at weights ``--weights``; and post-processing fitted on
the collection's own features (centring, per-dimension z-scores, PCA whitening), each then
L2-normalised. "offline (head)" is the offline encoder's image feature before issue 20,
"offline (multilayer)" today's; both are checked against the encoders on a few images.

    python benchmarks/image_features.py --data ../shared/data/wikiart-mini [--weights 0.25,0.5,1]
"""
from __future__ import annotations

import argparse

import vlkge  # noqa: F401  (first: torch must see vlkge's OpenMP policy)
import numpy as np
import torch

from vlkge.data import load_graph
from vlkge.data.images import open_image
from vlkge.encoders import effnet
from vlkge.encoders.offline import DESCRIPTOR_WEIGHT, OfflineEncoder, describe
from vlkge.models.neighbours import K

RELATIONS = {"style": "hasStyle", "genre": "belongsToGenre", "artist": "isCreatedByArtist"}
BLOCKS = (4, 7, 10, 14, 15)


def unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.double(), dim=1, eps=1e-12)


def side_by_side(*parts: tuple[float, torch.Tensor]) -> torch.Tensor:
    return unit(torch.cat([w * unit(p) for w, p in parts], 1))


def pooled(graph, entities: list[int], batch: int = 32) -> dict[str, torch.Tensor]:
    """name -> [n, dim] for every pooling of every kept map, and the descriptor."""
    net = effnet.load_lite0()
    out: dict[str, list[torch.Tensor]] = {}
    for s in range(0, len(entities), batch):
        ims = [open_image(graph.image_path(e))[0] for e in entities[s:s + batch]]
        with torch.inference_mode():
            maps = net.activations(effnet.preprocess([effnet.to_array(im) for im in ims]), BLOCKS)
        for name, a in zip([f"b{b}" for b in BLOCKS] + ["head"], maps):
            out.setdefault(f"{name} mean", []).append(a.mean((2, 3)))
            out.setdefault(f"{name} std", []).append(a.std((2, 3)))
        head = maps[-1]
        out.setdefault("head GeM3", []).append(head.clamp_min(1e-6).pow(3).mean((2, 3)).pow(1 / 3))
        out.setdefault("head max", []).append(head.amax((2, 3)))
        out.setdefault("descriptor", []).append(torch.from_numpy(np.stack([describe(im) for im in ims])))
    return {k: torch.cat(v).double() for k, v in out.items()}


def scores(feats: torch.Tensor, labels: dict[str, list[set[int]]], artist: torch.Tensor) -> dict[str, float]:
    f = unit(feats)
    sim = f @ f.T
    sim.fill_diagonal_(-9.0)
    nearest = sim.argmax(1).tolist()
    out = {}
    for rel, ls in labels.items():
        rows = [i for i, s in enumerate(ls) if s]
        out[rel] = sum(bool(ls[i] & ls[nearest[i]]) for i in rows) / len(rows)
    n_art = int(artist.max()) + 1
    top, idx = sim.topk(K, 1)
    vote = torch.zeros(len(f), n_art, dtype=sim.dtype).scatter_add_(1, artist[idx], top.clamp_min(0))
    out["vote"] = float((vote.argmax(1) == artist).double().mean())
    best = torch.full((len(f), n_art), -9.0, dtype=sim.dtype).scatter_reduce_(
        1, artist[None].expand(len(f), -1), sim, "amax")
    rank = (best > best.gather(1, artist[:, None])).sum(1) + 1
    out["rank"], out["mrr"] = float(rank.double().mean()), float((1.0 / rank.double()).mean())
    out["right"] = torch.tensor([artist[nearest[i]] == artist[i] for i in range(len(f))])
    return out


def post_processed(x: torch.Tensor, how: str) -> torch.Tensor:
    x = unit(x)
    c = x - x.mean(0)
    if how == "centred":
        return c
    if how == "z-scored":
        return c / x.std(0).clamp_min(1e-8)
    d = int(how.split()[-1])  # "PCA-whitened D"
    _, s, v = torch.linalg.svd(c, full_matrices=False)
    return (c @ v[:d].T) / (s[:d] / (len(x) - 1) ** 0.5 + 1e-6)


def labelled_artworks(g) -> tuple[list[int], dict[str, list[set[int]]], list[int], torch.Tensor]:
    """The artworks with an image and exactly one artist: their entity ids, their style / genre /
    artist tails (sets), the artists' entity ids and each artwork's artist as an index into them."""
    entities = [e for e in range(g.num_entities) if g.image_path(e) is not None]
    pos = {e: j for j, e in enumerate(entities)}
    wanted = {r: k for k, r in RELATIONS.items()}
    labels = {k: [set() for _ in entities] for k in RELATIONS}
    for h, r, t in g.all_triples().tolist():
        if h in pos and g.relations[r] in wanted:
            labels[wanted[g.relations[r]]][pos[h]].add(t)
    keep = [j for j, s in enumerate(labels["artist"]) if len(s) == 1]
    entities = [entities[j] for j in keep]
    labels = {k: [ls[j] for j in keep] for k, ls in labels.items()}
    artist_ids = sorted({min(s) for s in labels["artist"]})
    artist = torch.tensor([artist_ids.index(min(s)) for s in labels["artist"]])
    return entities, labels, artist_ids, artist


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/wikiart-mini")
    ap.add_argument("--weights", default="0.25,0.5,0.7,1.0")
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = load_graph(args.data)
    entities, labels, artist_ids, artist = labelled_artworks(g)

    P = pooled(g, entities)
    d, head = P["descriptor"], P["head mean"]
    multilayer = side_by_side(*[(1.0, P[f"b{b} mean"]) for b in effnet.TAP_BLOCKS], (1.0, head))
    feats = {"descriptor": d, "EfficientNet-Lite0 head (mean)": head}
    for k in ("head GeM3", "head max"):
        feats[k] = P[k]
    feats["head mean+std"] = side_by_side((1, head), (1, P["head std"]))
    for b in BLOCKS:
        feats[f"block {b} mean"] = P[f"b{b} mean"]
        feats[f"block {b} mean+std"] = side_by_side((1, P[f"b{b} mean"]), (1, P[f"b{b} std"]))
    feats["blocks 10, 14 mean"] = side_by_side((1, P["b10 mean"]), (1, P["b14 mean"]))
    feats["multilayer: blocks 10, 14 + head (mean)"] = multilayer
    feats["blocks 7, 10, 14 + head"] = side_by_side(*[(1, P[f"b{b} mean"]) for b in (7, 10, 14)], (1, head))
    feats["blocks 10, 14, 15 + head"] = side_by_side(*[(1, P[f"b{b} mean"]) for b in (10, 14, 15)], (1, head))
    feats["blocks 10, 14 mean+std + head"] = side_by_side(
        *[(1, P[f"b{b} {s}"]) for b in (10, 14) for s in ("mean", "std")], (1, head))
    weights = sorted({float(x) for x in args.weights.split(",")} | {DESCRIPTOR_WEIGHT})
    for w in weights:
        feats[f"head + descriptor {w:g}" + (" = offline (head)" if w == DESCRIPTOR_WEIGHT else "")] = \
            side_by_side((1, head), (w, d))
    for w in weights:
        feats[f"multilayer + descriptor {w:g}" + (" = offline (multilayer)" if w == DESCRIPTOR_WEIGHT else "")] = \
            side_by_side((1, multilayer), (w, d))
    old, new = side_by_side((1, head), (DESCRIPTOR_WEIGHT, d)), side_by_side((1, multilayer), (DESCRIPTOR_WEIGHT, d))
    for how in ("centred", "z-scored", "PCA-whitened 128", "PCA-whitened 256"):
        feats[f"offline (head), {how}"] = post_processed(old, how)
        feats[f"offline (multilayer), {how}"] = post_processed(new, how)
        feats[f"head, {how}"] = post_processed(head, how)

    ims = [open_image(g.image_path(e))[0] for e in entities[:8]]
    for spec, ref in (("fused-head", old), ("fused", new)):
        enc = OfflineEncoder(device="cpu", image_features=spec)
        diff = (enc.encode_pil(ims).double() - ref[:8]).abs().max()
        print(f"{enc.name}: max difference to the benchmark's reconstruction on 8 images {diff:.1e}")

    print(f"\n{len(entities)} artworks with an image and one artist, {len(artist_ids)} artists, k = {K}\n")
    print("| image feature | dim | style 1-NN | genre 1-NN | artist 1-NN | artist, vote of k | "
          "artist mean rank | artist MRR |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    results = {}
    for name, f in feats.items():
        m = results[name] = scores(f, labels, artist)
        print(f"| {name} | {f.shape[1]} | {m['style']:.3f} | {m['genre']:.3f} | {m['artist']:.3f} | "
              f"{m['vote']:.3f} | {m['rank']:.2f} | {m['mrr']:.3f} |")
    a = results[f"head + descriptor {DESCRIPTOR_WEIGHT:g} = offline (head)"]["right"]
    b = results[f"multilayer + descriptor {DESCRIPTOR_WEIGHT:g} = offline (multilayer)"]["right"]
    print(f"\nartist 1-NN, offline (head) vs (multilayer): both right {int((a & b).sum())}, only head "
          f"{int((a & ~b).sum())}, only multilayer {int((~a & b).sum())}, neither {int((~a & ~b).sum())}")


if __name__ == "__main__":
    main()
