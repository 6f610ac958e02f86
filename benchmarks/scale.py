"""How vlkge scales with graph size: one training epoch, a filtered test evaluation (tail
prediction over per-relation candidate pools, ``eval_protocol="tail-candidates"``) and peak RSS,
for synthetic WikiArt-MKG-v2-like graphs of 10k to 1M entities; plus the real
``/work/shared/data/wikiart-labels`` graph through the CLI (see ``--real``).

Synthetic graph (built in memory as a ``vlkge.data.graph.Graph``): ~95% artworks, the rest artists
(1 per 60 artworks) and small type vocabularies (30 styles, 20 genres, 80 decades, 60 nationalities,
150 movements). Each artwork -> isCreatedByArtist (always), hasStyle (80%), belongsToGenre (60%),
isCreatedInDecade (40%), isRelatedTo another artwork (20%): ~3 triples per artwork; each artist ->
hasNationality, isAssociatedWithArtMovement. Triples split 80/10/10 at random.

Each size runs in a fresh subprocess (so ru_maxrss is that size's peak). Structural DistMult,
dim 128, TrainConfig's defaults for batch size / negatives / lr (whatever they are at the commit
measured; printed). The epoch runs inside ``vlkge.training.trainer.train`` (epoch time from its
progress callback, before any evaluation), with validation capped at ``--max-val`` queries and no
test split; the test evaluation then runs through ``load_run(...).evaluate("test")`` (what
``python -m vlkge evaluate`` does) on ``--max-test`` test triples at most, with the filter still
built from *all* train/val/test triples; the full-test time is extrapolated from the per-query time
when the cap applies (marked "~").

    python benchmarks/scale.py --sizes 10000,100000,300000,1000000 --max-test 5000
    python benchmarks/scale.py --real          # wikiart-labels via /usr/bin/time -v python -m vlkge ...
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, git_rev, machine, md_table, peak_rss_mb, uptime  # noqa: E402

REAL = Path("/work/shared/data/wikiart-labels")
TYPES = {"style": 30, "genre": 20, "decade": 80, "nationality": 60, "movement": 150}
ARTWORK_RELS = [("isCreatedByArtist", "artist", 1.0), ("hasStyle", "style", 0.8), ("belongsToGenre", "genre", 0.6),
                ("isCreatedInDecade", "decade", 0.4), ("isRelatedTo", "artwork", 0.2)]
ARTIST_RELS = [("hasNationality", "nationality"), ("isAssociatedWithArtMovement", "movement")]


def synthetic_graph(n_entities: int, seed: int = 0):
    """A WikiArt-MKG-v2-like typed graph with ~n_entities entities (vectorised; 1M in seconds)."""
    import torch
    from vlkge.data.graph import Graph
    g = torch.Generator().manual_seed(seed)
    small = sum(TYPES.values())
    n_art = max(100, int((n_entities - small) * 60 / 61))
    n_artist = max(10, n_entities - small - n_art)
    offsets, types, names = {}, [], []
    for t, c in [("artwork", n_art), ("artist", n_artist), *TYPES.items()]:
        offsets[t] = (len(types), c)
        types += [t] * c
        names += [f"{t}_{i}" for i in range(c)]
    relations = [r for r, _, _ in ARTWORK_RELS] + [r for r, _ in ARTIST_RELS]
    parts = []

    def draw(tail_type: str, k: int, skew: bool) -> torch.Tensor:
        off, c = offsets[tail_type]
        if skew:  # popular artists/styles: a Zipf-ish draw
            u = torch.rand(k, generator=g)
            idx = (c * u.pow(2.0)).long().clamp_max(c - 1)
        else:
            idx = torch.randint(0, c, (k,), generator=g)
        return off + idx

    art = torch.arange(n_art)
    for ri, (rel, tail_type, p) in enumerate(ARTWORK_RELS):
        heads = art[torch.rand(n_art, generator=g) < p]
        tails = draw(tail_type, len(heads), skew=tail_type != "artwork")
        parts.append(torch.stack([heads, torch.full_like(heads, ri), tails], 1))
    a_off, a_cnt = offsets["artist"]
    artists = torch.arange(a_off, a_off + a_cnt)
    for j, (rel, tail_type) in enumerate(ARTIST_RELS):
        tails = draw(tail_type, a_cnt, skew=True)
        parts.append(torch.stack([artists, torch.full_like(artists, len(ARTWORK_RELS) + j), tails], 1))
    triples = torch.unique(torch.cat(parts), dim=0)
    triples = triples[triples[:, 0] != triples[:, 2]]
    perm = torch.randperm(len(triples), generator=g)
    n_val = n_test = len(triples) // 10
    split = {"test": triples[perm[:n_test]], "val": triples[perm[n_test:n_test + n_val]],
             "train": triples[perm[n_test + n_val:]]}
    n = len(names)
    return Graph(entities=names, relations=relations, types=types, labels=names, descriptions=[""] * n,
                 images=[""] * n, triples=split, source=f"synthetic:{n_entities}", fingerprint=f"synthetic-{n_entities}-{seed}")


def worker(n_entities: int, max_val: int, max_test: int, seed: int, sampling: str = "auto") -> dict:
    """One size, in its own process; prints a JSON line."""
    import copy
    import torch
    from vlkge.prediction.run import load_run
    from vlkge.training.config import TrainConfig, resolve
    from vlkge.pipeline import train_and_evaluate
    out: dict = {"size": n_entities}
    t = time.perf_counter()
    g = synthetic_graph(n_entities, seed)
    out["gen_s"] = time.perf_counter() - t
    out.update(entities=g.num_entities, train=len(g.split("train")), val=len(g.split("val")), test=len(g.split("test")))
    val, test = g.split("val"), g.split("test")
    gt = torch.Generator().manual_seed(seed)
    val_small = val[torch.randperm(len(val), generator=gt)[:max_val]]
    tperm = torch.randperm(len(test), generator=gt)
    test_q, test_rest = test[tperm[:max_test]], test[tperm[max_test:]]
    g_train = copy.copy(g)
    g_train.triples = {"train": g.split("train"), "val": val_small, "test": torch.empty(0, 3, dtype=torch.long)}
    # evaluation graph: queries = capped test, filter = every train/val/test triple (the rest of test sits in val)
    g_eval = copy.copy(g)
    g_eval.triples = {"train": g.split("train"), "val": torch.cat([val, test_rest]), "test": test_q}
    cfg = TrainConfig(model="distmult", dim=128, epochs=1, eval_every=1, modalities=["structural"],
                      eval_protocol="tail-candidates", seed=seed, device="cpu",
                      negative_sampling=sampling)
    seen = {}
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        train_and_evaluate(g_train, cfg, Path(d) / "run", progress=False,
                           callback=lambda e, n, info: seen.setdefault("epoch_s", info["elapsed_s"]))
        out["train_call_s"] = time.perf_counter() - t
        # what resolve made of the fields the config leaves to the graph (negatives)
        used = resolve(cfg, g_train)
        out["config"] = {k: getattr(used, k) for k in ("batch_size", "negatives", "negative_sampling", "lr", "optimizer")}
        out["epoch_s"] = seen["epoch_s"]
        out["rss_after_train_mb"] = peak_rss_mb()
        t = time.perf_counter()
        run = load_run(Path(d) / "run", graph=g_eval)
        res = run.evaluate("test", protocol="tail-candidates")
        out["eval_s"] = time.perf_counter() - t
    out["eval_queries"] = res["count"]
    out["test_mrr"] = res["mrr"]
    out["eval_full_s"] = out["eval_s"] * len(test) / max(res["count"], 1)
    out["capped"] = res["count"] < len(test)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def real(out_dir: str) -> list[dict]:
    """The issue's headline on wikiart-labels: whole CLI processes under /usr/bin/time -v."""
    cmds = [
        ["python", "-m", "vlkge", "train", "--data", str(REAL), "--out", out_dir, "--model", "distmult", "--dim", "128",
         "--epochs", "1", "--eval-every", "1", "--modalities", "structural", "--quiet"],
        ["python", "-m", "vlkge", "evaluate", out_dir],
    ]
    rows = []
    for cmd in cmds:
        before = uptime()
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=ROOT, capture_output=True, text=True)
        wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", p.stderr)
        secs = (int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))) if wall else float("nan")
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        rows.append({"cmd": " ".join(cmd), "rc": p.returncode, "wall_s": secs,
                     "peak_rss_mb": int(rss.group(1)) / 1024 if rss else float("nan"), "uptime": before,
                     "stdout_tail": p.stdout[-400:]})
    hist = json.loads((Path(out_dir) / "metrics.json").read_text()).get("history", [])
    if hist:
        rows[0]["epoch_s"] = hist[0].get("elapsed_s")
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,300000,1000000", help="comma list of entity counts")
    ap.add_argument("--max-test", type=int, default=2000,
                    help="evaluate at most this many test triples (full-test time extrapolated per query)")
    ap.add_argument("--max-val", type=int, default=200, help="validation queries for the end-of-epoch check")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--negative-sampling", default="auto", choices=["auto", "typed", "uniform"],
                    help="auto = typed under the tail-candidates protocol (the engine's default)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per size before giving up")
    ap.add_argument("--real", action="store_true", help="also run the wikiart-labels CLI headline")
    ap.add_argument("--only-real", action="store_true")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print("RESULT " + json.dumps(worker(a.worker, a.max_val, a.max_test, a.seed, a.negative_sampling)), flush=True)
        return
    print(f"machine: {machine()}  git {git_rev()}\nuptime: {uptime()}", flush=True)
    rows = []
    if not a.only_real:
        for n in [int(s) for s in a.sizes.split(",") if s]:
            before = uptime()
            t = time.perf_counter()
            try:
                p = subprocess.run([sys.executable, __file__, "--worker", str(n), "--max-test", str(a.max_test),
                                    "--max-val", str(a.max_val), "--seed", str(a.seed),
                                    "--negative-sampling", a.negative_sampling],
                                   capture_output=True, text=True, timeout=a.timeout)
                line = next((l for l in p.stdout.splitlines() if l.startswith("RESULT ")), None)
                if line is None:
                    print(f"size {n}: failed (rc {p.returncode})\n{p.stderr[-2000:]}", flush=True)
                    continue
                r = json.loads(line[7:])
            except subprocess.TimeoutExpired:
                print(f"size {n}: over {a.timeout:.0f} s, skipped", flush=True)
                continue
            r["process_s"] = time.perf_counter() - t
            r["load"] = before.split("load average:")[-1].strip()
            rows.append(r)
            print(json.dumps(r), flush=True)
        if rows:
            print("\n" + md_table(
                ["entities", "sampling", "train triples", "test triples", "epoch s", "train triples/s", "test eval s (queries)",
                 "full test eval s", "test MRR", "peak RSS MB", "process s", "load (1/5/15 min)"],
                [[r["entities"], r["config"]["negative_sampling"], r["train"], r["test"], r["epoch_s"], round(r["train"] / r["epoch_s"]),
                  f"{r['eval_s']:.1f} ({r['eval_queries']:,})",
                  ("~" if r["capped"] else "") + f"{r['eval_full_s']:.1f}", r["test_mrr"], round(r["peak_rss_mb"]),
                  r["process_s"], r["load"]] for r in rows]))
            print(f"config: {rows[0]['config']}")
    if a.real or a.only_real:
        with tempfile.TemporaryDirectory() as d:
            for r in real(os.path.join(d, "x")):
                print(json.dumps(r), flush=True)
    print(f"uptime after: {uptime()}")


if __name__ == "__main__":
    main()
