"""Start-up as users pay it (issues 17, 21): ``load_run`` + the first ``predict_tails`` on a run,
and ``vlkge --help``, each a whole child process, this tree against another revision, interleaved
A B A B; ``python -c 'import torch'`` beside them is the floor any torch model pays. CPU seconds (user + system, the kernel's child rusage) beside wall; the ratio is
before / now of each pair's CPU seconds, median and min-max over the pairs.

    python benchmarks/startup.py --run RUN [--before REV] [--repeat 5]

RUN: a run trained on ../shared/data/wikiart-labels (see museum_data.py).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, git_rev, uptime
from museum_data import LABELS, PREDICT, child, export

HELP = ["-m", "vlkge", "--help"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a run trained on wikiart-labels")
    ap.add_argument("--data", default=str(LABELS), help="the run's graph")
    ap.add_argument("--before", default="main", help="git revision to compare against")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved pairs per measurement")
    args = ap.parse_args()
    trees = {"before": export(args.before), "now": ROOT}
    for tree in trees.values():  # bytecode for both, as a user's first run leaves it (even under PYTHONDONTWRITEBYTECODE)
        subprocess.run([sys.executable, "-m", "compileall", "-q", f"{tree}/vlkge"], check=True)
    # a parsed-graph cache per side, warm after the first child: its key covers the reader code,
    # so two trees sharing one would evict each other's entry on every load
    cache = tempfile.mkdtemp(prefix="vlkge-startup-cache-")
    env = {side: {"OMP_NUM_THREADS": "1", "VLKGE_CACHE": f"{cache}/{side}"} for side in trees}
    predict = PREDICT.format(run=str(Path(args.run).resolve()), data=args.data)
    # the floor: the interpreter and torch alone, which any torch model pays
    jobs = {"load_run + first predict_tails": (predict, None), "vlkge --help": ("", HELP),
            "python -c 'import torch'": ("", ["-c", "import torch"])}
    for code, argv in jobs.values():  # warm each side's graph cache and both trees' files
        for side, tree in trees.items():
            child(code, tree, env[side], argv)
    print(f"uptime at start: {uptime()}")
    rows: dict[tuple[str, str], list[dict]] = {}
    for i in range(args.repeat):
        for job, (code, argv) in jobs.items():
            for side in (("before", "now") if i % 2 == 0 else ("now", "before")):  # A B B A: no side always first
                r = child(code, trees[side], env[side], argv)
                rows.setdefault((job, side), []).append(r)
                print(f"  {job}, {side}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()), flush=True)
    print(f"uptime at end: {uptime()}\n")
    print(f"{args.repeat} pairs, before = {args.before} ({git_rev(args.before)}), now = {git_rev()} + working tree; medians, wall s / CPU s of the whole process")
    for job in jobs:
        b, n = rows[(job, "before")], rows[(job, "now")]
        ratios = [x["cpu"] / y["cpu"] for x, y in zip(b, n)]
        parts = [f"{side} wall {statistics.median(r['wall'] for r in rs):.2f} / CPU "
                 f"{statistics.median(r['cpu'] for r in rs):.2f}" for side, rs in (("before", b), ("now", n))]
        inner = {k: statistics.median(r[k] for r in n) for k in n[0] if k not in ("wall", "cpu", "sys_cpu")}
        print(f"  {job}: {'; '.join(parts)}; CPU before/now {statistics.median(ratios):.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f})" + "".join(f"; now {k} {v:.3f}" for k, v in inner.items()))


if __name__ == "__main__":
    main()
