"""EfficientNet-Lite0 throughput on this machine's CPU cores (or the GPU when there is one).

1. The network alone on decoded 224x224 images at batch sizes 1 / 16 / 64, rounds interleaved
   (1 16 64 1 16 64 ...) so drift in a shared machine's load hits every size alike; the median
   round is reported, wall and CPU seconds side by side.
2. Cold extraction of every image of a graph through the offline encoder (EfficientNet-Lite0 +
   descriptor, the feature store's own path: hashing, decoding, both features, shards written)
   into a fresh temporary store.
3. With ``--baseline CHECKOUT``: only part 2, each extraction a child process importing this tree
   or CHECKOUT (e.g. main's worktree), ``--pairs`` times interleaved A B B A ..., wall and CPU
   seconds of each and the median pairwise CPU ratio this / baseline.

    python benchmarks/effnet_throughput.py [--data ../shared/data/wikiart-mini] [--threads 2]
    python benchmarks/effnet_throughput.py --baseline /work/main --pairs 2 --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import vlkge  # noqa: F401  (first: torch must see vlkge's OpenMP policy, or its idle threads spin)
import torch
from vlkge.data import load_graph
from vlkge.data.images import open_image
from vlkge.encoders import FeatureStore, extract_features
from vlkge.encoders.effnet import EffNetLite0Encoder, to_array
from vlkge.encoders.offline import OfflineEncoder


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


# One cold extraction in a child process that imports vlkge from argv[1].
CHILD = """
import json, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import vlkge
from pathlib import Path
from vlkge.data import load_graph
from vlkge.encoders import FeatureStore, extract_features
from vlkge.encoders.offline import OfflineEncoder
g = load_graph(sys.argv[2])
enc = OfflineEncoder()
with tempfile.TemporaryDirectory() as d:
    w0, c0 = time.perf_counter(), time.process_time()
    res = extract_features(g, enc, "visual", FeatureStore(Path(d)), progress=False)
    w1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({"name": enc.name, "images": res.stats["computed"], "wall": w1 - w0, "cpu": c1 - c0}))
"""


def child_extraction(checkout: str, data: str, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": checkout}
    p = subprocess.run([sys.executable, "-c", CHILD, checkout, data], capture_output=True, text=True, env=env)
    if p.returncode:
        raise SystemExit(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def compare(args) -> None:
    this = str(Path(__file__).resolve().parents[1])
    runs: dict[str, list[dict]] = {"this": [], "baseline": []}
    for i in range(args.pairs):
        order = [("this", this), ("baseline", args.baseline)]
        for side, checkout in (order if i % 2 == 0 else order[::-1]):
            r = child_extraction(checkout, args.data, args.threads)
            runs[side].append(r)
            print(f"{side}: {r['name']}, {r['images']} images, wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    ratios = [a["cpu"] / b["cpu"] for a, b in zip(runs["this"], runs["baseline"])]
    print(f"CPU ratio this / baseline, per pair: {', '.join(f'{x:.3f}' for x in ratios)}; "
          f"median {statistics.median(ratios):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/wikiart-mini")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=128, help="images per round of part 1")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-extraction", action="store_true")
    ap.add_argument("--baseline", help="another checkout: compare cold extraction with it (only part 3)")
    ap.add_argument("--pairs", type=int, default=2)
    args = ap.parse_args()
    if args.baseline:
        return compare(args)
    torch.set_num_threads(args.threads)
    g = load_graph(args.data)
    paths = [p for p in (g.image_path(i) for i in range(g.num_entities)) if p is not None]
    arrays = [to_array(open_image(p)[0]) for p in paths[:args.images]]
    enc = EffNetLite0Encoder()
    print(f"device {enc.device}, torch threads {torch.get_num_threads()}, {len(arrays)} images a round\n")
    sizes = (1, 16, 64)
    times: dict[int, list[tuple[float, float]]] = {b: [] for b in sizes}
    enc.batch_size = 16
    enc.encode_arrays(arrays[:16])  # warm-up
    for _ in range(args.rounds):
        for b in sizes:
            enc.batch_size = b
            w0, c0 = clocks()
            enc.encode_arrays(arrays)
            w1, c1 = clocks()
            times[b].append((w1 - w0, c1 - c0))
    print("| batch | images/s (wall) | wall s | CPU s | images per CPU s |\n|---:|---:|---:|---:|---:|")
    for b in sizes:
        wall = statistics.median(t[0] for t in times[b])
        cpu = statistics.median(t[1] for t in times[b])
        n = len(arrays)
        print(f"| {b} | {n / wall:.1f} | {wall:.2f} | {cpu:.2f} | {n / cpu:.1f} |")
    if args.skip_extraction:
        return
    with tempfile.TemporaryDirectory() as d:
        store = FeatureStore(Path(d))
        w0, c0 = clocks()
        res = extract_features(g, OfflineEncoder(), "visual", store, progress=False)
        w1, c1 = clocks()
    n = res.stats["computed"]
    print(f"\ncold extraction, offline encoder (EfficientNet-Lite0 + descriptor), {n} images: "
          f"wall {w1 - w0:.1f} s ({n / (w1 - w0):.1f} images/s), CPU {c1 - c0:.1f} s")


if __name__ == "__main__":
    main()
