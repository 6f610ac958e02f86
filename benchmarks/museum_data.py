"""Museum scale, data side (issue 21): graph loading, text features, evaluation, first prediction.

Every figure is one whole child process (interpreter start and imports included, as a user runs
it), with its wall time and its CPU seconds (user + system, from the kernel's child rusage).
Comparisons run interleaved A B A B; the reference ("before") is this repository at --before,
exported to a temporary folder, so both sides see the same machine load.

    python benchmarks/museum_data.py --run RUN [--before 134b76c] [--repeat 2] [--skip-text]

RUN: a run trained on ../shared/data/wikiart-labels, e.g.
    python -m vlkge train --data ../shared/data/wikiart-labels --modalities structural --epochs 1 --out RUN
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, uptime

DATA = Path(ROOT).parent / "shared" / "data"
LABELS, MINI = DATA / "wikiart-labels", DATA / "wikiart-mini"

# Each snippet prints one JSON line of in-process figures (after the imports it needs).
LOAD = """
import time, json; t0 = time.perf_counter()
from vlkge.data.readers import load_graph
t1 = time.perf_counter(); g = load_graph({data!r}); t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "entities": g.num_entities}}))
"""
TEXTS = """
import time, json
from vlkge.data.readers import load_graph
from vlkge.encoders import load_encoder
g = load_graph({data!r})
texts = list(dict.fromkeys(t for t in (g.text(i).strip() for i in range(g.num_entities)) if t))
texts = texts[-{n}:]  # artworks' titles come after the vocabularies
enc = load_encoder({spec!r}, device="cpu")
enc.encode_texts(["x"])  # model load, not counted
c0, t0 = time.process_time(), time.perf_counter()
enc.encode_texts(texts)
print(json.dumps({{"texts": len(texts), "s": time.perf_counter() - t0, "cpu": time.process_time() - c0}}))
"""
PREDICT = """
import time, json; t0 = time.perf_counter()
import vlkge
t1 = time.perf_counter(); run = vlkge.load_run({run!r}, data={data!r}); t2 = time.perf_counter()
g = run.graph; h = g.split("test")[0]
run.predict_tails(g.entities[int(h[0])], g.relations[int(h[1])], k=10); t3 = time.perf_counter()
run.predict_tails(g.entities[int(h[0])], g.relations[int(h[1])], k=10); t4 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_run_s": t2 - t1, "first_predict_ms": 1000 * (t3 - t2),
                   "second_predict_ms": 1000 * (t4 - t3)}}))
"""
RANK = """
import time, json, resource
import torch, vlkge
from vlkge.evaluation.ranking import KnownIndex, rank_queries
run = vlkge.load_run({run!r}, data={data!r}); g = run.graph; E = run.entity_vectors
q = g.split("test")[:{n}]
known = KnownIndex(g.all_triples(), g.num_relations, "tail")
r0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
with torch.no_grad():
    rank_queries(lambda a, r: run.model.score_tails(a, r, E), q[:, 0], q[:, 1], q[:, 2], known, g.num_entities)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"queries": len(q), "entities": g.num_entities, "s": time.perf_counter() - t0,
                   "user": r1.ru_utime - r0.ru_utime, "sys": r1.ru_stime - r0.ru_stime}}))
"""
OMP = """
import time, json, os, resource
{first}
import torch
torch.manual_seed(0)
E = torch.randn(81225, 64, requires_grad=True); opt = torch.optim.Adam([E], lr=0.01)
steps = []
for _ in range(60):
    t = time.perf_counter()
    idx = torch.randint(0, 81225, (512,)); neg = torch.randint(0, 81225, (512, 64))
    loss = torch.nn.functional.softplus(-(E[idx] * E[idx]).sum(-1)).mean() + \\
        torch.nn.functional.softplus((E[idx][:, None] * E[neg]).sum(-1)).mean()
    opt.zero_grad(); loss.backward(); opt.step(); steps.append(time.perf_counter() - t)
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"step_ms": 1000 * sorted(steps[10:])[25],  # median of 50
                   "threads": torch.get_num_threads(), "policy": os.environ.get("OMP_WAIT_POLICY")}}))
"""


def child(code: str, pythonpath: str, env: dict | None = None, args: list[str] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; its JSON line plus whole-process wall and CPU seconds."""
    # OMP_WAIT_POLICY as a user's shell has it (common.py set it here): vlkge sets it, or not
    e = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    e.update({"PYTHONPATH": pythonpath, **(env or {})})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # cwd = the tree under test: ``python -c`` / ``-m`` put the cwd first on sys.path
    p = subprocess.run([sys.executable, *(args or ["-c", code])], capture_output=True, text=True, env=e,
                       cwd=pythonpath, timeout=3600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise SystemExit(f"child failed ({p.returncode}):\n{p.stderr[-2000:]}")
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    out = json.loads(lines[-1]) if lines and code else {}
    out.update(wall=wall, cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
               sys_cpu=after.ru_stime - before.ru_stime)
    return out


def export(rev: str) -> str:
    d = tempfile.mkdtemp(prefix=f"vlkge-{rev}-")
    subprocess.run(f"git -C {ROOT} archive {rev} vlkge | tar -x -C {d}", shell=True, check=True)
    return d


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a run trained on wikiart-labels")
    ap.add_argument("--before", default="134b76c", help="git revision to compare against")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--rank-queries", type=int, default=1000)
    ap.add_argument("--skip-text", action="store_true")
    args = ap.parse_args()
    old, new = export(args.before), ROOT
    args.run = str(Path(args.run).resolve())
    cache = tempfile.mkdtemp(prefix="vlkge-bench-cache-")
    warm_env = {"VLKGE_CACHE": cache, "OMP_NUM_THREADS": "1"}
    print(f"uptime at start: {uptime()}")
    res: dict[str, list] = {}

    def add(key: str, r: dict) -> None:
        res.setdefault(key, []).append(r)
        print(f"  {key}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()),
              flush=True)

    # graph loading: before (always parses), now cold (fresh cache) and warm
    child(LOAD.format(data=str(LABELS)), new, warm_env)  # fills the warm cache
    for i in range(args.repeat):
        add("load before", child(LOAD.format(data=str(LABELS)), old, warm_env))
        add("load cold", child(LOAD.format(data=str(LABELS)), new,
                               {**warm_env, "VLKGE_CACHE": tempfile.mkdtemp(prefix="vlkge-cold-")}))
        add("load warm", child(LOAD.format(data=str(LABELS)), new, warm_env))
    # evaluate (whole CLI process), load_run + first predict_tails, full-entity ranking
    cli = ["-m", "vlkge", "evaluate", args.run, "--data", str(LABELS)]
    for i in range(args.repeat):
        add("evaluate before", child("", old, warm_env, cli))
        add("evaluate now", child("", new, warm_env, cli))
        add("predict before", child(PREDICT.format(run=args.run, data=str(LABELS)), old, warm_env))
        add("predict now", child(PREDICT.format(run=args.run, data=str(LABELS)), new, warm_env))
        add("rank before", child(RANK.format(run=args.run, data=str(LABELS), n=args.rank_queries), old, warm_env))
        add("rank now", child(RANK.format(run=args.run, data=str(LABELS), n=args.rank_queries), new, warm_env))
    # OpenMP policy lost (torch imported first): spinning vs the one-thread fallback vs passive
    for i in range(args.repeat):
        add("omp vlkge first", child(OMP.format(first="import vlkge"), new))
        add("omp torch first, before", child(OMP.format(first="import torch, vlkge"), old))
        add("omp torch first, now", child(OMP.format(first="import torch, vlkge"), new))
    if not args.skip_text:
        for data, n in ((MINI, 100000), (LABELS, 5000)):
            for spec in ("offline:transformer", "offline:static"):
                env = {"VLKGE_CACHE": tempfile.mkdtemp(prefix="vlkge-text-"), "OMP_NUM_THREADS": "2"}
                add(f"texts {data.name} {spec} cold", child(TEXTS.format(data=str(data), n=n, spec=spec), new, env))
                if spec == "offline:static":
                    add(f"texts {data.name} {spec} warm", child(TEXTS.format(data=str(data), n=n, spec=spec), new, env))
    print(f"uptime at end: {uptime()}")
    print("\nmedians (wall s / CPU s of the whole process):")
    for k, rows in res.items():
        extra = {x: med(rows, x) for x in rows[0] if x not in ("wall", "cpu", "sys_cpu") and isinstance(rows[0][x], (int, float))}
        print(f"  {k}: wall {med(rows, 'wall'):.2f} s, CPU {med(rows, 'cpu'):.2f} s (sys {med(rows, 'sys_cpu'):.2f}); "
              + ", ".join(f"{x} {v:.3f}" for x, v in extra.items()))


if __name__ == "__main__":
    main()
