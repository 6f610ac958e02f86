"""The ``vlkge`` command line. Every user error ends as one ``error:`` line and exit status 1."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import VLKGEError


def _data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="graph folder, triples CSV, train/valid/test folder or pykeen:NAME "
                                  "(default: $VLKGE_DATA, else the embedded demo graph)")


FILTER_HELP = ("filter of other true answers: directed (standard) or undirected (also entities linked the other "
               "way round by the relation; the VL-KGE authors' released evaluation)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="vlkge", description="VL-KGE knowledge graph embeddings")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a graph and print a summary")
    p.add_argument("path", nargs="?", help="graph to check (default: the embedded demo graph)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--skip-images", action="store_true",
                   help="only check that image files exist, without decoding them")

    p = sub.add_parser("train", help="train a model and write a run directory")
    _data_arg(p)
    p.add_argument("--out", help="run directory to write (default: a new folder named by graph, scorer and time "
                                 "in the workspace, $VLKGE_HOME/runs, where the app lists it)")
    p.add_argument("--model", choices=["transe", "distmult", "complex", "rotate"])
    p.add_argument("--dim", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--negatives", type=int,
                   help="negatives per positive (>= #entities: all; default 64, or 256 for TransE and with "
                        "typed negatives)")
    p.add_argument("--negative-sampling", choices=["auto", "uniform", "typed"])
    p.add_argument("--filter-negatives", action="store_true", default=None)
    p.add_argument("--tie-inverse-relations", action=argparse.BooleanOptionalAction, default=None,
                   help="a relation that is another's inverse in the training triples uses that one's vector, "
                        "inverted (default: on for TransE)")
    p.add_argument("--loss", choices=["logistic", "margin"])
    p.add_argument("--margin", type=float)
    p.add_argument("--adversarial-temperature", type=float,
                   help="weight negatives by softmax(T * score), hard ones most (0: uniform)")
    p.add_argument("--optimizer", choices=["adam", "adagrad"])
    p.add_argument("--lr", type=float)
    p.add_argument("--lr-decay", type=float, help="lr multiplier after an evaluation without improvement (1: constant)")
    p.add_argument("--reg", type=float, help="L2 penalty on batch embeddings")
    p.add_argument("--p", type=int, choices=[1, 2], help="TransE norm")
    p.add_argument("--seed", type=int)
    p.add_argument("--patience", type=int)
    p.add_argument("--eval-every", type=int)
    p.add_argument("--eval-protocol", choices=["auto", "both", "tail-candidates"])
    p.add_argument("--eval-filter", choices=["directed", "undirected"], help=FILTER_HELP)
    p.add_argument("--modalities", help="comma list of structural,textual,visual (default: all the graph has)")
    p.add_argument("--encoder", help="auto, offline, clip:<hub id or dir>, or imported:<name>")
    p.add_argument("--fusion", choices=["average", "concat", "weighted"])
    p.add_argument("--structural-dropout", type=float,
                   help="share of training steps an entity with features hides its structural embedding, "
                        "so entities without training triples can be placed from features (default 0.5; 0 for "
                        "transe when every entity has training triples)")
    p.add_argument("--device", help="auto, cpu or cuda")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("evaluate", help="filtered ranking metrics of a run")
    p.add_argument("run")
    p.add_argument("--split", default="test", choices=["test", "val"])
    p.add_argument("--protocol", choices=["both", "tail", "head", "tail-candidates"])
    p.add_argument("--filter", choices=["directed", "undirected"], help=FILTER_HELP + " (default: the run's)")
    p.add_argument("--zero-shot", action="store_true", help="the zero-shot VLM baseline instead of the run's model")
    p.add_argument("--data", help="the run's graph, if it moved")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("predict", help="rank predictions for a known or a new entity")
    p.add_argument("run")
    p.add_argument("--relation", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--head", help="known head entity id: rank tails")
    g.add_argument("--tail", help="known tail entity id: rank heads")
    g.add_argument("--image", help="image of a new entity: rank tails")
    p.add_argument("--text", help="title/description of a new entity")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--include-known", action="store_true", help="keep links already in the graph")
    p.add_argument("--data", help="the run's graph, if it moved")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("import-features", help="import the authors' released feature pickles")
    p.add_argument("file")
    _data_arg(p)
    p.add_argument("--modality", required=True, choices=["visual", "textual"])
    p.add_argument("--name", help="name to train with: --encoder imported:NAME (default: file stem)")

    p = sub.add_parser("import-collection", help="turn a museum catalogue CSV into a graph folder")
    p.add_argument("catalogue", help="CSV (any common encoding and delimiter) or Excel .xlsx (first sheet)")
    p.add_argument("--images", help="folder holding the catalogue's image files, or a ZIP archive of them")
    p.add_argument("--out", required=True)
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("download", help="fetch a published dataset")
    p.add_argument("name", choices=["wn9-img", "wikiart-mkg-v1", "wikiart-mkg-v2"])
    p.add_argument("--dest", default="data")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args) or 0
    except VLKGEError as e:
        print(f"error: {_one_line(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug, not bad input: still one line unless asked for the traceback
        if os.environ.get("VLKGE_DEBUG"):
            raise
        print(f"error: internal error: {type(e).__name__}: {_one_line(str(e))} "
              "(set VLKGE_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


def _one_line(msg: str, limit: int = 800) -> str:
    """An error is one line on stderr, even when an exception's text spans several."""
    msg = " ".join(part.strip() for part in msg.splitlines() if part.strip())
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def _load(spec: str | None):
    from .data.demo import default_data
    from .data.readers import load_graph
    graph = load_graph(spec or default_data())
    _print_warnings(graph.warnings)
    return graph


def _print_warnings(warnings: list[str], limit: int = 20) -> None:
    for w in warnings[:limit]:
        print(f"warning: {w}", file=sys.stderr)
    if len(warnings) > limit:
        print(f"warning: … and {len(warnings) - limit} more warnings", file=sys.stderr)


def cmd_validate(args) -> int:
    from .data.images import image_problems
    graph = _load(args.path)
    problems = [] if args.skip_images else image_problems(graph, progress=sys.stderr.isatty())
    _print_warnings(problems)
    graph.warnings.extend(problems)
    s = {**graph.summary(), "unreadable_images": None if args.skip_images else len(problems)}
    if args.json:
        print(json.dumps({**s, "warnings": graph.warnings}, indent=2))
        return 0
    print(f"graph: {s['source']}")
    print(f"entities: {s['entities']:,}  relations: {s['relations']}  "
          f"triples: " + ", ".join(f"{k} {v:,}" for k, v in s["triples_per_split"].items()))
    print("entities per type: " + ", ".join(f"{t} {n:,}" for t, n in s["entities_per_type"].items()))
    bad = f" ({len(problems):,} unreadable)" if problems else ""
    print(f"modalities: image {s['with_image']:,}/{s['entities']:,}{bad}, text {s['with_text']:,}/{s['entities']:,}, "
          f"description {s['with_description']:,}")
    print(f"entities without training triples (placed from features): {s['unseen_in_train']:,}")
    width = max(len(r) for r in s["triples_per_relation"])
    for r, c in s["triples_per_relation"].items():
        print(f"  {r:<{width}}  " + "  ".join(f"{k} {v:>7,}" for k, v in c.items()))
    print("ok" if not graph.warnings else f"ok, with {len(graph.warnings)} warning(s)")
    return 0


def cmd_train(args) -> int:
    from .training.config import TrainConfig
    from .pipeline import train_run
    graph = _load(args.data)
    overrides = {k: getattr(args, k) for k in (
        "model", "dim", "epochs", "batch_size", "negatives", "negative_sampling", "filter_negatives",
        "tie_inverse_relations", "loss", "margin", "adversarial_temperature", "optimizer", "lr", "lr_decay", "reg", "p", "seed",
        "patience", "eval_every", "eval_protocol", "eval_filter", "encoder", "fusion", "structural_dropout",
        "device") if getattr(args, k, None) is not None}
    if args.modalities:
        overrides["modalities"] = [m.strip() for m in args.modalities.split(",") if m.strip()]
    if args.out is None and args.resume:
        print("vlkge train: --resume needs --out (the run to continue)", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out is not None else None
    if args.resume:
        from .runs import CONFIG_FILE, read_json
        if (out / CONFIG_FILE).exists():
            base = TrainConfig.from_dict(read_json(out / CONFIG_FILE)["train"]).to_dict()
            base.update(overrides)
            overrides = base
    cfg = TrainConfig(**overrides)
    if out is None:
        if graph.root is None:
            print("vlkge train: this graph has no folder to name a workspace run after: give --out", file=sys.stderr)
            return 2
        from .paths import new_run_dir
        out = new_run_dir(graph.root, cfg.model)
    metrics = train_run(graph, cfg, out, resume=args.resume, progress=not args.quiet)
    if not metrics:  # a torchrun rank other than 0: rank 0 reports
        return 0
    test = metrics.get("test") or {}
    print(f"run written to {out}")
    if test:
        print("test: " + "  ".join(f"{k} {test[k]:.4f}" for k in ("mrr", "hits@1", "hits@3", "hits@10")) +
              f"  mr {test['mr']:.1f}  ({test['protocol']})")
    return 0


def cmd_evaluate(args) -> int:
    from .prediction.run import load_run
    run = load_run(args.run, data=args.data)
    if args.zero_shot:
        from .pipeline import zero_shot
        res = zero_shot(run, split=args.split)
    else:
        res = run.evaluate(args.split, args.protocol, args.filter)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{args.split} ({res['protocol']}, {res['filter']} filter, {res['count']} queries): " +
          "  ".join(f"{k} {res[k]:.4f}" for k in ("mrr", "hits@1", "hits@3", "hits@10")) + f"  mr {res['mr']:.1f}")
    for rel, m in res["per_relation"].items():
        print(f"  {rel:<32} n={m['count']:<6} mrr {m['mrr']:.4f}  hits@1 {m['hits@1']:.4f}  hits@10 {m['hits@10']:.4f}")
    return 0


def cmd_predict(args) -> int:
    from .prediction.run import load_run
    run = load_run(args.run, data=args.data)
    if args.image or (args.text and not args.head and not args.tail):
        preds = run.predict_new(args.relation, image=args.image, text=args.text, k=args.top_k)
    elif args.head:
        preds = run.predict_tails(args.head, args.relation, k=args.top_k, filter_known=not args.include_known)
    else:
        preds = run.predict_heads(args.tail, args.relation, k=args.top_k, filter_known=not args.include_known)
    if args.json:
        print(json.dumps([{"entity": p.entity, "label": p.label, "score": p.score, "confidence": p.confidence,
                           "known": p.known, "rank": p.rank} for p in preds]))
        return 0
    for p in preds:
        flag = f"  [known: {p.known}]" if p.known else ""
        print(f"{p.rank:>3}. {p.entity:<40} {p.score:9.4f}  p={p.confidence:.3f}  {p.label}{flag}")
    return 0


def cmd_import_features(args) -> int:
    from .encoders.import_features import import_features
    graph = _load(args.data)
    summary = import_features(Path(args.file), graph, args.modality,
                              encoder_name=f"imported:{args.name or Path(args.file).stem}")
    print(json.dumps(summary))
    return 0


def cmd_import_collection(args) -> int:
    from .data.collection import IMPORT_REPORT, import_collection, parse_map_args
    report = import_collection(Path(args.catalogue), Path(args.images) if args.images else None, Path(args.out),
                               mapping=parse_map_args(args.map), seed=args.seed)
    print(report.summary())
    problems = report.problems(args.catalogue, shown_lines=5)
    _print_warnings(problems)
    if problems:
        print(f"warning: the full list ({len(report.skipped)} skipped rows, {len(report.warnings)} warnings) is in "
              f"{Path(args.out) / IMPORT_REPORT}", file=sys.stderr)
    return 0


def cmd_download(args) -> int:
    from .data.download import download
    path = download(args.name, Path(args.dest))
    print(f"downloaded {args.name} to {path}")
    return 0


COMMANDS = {"validate": cmd_validate, "train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "import-features": cmd_import_features, "import-collection": cmd_import_collection,
            "download": cmd_download}
