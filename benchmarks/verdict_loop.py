"""The curation loop of issue 19 on a real collection: does a run trained on curators' verdicts
(`vlkge train --verdicts DB --previous RUN`) rank the audited relation better?

Protocol (no figure is measured on a triple a verdict revealed):

* The test artworks of ``--relation`` are split in two halves by a fixed seed (independent of the
  training seed). Half A's links of that relation are taken out of the graph: these artworks are
  "undocumented" in the catalogue, and their true answers are what the simulated curator knows.
  Half B keeps its test links: the untouched yardstick.
* ``before``: a run trained on that graph (default flags unless ``--epochs``).
* The Audit queue the app builds (``vlkge.app.audit_queue``, ordered by ``review_priority``) for
  the relation, ``--heads`` heads, one suggestion each. The curator accepts a suggestion when it is
  the true answer (half A: the hidden link; any other head: the graph's links) and rejects it
  otherwise; suggestions for half-B heads are left undecided (a verdict there would reveal part
  of the yardstick's answer). Verdicts go to an audit database like the app's.
* ``after``: the same graph, config and seed, trained with ``verdicts=DB, previous=before``, i.e.
  ``pipeline.train_run``, which is what ``vlkge train --verdicts DB --previous RUN`` calls.
* Reported: the relation's test MRR on half B (the run's own test figure; it is what config.json's
  ``verdicts.mrr`` records), and on the half-A heads whose suggestion was rejected (their true
  link is still hidden: only a wrong answer was revealed). Those heads were picked because the
  ``before`` model was wrong on them, so their ``before`` MRR is biased low; the ``control`` column
  ranks them with the other seed's ``before`` run (no verdicts), which shows how much of a rise is
  mere regression to the mean. Accepted half-A links were revealed: not measured.
* The judged artworks' other relations (style, genre, decade: links no verdict named), for the
  accepted heads, the rejected ones and half B: what a verdict should leave alone.
* The rejected heads' hidden links again with the rejected answers filtered out of the rankings:
  what a run that ranks a rejected link last gets (see vlkge.models.rejected).

    python benchmarks/verdict_loop.py --seeds 0,1 [--relation isCreatedByArtist] [--heads 100]
        [--epochs N] [--accepted-only] [--work /tmp/loop-verdicts] [--write-results]

Resumable: a finished run under ``--work`` is reused, not retrained. Use one ``VLKGE_CACHE`` for
all runs so features are extracted once.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import common  # noqa: F401  (sys.path, OMP_WAIT_POLICY before torch)
from common import git_rev, load_avg, write_section

import torch

from vlkge.app import audit_queue, run_card, verdicts_text
from vlkge.curation.audit import AuditStore
from vlkge.data.graph import Graph
from vlkge.data.readers import load_graph
from vlkge.evaluation.ranking import evaluate_model
from vlkge.pipeline import train_run
from vlkge.prediction.run import load_run
from vlkge.runs import CONFIG_FILE, METRICS_FILE, read_json
from vlkge.training.config import TrainConfig

DATA = Path(common.ROOT).parent / "shared" / "data" / "wikiart-mini"
TITLE = "## Verdict loop on wikiart-mini (issue 19)"
CURATOR = "simulated-curator"


def halves(g: Graph, relation: int, split_seed: int) -> tuple[set[int], set[int]]:
    """The test heads of ``relation`` in two halves (A: links hidden, judged; B: yardstick)."""
    test = g.split("test")
    heads = sorted(set(test[test[:, 1] == relation, 0].tolist()))
    random.Random(split_seed).shuffle(heads)
    return set(heads[: len(heads) // 2]), set(heads[len(heads) // 2:])


def without(g: Graph, relation: int, heads: set[int]) -> Graph:
    """``g`` with every link of ``relation`` from ``heads`` removed (all splits)."""
    h = torch.tensor(sorted(heads))
    return replace(g, triples={s: t[~((t[:, 1] == relation) & torch.isin(t[:, 0], h))] for s, t in g.triples.items()})


def with_test(g: Graph, triples: list[tuple[int, int, int]]) -> Graph:
    """``g`` whose test split is exactly ``triples`` (to rank hidden links)."""
    return replace(g, triples={**g.triples, "test": torch.tensor(triples, dtype=torch.long).reshape(-1, 3)})


def trained(graph: Graph, cfg: TrainConfig, out: Path, **kw) -> dict:
    """Train into ``out`` unless a finished run is there (an interrupted one is resumed); wall and
    CPU seconds of this training."""
    timing_file = out.parent / f"{out.name}.timing.json"
    if (out / METRICS_FILE).is_file():
        return read_json(timing_file) if timing_file.is_file() else {}
    t, c = time.perf_counter(), time.process_time()
    train_run(graph, cfg, out, progress=False, resume=(out / CONFIG_FILE).is_file(), **kw)
    timing = {"wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "load": load_avg()}
    timing_file.write_text(json.dumps(timing))
    return timing


def per_relation_mrr(run_dir: Path, graph: Graph, triples: list[tuple[int, int, int]],
                     known_false: list[tuple[int, int, int]] = ()) -> dict[str, float]:
    """Filtered MRR per relation of ``triples`` ranked by the run; ``known_false`` links are
    filtered out of the rankings too (as the known true ones are): what a run that never
    ranks a rejected link again would get, without learning anything."""
    if not triples:
        return {}
    run = load_run(run_dir, graph=graph)
    g = with_test(graph, triples)
    if known_false:
        g = replace(g, triples={**g.triples, "val": torch.cat([g.split("val"), torch.tensor(known_false).reshape(-1, 3)])})
    res = evaluate_model(run.model, g, split="test", protocol=run.protocol,
                         filter=run.train_config.eval_filter, entity_vectors=run.entity_vectors)
    return {r: v["mrr"] for r, v in res["per_relation"].items()}


def relation_mrr(run_dir: Path, graph: Graph, triples: list[tuple[int, int, int]], relation: str,
                 known_false: list[tuple[int, int, int]] = ()) -> float | None:
    return per_relation_mrr(run_dir, graph, triples, known_false).get(relation)


def other_links(graph: Graph, heads: set[int], relation: int) -> list[tuple[int, int, int]]:
    """The test links of ``heads`` other than ``relation``'s (what a verdict should leave alone)."""
    test = graph.split("test")
    keep = torch.isin(test[:, 0], torch.tensor(sorted(heads), dtype=torch.long)) & (test[:, 1] != relation)
    return [tuple(x) for x in test[keep].tolist()]


def one_seed(g: Graph, rel: str, seed: int, args, work: Path) -> dict:
    r = g.relation_index[rel]
    a, b = halves(g, r, args.split_seed)
    hidden = without(g, r, a)
    truth: dict[int, set[int]] = {}
    for h, rr, t in g.all_triples().tolist():
        if rr == r:
            truth.setdefault(h, set()).add(t)
    overrides = {"seed": seed} | ({"epochs": args.epochs} if args.epochs else {})
    cfg = TrainConfig(**overrides)
    before, after = work / f"before-s{seed}", work / f"after-s{seed}"
    t_before = trained(hidden, cfg, before)

    run0 = load_run(before, graph=hidden)
    queue = audit_queue(run0, rel, None, heads=args.heads)
    db = work / f"verdicts-s{seed}.sqlite"
    judged = {"accepted": [], "rejected": [], "left_b": 0}
    for c in queue:
        h, t = g.entity_index[c.head], g.entity_index[c.tail]
        if h in b:
            judged["left_b"] += 1
            continue
        judged["accepted" if t in truth.get(h, set()) else "rejected"].append((h, t))
    if not (after / METRICS_FILE).is_file():
        for suffix in ("", "-wal", "-shm"):  # the verdicts of an unfinished attempt: record them afresh
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        with AuditStore(db) as store:
            recorded = [("plausible", judged["accepted"])] + ([] if args.accepted_only else [("wrong", judged["rejected"])])
            for verdict, links in recorded:
                for h, t in links:
                    store.record(g.entities[h], rel, g.entities[t], verdict, CURATOR, run_id=before.name)
    t_after = trained(hidden, cfg, after, verdicts=db, previous=before)

    hidden_rejected = sorted({(h, r, t) for h, _ in judged["rejected"] if h in a for t in truth[h]})
    rejected_links = [(h, r, t) for h, t in judged["rejected"]]
    groups = {"accepted": {h for h, _ in judged["accepted"]}, "rejected": {h for h, _ in judged["rejected"]}, "b": b}
    others = {name: {run: per_relation_mrr(d, hidden, other_links(hidden, heads, r))
                     for run, d in (("before", before), ("after", after))} for name, heads in groups.items()}
    card = run_card(load_run(after, graph=hidden))
    m0, m1 = (read_json(d / METRICS_FILE)["test"] for d in (before, after))
    return {
        "seed": seed, "queue": len(queue), "queue_missing_link": sum(g.entity_index[c.head] in a for c in queue),
        "accepted": len(judged["accepted"]), "rejected": len(judged["rejected"]), "left_b": judged["left_b"],
        "half_a": len(a), "half_b": len(b), "b_triples": int(m0["per_relation"][rel]["count"]),
        "b_before": m0["per_relation"][rel]["mrr"], "b_after": m1["per_relation"][rel]["mrr"],
        "test_before": m0["mrr"], "test_after": m1["mrr"],
        "a_rejected_triples": len(hidden_rejected),
        "a_rejected_before": relation_mrr(before, hidden, hidden_rejected, rel),
        "a_rejected_after": relation_mrr(after, hidden, hidden_rejected, rel),
        "a_rejected_triples_list": hidden_rejected,
        "a_rejected_filtered_before": relation_mrr(before, hidden, hidden_rejected, rel, rejected_links),
        "a_rejected_filtered_after": relation_mrr(after, hidden, hidden_rejected, rel, rejected_links),
        "other_links": others,
        "config": card["verdicts"], "card_line": verdicts_text(card["verdicts"]),
        "timing": {"before": t_before, "after": t_after},
        "epochs_run": [len(read_json(d / METRICS_FILE).get("history") or []) for d in (before, after)],
    }


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def report(results: list[dict], args, controls: dict[int, float | None], rev: str) -> str:
    rel = args.relation
    flags = "default flags" if not args.epochs else f"default flags but `--epochs {args.epochs}`"
    if args.accepted_only:
        flags += "; only the accepted verdicts recorded (`--accepted-only`)"
    lines = [TITLE, "",
             f"`python benchmarks/verdict_loop.py {' '.join(sys.argv[1:])}` at {rev}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {flags}; relation `{rel}`; "
             f"test heads split by seed {args.split_seed}. Protocol in the script's docstring: half A's "
             f"links hidden and judged by a simulated curator who knows them, half B untouched.", "",
             f"| seed | queue | on heads lacking the link | accepted | rejected | left (half B) "
             f"| {rel} MRR, half B: before → after | half-A rejected heads: before → after (control) "
             f"| test MRR, all relations | config.json `verdicts` | wall / CPU s (before, after) |",
             "|---|---:|---:|---:|---:|---:|---|---|---|---|---|"]
    for res in results:
        cfg = res["config"] or {}
        said = (cfg.get("mrr") or {}).get(rel) or {}
        taught = (res["accepted"], 0 if args.accepted_only else res["rejected"])
        agrees = (cfg.get("accepted"), cfg.get("rejected")) == taught and \
            said.get("before") == res["b_before"] and said.get("after") == res["b_after"]
        tm = {k: v or {"wall_s": float("nan"), "cpu_s": float("nan")} for k, v in res["timing"].items()}
        lines.append(
            f"| {res['seed']} | {res['queue']} | {res['queue_missing_link']} | {res['accepted']} | {res['rejected']} "
            f"| {res['left_b']} | {fmt(res['b_before'])} → **{fmt(res['b_after'])}** ({res['b_triples']} triples) "
            f"| {fmt(res['a_rejected_before'])} → **{fmt(res['a_rejected_after'])}** "
            f"({fmt(controls.get(res['seed']))}; {res['a_rejected_triples']} triples) "
            f"| {fmt(res['test_before'])} → {fmt(res['test_after'])} "
            f"| {'agrees' if agrees else 'DIFFERS: ' + json.dumps(cfg.get('mrr'))} "
            f"| {tm['before']['wall_s']:.0f} / {tm['before']['cpu_s']:.0f}, {tm['after']['wall_s']:.0f} / "
            f"{tm['after']['cpu_s']:.0f} |")
    rels = sorted({x for res in results for g in res["other_links"].values() for x in g["before"]})
    lines += ["", "The other relations' test MRR of the judged artworks (accepted / rejected) and of half B, "
              "before → after; and the rejected heads' hidden links ranked with the rejected answers "
              "filtered out (what never ranking a rejected link again gives, learning nothing):", "",
              "| seed | relation | half A, accepted | half A, rejected | half B |", "|---|---|---|---|---|"]
    for res in results:
        for x in rels:
            cells = [f"{fmt(res['other_links'][g]['before'].get(x))} → {fmt(res['other_links'][g]['after'].get(x))}"
                     for g in ("accepted", "rejected", "b")]
            lines.append(f"| {res['seed']} | {x} | " + " | ".join(cells) + " |")
        lines.append(f"| {res['seed']} | {rel}, rejected heads, rejected answers filtered | | "
                     f"{fmt(res['a_rejected_filtered_before'])} → {fmt(res['a_rejected_filtered_after'])} | |")
    lines += ["", "Run card line of the `after` run (seed " + str(results[0]["seed"]) + "): "
              f"\"{results[0]['card_line']}\"", "",
              "Load average at the end (1, 5, 15 min): " + load_avg() + "; epochs run (before, after): " +
              ", ".join(f"seed {r['seed']}: {r['epochs_run']}" for r in results) + ".", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--relation", default="isCreatedByArtist")
    ap.add_argument("--seeds", default="0,1", help="training seeds, comma list")
    ap.add_argument("--split-seed", type=int, default=19, help="seed of the A/B split of the test heads")
    ap.add_argument("--heads", type=int, default=100, help="heads the Audit queue samples (the app's 'Sample')")
    ap.add_argument("--epochs", type=int, help="cap the epochs (default: the training default)")
    ap.add_argument("--accepted-only", action="store_true",
                    help="record only the accepted verdicts: the rejected heads are still measured, and their "
                         "column with the rejected answers filtered is what remembering the rejections gives")
    ap.add_argument("--work", type=Path, default=Path("/tmp/loop-verdicts"))
    ap.add_argument("--write-results", action="store_true", help="replace this benchmark's RESULTS.md section")
    args = ap.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: not found (the shared wikiart-mini graph)")
    if not os.environ.get("VLKGE_CACHE"):
        print("note: VLKGE_CACHE unset: features go to the workspace cache", file=sys.stderr)
    rev = git_rev()  # the code the runs train with, not HEAD when they end
    g = load_graph(args.data)
    if args.relation not in g.relation_index:
        raise SystemExit(f"{args.data}: no relation {args.relation!r}")
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        res = one_seed(g, args.relation, seed, args, args.work)
        (args.work / f"result-s{seed}.json").write_text(json.dumps(res, indent=1))
        print(json.dumps({k: v for k, v in res.items() if k != "a_rejected_triples_list"}), flush=True)
        results.append(res)
    # control: the rejected half-A heads of one seed ranked by another seed's run, trained without
    # verdicts (the next seed run here, else any finished before-s* under --work)
    controls: dict[int, float | None] = {}
    r = g.relation_index[args.relation]
    hidden = without(g, r, halves(g, r, args.split_seed)[0])
    finished = sorted(int(d.name[len("before-s"):]) for d in args.work.glob("before-s*")
                      if d.name[len("before-s"):].isdigit() and (d / METRICS_FILE).is_file())
    for i, res in enumerate(results):
        order = [x["seed"] for x in results[i + 1:] + results[:i]] + finished
        other = next((s for s in order if s != res["seed"]), None)
        if other is not None:
            trip = [tuple(x) for x in res["a_rejected_triples_list"]]
            controls[res["seed"]] = relation_mrr(args.work / f"before-s{other}", hidden, trip, args.relation)
    text = report(results, args, controls, rev)
    print(text)
    if args.write_results:
        write_section(text, TITLE)


if __name__ == "__main__":
    main()
