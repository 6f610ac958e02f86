"""Reproduce the paper's tables on the shared data: WN9-IMG (structural vs structural+text for the
four scorers) and wikiart-mini (zero-shot vs structural vs VL-KGE, per relation), plus feature
extraction throughput. Every model is trained through the CLI with default hyperparameters.

    python benchmarks/paper_tables.py --wn9 --wikiart --features [--out-md benchmarks/RESULTS.md]
        [--work DIR]

With ``--work DIR`` the runs are kept there and the script is resumable: a run whose metrics.json
exists is reused (its wall and CPU seconds come from DIR/NAME.timing.json), an interrupted one is
trained afresh. Each finished wikiart row is also written to DIR/wikiart.md at once, so a table that
cannot finish still has its finished rows. Export one ``VLKGE_CACHE`` so every run shares one
feature cache (features are extracted by the first run only).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SCORERS = ["transe", "distmult", "complex", "rotate"]
PAPER_WN9 = {"transe": .904, "distmult": .904, "complex": .900, "rotate": .910}
PAPER_WN9_VL = {"distmult": .935}  # VL-DistMult with CLIP image and text features


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def vlkge(*args: str, env: dict | None = None) -> tuple[dict, str]:
    """Run the CLI; its wall and CPU seconds and the load average at its start, and its stdout."""
    t, c, load = time.time(), children_cpu_s(), os.getloadavg()[0]
    p = subprocess.run([sys.executable, "-m", "vlkge", *args], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    if p.returncode != 0:
        raise SystemExit(f"vlkge {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return {"wall_s": time.time() - t, "cpu_s": children_cpu_s() - c, "load": load}, p.stdout


def train(data: Path, out: Path, *flags: str) -> tuple[dict, dict, str]:
    """Train through the CLI into ``out``, or reuse the finished run there."""
    cmd = ["train", "--data", str(data), "--out", str(out), "--quiet", *flags]
    timing_file = out.parent / f"{out.name}.timing.json"
    if (out / "metrics.json").is_file() and timing_file.is_file():
        timing = json.loads(timing_file.read_text())
    else:
        shutil.rmtree(out, ignore_errors=True)  # an interrupted run: start it again
        timing, _ = vlkge(*cmd)
        timing_file.write_text(json.dumps(timing))
    metrics = json.loads((out / "metrics.json").read_text())
    return metrics, timing, "vlkge " + " ".join(cmd).replace(str(out), "RUN")


def secs(timing: dict) -> str:
    return f"{timing['wall_s']:.0f} | {timing['cpu_s']:.0f} | {timing['load']:.1f}"


def fmt(m: dict) -> str:
    return f"{m['mrr']:.3f} | {m['hits@1']:.3f} | {m['hits@3']:.3f} | {m['hits@10']:.3f}"


def wn9(work: Path, scorers: list[str], mods_list: tuple[str, ...]) -> list[str]:
    data = SHARED / "wn9-img"
    lines = ["### WN9-IMG (filtered, both directions, filter = train+val+test)", "",
             "Images are not available here, so the VL rows use the text modality (WordNet glosses) "
             "through the offline encoder (MiniLM). Each run is scored under two filters: the standard "
             "(directed) one, and the VL-KGE authors' released one (`--filter undirected`: a candidate "
             "linked to the query entity by the relation in either direction is filtered), under which "
             "the paper's figures were measured.", "",
             "| scorer | modalities | MRR | H@1 | H@10 | MRR, authors' filter | H@1 | H@10 "
             "| paper | train+eval s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    cmds = []
    for s in scorers:
        for mods in mods_list:
            run = work / f"wn9-{s}-{mods.replace(',', '+')}"
            m, timing, cmd = train(data, run, "--model", s, "--modalities", mods, "--encoder", "offline")
            _, out = vlkge("evaluate", str(run), "--filter", "undirected", "--json")
            u, d = json.loads(out), m["test"]
            lines.append(f"| {s} | {mods} | {d['mrr']:.3f} | {d['hits@1']:.3f} | {d['hits@10']:.3f} "
                         f"| {u['mrr']:.3f} | {u['hits@1']:.3f} | {u['hits@10']:.3f} "
                         f"| {PAPER_WN9[s] if mods == 'structural' else PAPER_WN9_VL.get(s, '-')} "
                         f"| {timing['wall_s']:.0f} |")
            cmds += [cmd, "vlkge evaluate RUN --filter undirected"]
            print(lines[-1], flush=True)
    return lines + ["", "Commands:", "", "```", *dict.fromkeys(cmds), "```", ""]


def wikiart(work: Path, scorers: list[str], structural: bool) -> list[str]:
    data = SHARED / "wikiart-mini"
    rels = ["isCreatedByArtist", "hasStyle", "belongsToGenre", "isCreatedInDecade"]
    head = ["### wikiart-mini (inductive: test artworks never seen in training; tail prediction over "
            "per-relation candidate pools)", "",
            "| model | overall MRR | H@1 | H@3 | H@10 | " + " | ".join(f"{r} MRR" for r in rels)
            + " | wall s | CPU s | load at start |",
            "|---|---|---|---|---|" + "---|" * len(rels) + "---|---|---|"]
    rows: dict[str, str] = {}
    cmds: dict[str, str] = {}
    # the table's order; the training order below puts VL first (what the features change)
    order = [f"{s} structural" for s in scorers if structural] + ["zero-shot"] + [f"VL-{s}" for s in scorers]

    def emit() -> list[str]:
        done = [rows[k] for k in order if k in rows]
        return head + done + ["", "Commands:", "", "```", *(cmds[k] for k in order if k in cmds), "```", ""]

    def row(key: str, name: str, m: dict, timing: dict, cmd: str) -> None:
        per = m["per_relation"]
        rows[key] = (f"| {name} | {fmt(m)} | " + " | ".join(f"{per[r]['mrr']:.3f}" if r in per else "-" for r in rels)
                     + f" | {secs(timing)} |")
        cmds[key] = cmd
        print(rows[key], flush=True)
        (work / "wikiart.md").write_text("\n".join(emit()) + "\n")

    # ComplEx first: the paper's VL-KGE scorer, and the zero-shot row comes with it
    for s in sorted(scorers, key=lambda s: s != "complex"):
        run = work / f"wa-{s}-vl"
        m, timing, cmd = train(data, run, "--model", s)
        row(f"VL-{s}", f"VL-{s} (offline encoder{', the default' if s == 'rotate' else ''})", m["test"], timing, cmd)
        if s == "complex":
            timing, out = vlkge("evaluate", str(run), "--zero-shot", "--json")
            z = json.loads(out)
            row("zero-shot", f"zero-shot ({z['zero_shot']})", z, timing, f"vlkge evaluate {run.name} --zero-shot --json")
    for s in scorers if structural else []:
        m, timing, cmd = train(data, work / f"wa-{s}-struct", "--model", s, "--modalities", "structural")
        row(f"{s} structural", f"{s} structural", m["test"], timing, cmd)
    return emit()


def features(work: Path) -> list[str]:
    data = SHARED / "wikiart-mini"
    code = ("import sys, time, json; from vlkge.data.readers import load_graph; "
            "from vlkge.encoders import load_encoder, extract_features; "
            f"g = load_graph({str(data)!r}); enc = load_encoder('offline'); out = {{}}\n"
            "for m in ('visual', 'textual'):\n"
            "    for run in ('cold', 'warm'):\n"
            "        t = time.time(); r = extract_features(g, enc, m, progress=False)\n"
            "        out[f'{m}-{run}'] = {'s': time.time() - t, **r.stats}\n"
            "print(json.dumps(out))")
    env = {"VLKGE_CACHE": str(work / "cache")}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env})
    if p.returncode:
        raise SystemExit(p.stderr[-2000:])
    res = json.loads(p.stdout.strip().splitlines()[-1])
    lines = ["### Feature extraction on wikiart-mini (offline encoder, fresh cache, 2 CPU cores)", "",
             "| modality | run | items | computed | cache hits | seconds | items/s |", "|---|---|---|---|---|---|---|"]
    for k, v in res.items():
        m, run = k.split("-")
        items = v.get("items", v.get("computed", 0) + v.get("hits", 0))
        lines.append(f"| {m} | {run} | {items} | {v.get('computed')} | {v.get('hits')} | {v['s']:.1f} | "
                     f"{items / max(v['s'], 1e-9):.0f} |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wn9", action="store_true")
    ap.add_argument("--wikiart", action="store_true")
    ap.add_argument("--features", action="store_true")
    ap.add_argument("--scorers", default=",".join(SCORERS), help="comma list (both tables)")
    ap.add_argument("--wn9-modalities", default="structural,structural+textual",
                    help="comma list of modality sets, '+' inside a set")
    ap.add_argument("--no-structural-wikiart", action="store_true", help="skip the structural-only wikiart rows")
    ap.add_argument("--out-md", type=Path, help="replace the '## Paper tables' section of this file")
    ap.add_argument("--work", type=Path, help="keep the runs here and reuse finished ones (default: a temporary "
                                              "folder, removed at the end)")
    args = ap.parse_args()
    if not SHARED.exists():
        raise SystemExit(f"{SHARED} is not available")
    lines = ["## Paper tables", "", f"Measured {time.strftime('%Y-%m-%d')} on this 2-core CPU machine "
             f"(`python benchmarks/paper_tables.py {' '.join(sys.argv[1:])}`); load average at start: "
             f"{os.getloadavg()[0]:.1f}.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.features:
            lines += features(work)
        scorers = args.scorers.split(",")
        if args.wn9:
            lines += wn9(work, scorers, tuple(m.replace("+", ",") for m in args.wn9_modalities.split(",")))
        if args.wikiart:
            lines += wikiart(work, scorers, not args.no_structural_wikiart)
    text = "\n".join(lines)
    print(text)
    if args.out_md:
        old = args.out_md.read_text() if args.out_md.exists() else "# Results\n"
        start = old.find("## Paper tables")
        if start >= 0:
            end = old.find("\n## ", start + 5)
            old = old[:start] + (old[end + 1:] if end >= 0 else "")
        args.out_md.write_text(old.rstrip() + "\n\n" + text + "\n")


if __name__ == "__main__":
    main()
