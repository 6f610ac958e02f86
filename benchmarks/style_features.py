"""Style statistics, flips and scales for the offline image feature: leave-one-out accuracy.

Candidates beside the offline image feature ("offline before": blocks 10, 14 and head mean pools +
descriptor):
  * Gram matrices (channel second moments, as in Gatys et al.'s style representation) of the stem
    and of the ends of EfficientNet-Lite0's early/middle stages, raw or centred (covariance), the
    upper triangle signed-square-rooted and L2-normalised, alone or side by side with the feature;
  * horizontal-flip test-time augmentation (the network's parts averaged over the image and its
    mirror);
  * a second, larger scale (the whole image upsampled to ``--scale`` px; mean pools over it equal
    the average of its tiles' pools up to the tile borders, so it stands for multi-crop pooling);
  * centring on the collection mean.

Scored as benchmarks/image_features.py scores (1-NN style / genre / artist, artist vote of k,
true artist's mean rank and MRR over the 100 artists), plus, for the held-out Monets, where Monet
ranks among artists by the k-NN vote over the training works only. Each pass's pooled statistics
are cached in ``--cache`` (an .npz per pass) so that a rerun only scores.

    python benchmarks/style_features.py --data ../shared/data/wikiart-mini --cache /tmp/style-feats
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import vlkge  # noqa: F401  (first: torch must see vlkge's OpenMP policy)
import numpy as np
import torch
from PIL import Image, ImageOps

from image_features import labelled_artworks, scores, side_by_side, unit
from vlkge.data import load_graph
from vlkge.data.images import open_image
from vlkge.encoders import effnet
from vlkge.encoders.offline import DESCRIPTOR_WEIGHT, describe
from vlkge.models.neighbours import K

# stem, then the ends of stages 1-5 (16 / 24 / 40 / 80 / 112 channels at 112 / 56 / 28 / 14 / 14 px)
GRAM_BLOCKS = (0, 2, 4, 7, 10)
MEAN_BLOCKS = (10, 14)
# The "style" candidate (tried as the offline encoder's feature in commit 8e4595f, reverted: the
# default run's test MRR dropped, see benchmarks/RESULTS.md): the mean pools of MEAN_BLOCKS and the
# head beside these blocks' channel covariances, each cut to 512 by a seeded Gaussian projection.
COVARIANCE_BLOCKS = (4, 7, 10)


def covariance_projection(channels: int, seed: int, dim: int = 512) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(channels * (channels + 1) // 2, dim, generator=gen) / dim ** 0.5


def upper(g: torch.Tensor) -> torch.Tensor:
    i, j = torch.triu_indices(g.shape[1], g.shape[1])
    return g[:, i, j]


def statistics(net, arrays: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """name -> [B, d]: means of the MEAN_BLOCKS and head, and for the stem and GRAM_BLOCKS the
    mean and the raw Gram (upper triangle)."""
    x = effnet.preprocess(arrays)
    out = {}
    with torch.inference_mode():
        h = torch.nn.functional.relu6(net._conv_stem(x))
        maps = {"stem": h}
        for i, block in enumerate(net._blocks):
            h = block(h)
            maps[f"b{i}"] = h
        maps["head"] = torch.nn.functional.relu6(net._conv_head(h))
        for name in ["stem"] + [f"b{b}" for b in GRAM_BLOCKS]:
            f = maps[name].flatten(2).float()
            out[f"{name} mean"] = f.mean(2)
            out[f"{name} gram"] = upper(f @ f.transpose(1, 2) / f.shape[2])
        for name in [f"b{b}" for b in MEAN_BLOCKS] + ["head"]:
            out[f"{name} mean"] = maps[name].mean((2, 3))
    return out


def extract(graph, entities, how: str, side: int, batch: int = 16) -> dict[str, np.ndarray]:
    net = effnet.load_lite0()
    acc: dict[str, list] = {}
    t0, c0 = time.time(), time.process_time()
    for s in range(0, len(entities), batch):
        ims = [open_image(graph.image_path(e))[0].convert("RGB") for e in entities[s:s + batch]]
        if how == "flip":
            ims = [ImageOps.mirror(im) for im in ims]
        arrays = [effnet.to_array(im) for im in ims]
        if side != effnet.SIDE:
            arrays = [np.asarray(Image.fromarray(a).resize((side, side), Image.BICUBIC)) for a in arrays]
        for k, v in statistics(net, arrays).items():
            acc.setdefault(k, []).append(v.numpy())
        if how == "base":
            acc.setdefault("descriptor", []).append(np.stack([describe(im) for im in ims]))
    print(f"pass {how} {side}px: {time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} CPU-s "
          f"for {len(entities)} images")
    return {k: np.concatenate(v) for k, v in acc.items()}


def cached(graph, entities, cache: Path, how: str, side: int) -> dict[str, torch.Tensor]:
    path = cache / f"{how}-{side}.npz"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, **extract(graph, entities, how, side))
    with np.load(path) as z:
        return {k: torch.from_numpy(z[k]).double() for k in z.files}


def signed_sqrt(x: torch.Tensor) -> torch.Tensor:
    return x.sign() * x.abs().sqrt()


def gram(P: dict, name: str, centred: bool) -> torch.Tensor:
    g = P[f"{name} gram"]
    if centred:
        m = P[f"{name} mean"]
        c = m.shape[1]
        i, j = torch.triu_indices(c, c)
        g = g - m[:, i] * m[:, j]
    return unit(signed_sqrt(g))


def network_part(P: dict) -> torch.Tensor:
    return side_by_side(*[(1.0, P[f"b{b} mean"]) for b in MEAN_BLOCKS], (1.0, P["head mean"]))


def monet_ranks(f: torch.Tensor, train: torch.Tensor, artist: torch.Tensor, queries: list[int],
                monet: int) -> list[int]:
    """Monet's rank among artists by the similarity-weighted vote of the K nearest training works."""
    f = unit(f)
    sim = f[queries] @ f[train].T
    top, idx = sim.topk(K, 1)
    vote = torch.zeros(len(queries), int(artist.max()) + 1, dtype=sim.dtype).scatter_add_(
        1, artist[train][idx], top.clamp_min(0))
    return ((vote > vote[:, monet:monet + 1]).sum(1) + 1).tolist()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/wikiart-mini")
    ap.add_argument("--cache", default="/tmp/style-feats")
    ap.add_argument("--passes", default="base", help="comma list of base, flip, scale")
    ap.add_argument("--scale", type=int, default=336)
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = load_graph(args.data)
    entities, labels, artist_ids, artist = labelled_artworks(g)
    train_heads = {h for h, r, t in g.split("train").tolist() if g.relations[r] == "isCreatedByArtist"}
    monet = artist_ids.index(g.entity_index["artist_claude-monet"])
    train = torch.tensor([j for j, e in enumerate(entities) if e in train_heads])
    queries = [j for j, e in enumerate(entities) if int(artist[j]) == monet and e not in train_heads]
    cache = Path(args.cache)
    passes = args.passes.split(",")
    P = cached(g, entities, cache, "base", effnet.SIDE)
    F = cached(g, entities, cache, "flip", effnet.SIDE) if "flip" in passes else None
    S = cached(g, entities, cache, "base", args.scale) if "scale" in passes else None

    d = P["descriptor"]
    net = network_part(P)
    offline = side_by_side((1.0, net), (DESCRIPTOR_WEIGHT, d))
    feats = {"offline before (blocks 10, 14 + head + descriptor 0.5)": offline}
    grams = {}
    for name in ["stem"] + [f"b{b}" for b in GRAM_BLOCKS]:
        for centred in (False, True):
            grams[name, centred] = gram(P, name, centred)
            feats[f"{name} {'covariance' if centred else 'Gram'}"] = grams[name, centred]
    for centred in (False, True):
        kind = "covariance" if centred else "Gram"
        early = side_by_side(*[(1.0, grams[n, centred]) for n in ("stem", "b2", "b4")])
        mid = side_by_side(*[(1.0, grams[n, centred]) for n in ("b4", "b7", "b10")])
        feats[f"{kind}s stem, b2, b4"] = early
        feats[f"{kind}s b4, b7, b10"] = mid
        for w in (0.25, 0.5, 1.0) + ((1.5, 2.0) if centred else ()):
            feats[f"offline before + {kind}s stem, b2, b4 at {w:g}"] = side_by_side((1.0, offline), (w, early))
            feats[f"offline before + {kind}s b4, b7, b10 at {w:g}"] = side_by_side((1.0, offline), (w, mid))
        for n in ("b4", "b7", "b10"):
            feats[f"offline before + {n} {kind} at 0.5"] = side_by_side((1.0, offline), (0.5, grams[n, centred]))
    cov = [grams[f"b{b}", True] for b in COVARIANCE_BLOCKS]
    feats["offline before + covariances b7, b10 at 1"] = side_by_side((1.0, offline), (1.0, side_by_side((1, cov[1]), (1, cov[2]))))
    for dim in (256, 512, 1024):
        for seed in ((0, 1, 2) if dim == 512 else (0,)):
            gen = torch.Generator().manual_seed(seed)
            proj = [unit(c @ torch.randn(c.shape[1], dim, generator=gen, dtype=torch.float64)) for c in cov]
            feats[f"offline before + covariances b4, b7, b10 at 1, each projected to {dim} (seed {seed})"] = \
                side_by_side((1.0, offline), (1.0, side_by_side(*[(1, p) for p in proj])))

    def style(Q):
        """The encoder's "style" network part: six parts of equal weight."""
        projections = [covariance_projection(int(Q[f"b{b} mean"].shape[1]), 20 + i)
                       for i, b in enumerate(COVARIANCE_BLOCKS)]
        return side_by_side(*[(1.0, Q[f"b{b} mean"]) for b in MEAN_BLOCKS], (1.0, Q["head mean"]),
                            *[(1.0, gram(Q, f"b{b}", True) @ p.double()) for b, p in zip(COVARIANCE_BLOCKS, projections)])

    now = side_by_side((1.0, style(P)), (DESCRIPTOR_WEIGHT, d))
    feats["style candidate = blocks 10, 14, head; covariances b4, b7, b10 projected to 512; + descriptor 0.5"] = now
    if F is not None:
        feats["offline before, flip TTA (network part averaged)"] = \
            side_by_side((1.0, unit(net + network_part(F))), (DESCRIPTOR_WEIGHT, d))
        feats["style candidate, flip TTA (network part averaged)"] = \
            side_by_side((1.0, unit(style(P) + style(F))), (DESCRIPTOR_WEIGHT, d))
    if S is not None:
        big = network_part(S)
        feats[f"offline before, network at {args.scale}px"] = side_by_side((1.0, big), (DESCRIPTOR_WEIGHT, d))
        feats[f"offline before, network at 224 + {args.scale}px averaged"] = \
            side_by_side((1.0, unit(net + big)), (DESCRIPTOR_WEIGHT, d))
        feats[f"style candidate, network at 224 + {args.scale}px averaged"] = \
            side_by_side((1.0, unit(style(P) + style(S))), (DESCRIPTOR_WEIGHT, d))
    for name in list(feats):
        if name.startswith(("offline", "style")) and ", centred" not in name:
            feats[f"{name}, centred"] = unit(feats[name]) - unit(feats[name]).mean(0)

    print(f"\n{len(entities)} artworks, {len(artist_ids)} artists, k = {K}; held-out Monets: "
          + ", ".join(g.entities[entities[q]] for q in queries) + "\n")
    print("| image feature | dim | style 1-NN | genre 1-NN | artist 1-NN | artist, vote of k | "
          "artist mean rank | artist MRR | held-out Monets: Monet's rank by the vote |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---|")
    right = {}
    for name, f in feats.items():
        m = scores(f, labels, artist)
        right[name] = m["right"]
        r = monet_ranks(f, train, artist, queries, monet)
        print(f"| {name} | {f.shape[1]} | {m['style']:.3f} | {m['genre']:.3f} | {m['artist']:.3f} | "
              f"{m['vote']:.3f} | {m['rank']:.2f} | {m['mrr']:.3f} | {' / '.join(map(str, r))} |", flush=True)
    a, b = right[next(iter(feats))], right[next(k for k in feats if k.startswith("style candidate ="))]
    print(f"\nartist 1-NN, offline before vs the style candidate: both right {int((a & b).sum())}, only before "
          f"{int((a & ~b).sum())}, only the candidate {int((~a & b).sum())}, neither {int((~a & ~b).sum())}")


if __name__ == "__main__":
    main()
