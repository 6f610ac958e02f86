"""vlkge vs PyKEEN on UMLS and Kinships: same model, dim, epochs, batch size, negatives, optimizer
and learning rate, both libraries in one process, run back to back.

Reports, for each library: end-to-end wall time (data loading + training + filtered test
evaluation), training triples/s and filtered realistic MRR ("both" directions, filter = train +
val + test), and the vlkge/PyKEEN speed ratio.

Caveats printed with the table:
* vlkge's negative sampling is *shared*: each batch draws k negative entities and every positive
  is contrasted with all k of them as tail and as head corruptions (2k negatives per positive, two
  dense [B, k] products). PyKEEN's sLCWA "basic" sampler draws k corruptions per positive (head or
  tail, one each).
* vlkge's ``train`` also evaluates on validation at the last epoch (early-stopping check), writes
  checkpoints, and evaluates val as well as test at the end; all of that is inside its wall time.
* PyKEEN evaluates with batch size {a.eval_batch_size} (`--eval-batch-size`; its automatic CPU choice is 32).
* PyKEEN's DistMult keeps its own defaults: entity vectors constrained to unit L2 norm and an L2
  relation regularizer (weight 0.1); vlkge's DistMult has neither (``reg=0``).

    python benchmarks/vs_pykeen.py                      # headline (UMLS) + Kinships
    python benchmarks/vs_pykeen.py --dataset umls --repeat 3 --write-results
    python benchmarks/vs_pykeen.py --cross-check       # evaluator agreement only
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, git_rev, load_avg, machine, md_table, uptime, write_section  # noqa: E402

import torch  # noqa: E402

PYKEEN_NAMES = {"umls": "UMLS", "kinships": "Kinships"}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "## vlkge vs PyKEEN"
HEADLINE = dict(dataset="umls", model="distmult", dim=128, epochs=100, batch_size=256, negatives=1, lr=0.01)
PYKEEN_MODELS = {"distmult": "DistMult", "transe": "TransE", "complex": "ComplEx", "rotate": "RotatE"}


def quiet_pykeen() -> None:
    for name in ("pykeen", "torch_max_mem", "class_resolver"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def check_same_data(dataset: str) -> dict:
    """Both libraries read the same files: same triple counts per split and same triple sets."""
    from pykeen import datasets as pkd
    from vlkge.data.readers import load_graph
    ds = pkd.get_dataset(dataset=PYKEEN_NAMES[dataset])
    g = load_graph(f"pykeen:{dataset}")
    out = {}
    for ours, theirs in (("train", ds.training), ("val", ds.validation), ("test", ds.testing)):
        a = g.split(ours)
        labeled = theirs.label_triples(theirs.mapped_triples)
        pk = {tuple(x) for x in labeled.tolist()}
        mine = {(g.entities[h], g.relations[r], g.entities[t]) for h, r, t in a.tolist()}
        if len(a) != len(theirs.mapped_triples) or pk != mine:
            raise SystemExit(f"{dataset} {ours}: vlkge has {len(a)} triples, PyKEEN {len(theirs.mapped_triples)} "
                             f"(sets equal: {pk == mine})")
        out[ours] = len(a)
    out["entities"], out["relations"] = g.num_entities, g.num_relations
    return out


def run_pykeen(p: dict, seed: int) -> dict:
    from pykeen.pipeline import pipeline
    t0 = time.perf_counter()
    res = pipeline(
        dataset=PYKEEN_NAMES[p["dataset"]],
        model=PYKEEN_MODELS[p["model"]],
        model_kwargs=dict(embedding_dim=p["dim"]),
        training_loop="sLCWA",
        negative_sampler="basic",
        negative_sampler_kwargs={"num_negs_per_pos": p["negatives"]},
        loss="softplus",
        optimizer="Adam",
        optimizer_kwargs=dict(lr=p["lr"]),
        training_kwargs=dict(num_epochs=p["epochs"], batch_size=p["batch_size"], use_tqdm=False),
        evaluator="rankbased",
        evaluation_kwargs=dict(use_tqdm=False, batch_size=p["eval_batch_size"]),
        random_seed=seed,
        device="cpu",
    )
    wall = time.perf_counter() - t0
    n_train = res.training.num_triples if hasattr(res, "training") else None
    if n_train is None:
        from pykeen import datasets as pkd
        n_train = pkd.get_dataset(dataset=PYKEEN_NAMES[p["dataset"]]).training.num_triples
    mr = res.metric_results
    return {"wall_s": wall, "train_s": res.train_seconds, "eval_s": res.evaluate_seconds,
            "tps": n_train * p["epochs"] / res.train_seconds,
            "mrr": float(mr.get_metric("both.realistic.inverse_harmonic_mean_rank")),
            "hits@10": float(mr.get_metric("both.realistic.hits_at_10"))}


def run_ours(p: dict, seed: int) -> dict:
    from vlkge.data.readers import load_graph
    from vlkge.training.config import TrainConfig
    from vlkge.pipeline import train_and_evaluate
    t0 = time.perf_counter()
    g = load_graph(f"pykeen:{p['dataset']}")
    cfg = TrainConfig(model=p["model"], dim=p["dim"], epochs=p["epochs"], batch_size=p["batch_size"],
                      negatives=p["negatives"], negative_sampling="uniform", optimizer="adam", lr=p["lr"],
                      modalities=["structural"], eval_every=p["epochs"], patience=10**9,
                      eval_protocol="both", seed=seed, device="cpu")
    seen = {}

    def cb(epoch, total, info):
        if epoch == total:
            seen["train_s"] = info["elapsed_s"]

    with tempfile.TemporaryDirectory() as d:
        metrics = train_and_evaluate(g, cfg, Path(d) / "run", progress=False, callback=cb)
    wall = time.perf_counter() - t0
    train_s = seen["train_s"]
    return {"wall_s": wall, "train_s": train_s, "eval_s": wall - train_s,
            "tps": len(g.split("train")) * p["epochs"] / train_s,
            "mrr": float(metrics["test"]["mrr"]), "hits@10": float(metrics["test"]["hits@10"])}


def compare(p: dict, repeat: int, processes: bool = False) -> dict:
    """Alternate the order (ours first on odd repeats) so slow drift in machine load hits both.
    ``processes``: each run is a fresh interpreter (start-up and imports count, as for a user)."""
    runs = {"pykeen": [], "vlkge": []}
    fns = ({"pykeen": process_pykeen, "vlkge": process_vlkge} if processes else
           {"pykeen": run_pykeen, "vlkge": run_ours})
    for i in range(repeat):
        order = ("pykeen", "vlkge") if i % 2 == 0 else ("vlkge", "pykeen")
        for lib in order:
            r = fns[lib](p, seed=i)
            r["load"] = load_avg()
            runs[lib].append(r)
            print(f"  [{p['dataset']} rep {i + 1}/{repeat}] {lib:7s} wall {r['wall_s']:7.2f}s  train {r['train_s']:7.2f}s "
                  f"({r['tps']:9,.0f} triples/s)  eval+rest {r['eval_s']:6.2f}s  MRR {r['mrr']:.4f}  "
                  f"H@10 {r['hits@10']:.4f}  cpu {r.get('cpu_s', float('nan')):6.2f}s  load {r['load']}", flush=True)
    return runs


PYKEEN_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import vs_pykeen as v
v.quiet_pykeen()
print("RESULT " + json.dumps(v.run_pykeen(json.loads(sys.argv[2]), int(sys.argv[3]))))
"""


def run_process(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """(finished process, wall s, CPU s of it and its children)."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return proc, wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def process_pykeen(p: dict, seed: int) -> dict:
    proc, wall, cpu = run_process([sys.executable, "-c", PYKEEN_CHILD, str(Path(__file__).resolve().parent),
                                   json.dumps(p), str(seed)])
    r = json.loads(proc.stdout.split("RESULT ", 1)[1])
    return {**r, "wall_s": wall, "cpu_s": cpu, "eval_s": wall - r["train_s"]}


def process_vlkge(p: dict, seed: int) -> dict:
    """``vlkge train`` as a user runs it: one process that loads, trains, evaluates, calibrates and
    prints the test metrics (no second process to evaluate)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "run"
        _, wall, cpu = run_process([
            sys.executable, "-m", "vlkge", "train", "--data", f"pykeen:{p['dataset']}", "--out", str(out),
            "--model", p["model"], "--dim", str(p["dim"]), "--epochs", str(p["epochs"]),
            "--batch-size", str(p["batch_size"]), "--negatives", str(p["negatives"]),
            "--negative-sampling", "uniform", "--optimizer", "adam", "--lr", str(p["lr"]),
            "--modalities", "structural", "--eval-every", str(p["epochs"]), "--patience", str(10**9),
            "--eval-protocol", "both", "--seed", str(seed), "--device", "cpu", "--quiet"])
        m = json.loads((out / "metrics.json").read_text())
    train_s = m["history"][-1]["elapsed_s"]
    n_train = p["n_train"]
    return {"wall_s": wall, "cpu_s": cpu, "train_s": train_s, "eval_s": wall - train_s,
            "tps": n_train * p["epochs"] / train_s, "mrr": float(m["test"]["mrr"]),
            "hits@10": float(m["test"]["hits@10"])}


def summary_rows(p: dict, runs: dict) -> list[list]:
    med = {lib: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "train_s", "eval_s", "tps", "mrr", "hits@10")}
           for lib, rs in runs.items()}
    ratios = [pk["wall_s"] / us["wall_s"] for pk, us in zip(runs["pykeen"], runs["vlkge"])]
    cpu_ratios = [pk["cpu_s"] / us["cpu_s"] for pk, us in zip(runs["pykeen"], runs["vlkge"]) if "cpu_s" in us]
    rows = []
    for lib in ("pykeen", "vlkge"):
        m = med[lib]
        rows.append([p["dataset"], lib, m["wall_s"], m["train_s"], m["eval_s"], round(m["tps"]), m["mrr"], m["hits@10"],
                     f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})" if lib == "vlkge" else "1×",
                     statistics.median(r["cpu_s"] for r in runs[lib]) if cpu_ratios else "-",
                     (f"{statistics.median(cpu_ratios):.2f}× ({min(cpu_ratios):.2f}–{max(cpu_ratios):.2f})"
                      if lib == "vlkge" else "1×") if cpu_ratios else "-"])
    return rows


HEADER = ["dataset", "library", "wall s", "train s", "eval+rest s", "train triples/s", "test MRR (both, filt.)",
          "H@10", "end-to-end speed vs PyKEEN (median, min–max of pairs)", "CPU s", "CPU ratio"]


# --------------------------------------------------------------------------- evaluator cross-check
def cross_check_eval(dataset: str = "umls", dim: int = 32, seed: int = 0) -> dict:
    """Feed PyKEEN's RankBasedEvaluator and vlkge's evaluate_ranking the same DistMult scores
    (fixed random embeddings) on the test split, filtered by train+val+test; return both MRRs."""
    from pykeen import datasets as pkd
    from pykeen.evaluation import RankBasedEvaluator
    from pykeen.models import DistMult
    from vlkge.data.readers import load_graph
    from vlkge.evaluation.ranking import evaluate_ranking
    quiet_pykeen()
    torch.manual_seed(seed)
    ds = pkd.get_dataset(dataset=PYKEEN_NAMES[dataset])
    model = DistMult(triples_factory=ds.training, embedding_dim=dim, entity_constrainer=None,
                     regularizer=None, random_seed=seed)
    model.eval()
    ev = RankBasedEvaluator(filtered=True)
    res = ev.evaluate(model, ds.testing.mapped_triples, batch_size=256, use_tqdm=False,
                      additional_filter_triples=[ds.training.mapped_triples, ds.validation.mapped_triples])
    with torch.no_grad():
        E = model.entity_representations[0](indices=None).detach()
        R = model.relation_representations[0](indices=None).detach()
    g = load_graph(f"pykeen:{dataset}")
    e_map = torch.tensor([ds.training.entity_to_id[e] for e in g.entities])
    r_map = torch.tensor([ds.training.relation_to_id[r] for r in g.relations])
    E, R = E[e_map], R[r_map]  # reorder into vlkge's index space
    ours = evaluate_ranking(g, lambda h, r: (E[h] * R[r]) @ E.T, lambda t, r: (E[t] * R[r]) @ E.T,
                            split="test", protocol="both")
    out = {}
    for side, key in (("both", None), ("tail", "tail"), ("head", "head")):
        out[side] = {"pykeen": float(res.get_metric(f"{side}.realistic.inverse_harmonic_mean_rank")),
                     "vlkge": float((ours[key] if key else ours)["mrr"])}
    out["vlkge_count"] = int(ours["count"])
    return out


# --------------------------------------------------------------------------- RESULTS.md
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["umls", "kinships"], action="append",
                    help="repeatable; default: umls (headline) and kinships")
    ap.add_argument("--model", default=HEADLINE["model"], choices=list(PYKEEN_MODELS))
    ap.add_argument("--dim", type=int, default=HEADLINE["dim"])
    ap.add_argument("--epochs", type=int, default=HEADLINE["epochs"])
    ap.add_argument("--batch-size", type=int, default=HEADLINE["batch_size"])
    ap.add_argument("--negatives", type=int, default=HEADLINE["negatives"])
    ap.add_argument("--lr", type=float, default=HEADLINE["lr"])
    ap.add_argument("--eval-batch-size", type=int, default=256,
                    help="PyKEEN evaluation batch size (its CPU default is a conservative 32)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads for both libraries (0: torch default)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per library (order alternates); medians reported")
    ap.add_argument("--cross-check", action="store_true", help="only run the evaluator cross-check")
    ap.add_argument("--processes", action="store_true",
                    help="each run a fresh process (vlkge: `python -m vlkge train`; start-up and imports count)")
    ap.add_argument("--no-cross-check", action="store_true", help="skip the evaluator cross-check")
    ap.add_argument("--write-results", action="store_true", help=f"write the table into {RESULTS.name} '{SECTION}'")
    a = ap.parse_args(argv)
    quiet_pykeen()
    if a.threads:
        torch.set_num_threads(a.threads)

    if a.cross_check:
        print(cross_check_eval())
        return
    print(f"machine: {machine()}  git {git_rev()}\nuptime: {uptime()}")
    print("note: vlkge uses SHARED negatives (k entities per batch; each positive vs all k as head and as tail "
          "corruption); PyKEEN sLCWA 'basic' draws k corruptions per positive.")
    all_rows, counts = [], {}
    for ds in a.dataset or ["umls", "kinships"]:
        p = dict(dataset=ds, model=a.model, dim=a.dim, epochs=a.epochs, batch_size=a.batch_size,
                 negatives=a.negatives, lr=a.lr, eval_batch_size=a.eval_batch_size)
        counts[ds] = check_same_data(ds)
        p["n_train"] = counts[ds]["train"]
        print(f"{ds}: same triples in both libraries: {counts[ds]}")
        runs = compare(p, a.repeat, processes=a.processes)
        all_rows += summary_rows(p, runs)
    table = md_table(HEADER, all_rows)
    xc = cross_check_eval() if not a.no_cross_check else None
    xc_line = "" if xc is None else (f"Evaluator cross-check (UMLS test, fixed random DistMult dim 32, same scores into both): "
               f"PyKEEN both/tail/head realistic MRR {xc['both']['pykeen']:.6f}/{xc['tail']['pykeen']:.6f}/"
               f"{xc['head']['pykeen']:.6f}, vlkge {xc['both']['vlkge']:.6f}/{xc['tail']['vlkge']:.6f}/"
               f"{xc['head']['vlkge']:.6f}.")
    print("\n" + table + "\n\n" + xc_line)
    print(f"uptime after: {uptime()}")
    if a.write_results:
        cmd = "python benchmarks/vs_pykeen.py " + " ".join(sys.argv[1:] if argv is None else argv)
        text = f"""{SECTION}

Command: `{cmd.strip()}` (git {git_rev()}, {machine()}).
Load (`uptime`) before: `{_load_before}`; after: `{uptime()}` — 2 shared cores, so compare ratios (each
row pair ran back to back in one process, order alternating), not absolute seconds.

Setup: {a.model}, dim {a.dim}, {a.epochs} epochs, batch {a.batch_size}, {a.negatives} negative(s), Adam lr {a.lr},
logistic (softplus) loss, no early stopping; test MRR is filtered (train+val+test) realistic MRR over head and
tail prediction. Triple counts (identical in both libraries, checked triple by triple): {counts}.

{table}

* wall = data loading + training + evaluation, whole `pipeline(...)` call vs. `load_graph` + `train(...)`.
  vlkge's eval+rest also includes a validation evaluation at the last epoch, checkpoint writes, and the final
  val **and** test evaluation (PyKEEN evaluates test only).
* Negatives differ in kind: vlkge shares k negative entities across the batch (each positive vs all k as head
  and as tail corruptions = 2k negatives per positive); PyKEEN's sLCWA basic sampler draws k per positive.
* PyKEEN evaluates with batch size {a.eval_batch_size} (`--eval-batch-size`; its automatic CPU choice is 32).
* PyKEEN's DistMult keeps its defaults (unit-norm entity constraint, L2 relation regularizer 0.1); vlkge none.
* {xc_line}
"""
        write_section(text)
        print(f"wrote {RESULTS}")


_load_before = uptime()

if __name__ == "__main__":
    main()
