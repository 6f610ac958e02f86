"""The ``vlkge`` command line. Every user error ends as one ``error:`` line and exit status 1.

Only what a command needs is imported, when it runs: ``vlkge --help`` or ``vlkge evaluate --help``
never imports torch (the train flags, whose help the scorers' defaults fill in, are built only
for ``vlkge train``)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from .errors import VLKGEError
from .version import __version__


def _data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="graph folder, triples CSV, train/valid/test folder or pykeen:NAME "
                                  "(default: $VLKGE_DATA, else the embedded demo graph)")


FILTER_HELP = ("filter of other true answers: directed (standard) or undirected (also entities linked the other "
               "way round by the relation; the VL-KGE authors' released evaluation)")


class DefaultsHelp(argparse.HelpFormatter):
    """Each flag's help ends with its default, unless it has none to show or says it already."""

    def _get_help_string(self, action):
        help = action.help or ""
        if (action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
                and "default" not in help):
            help += " (default: %(default)s)"
        return help


# The parsers take only whole flag names: an abbreviation is refused, not guessed.
PARSER_OPTIONS = {"allow_abbrev": False, "formatter_class": DefaultsHelp}
# How a config field reads on the command line (its metadata "flag"); the rest take one value.
FLAG_ACTIONS = {"switch": {"action": "store_true"}, "on-off": {"action": argparse.BooleanOptionalAction}}
FIELD_TYPES = {"int": int, "float": float, "str": str}


def default_text(f) -> str:
    """A config field's default in words: its value, or what the scorer and graph make it."""
    from .models.scorers import SCORERS
    from .training.config import SHARED_DEFAULTS
    def words(v) -> str:
        return ("on" if v else "off") if isinstance(v, bool) else str(v)
    if f.metadata.get("default_text"):
        base = f.metadata["default_text"]
    elif f.name in SHARED_DEFAULTS:
        base = words(SHARED_DEFAULTS[f.name])
    else:
        base = words(f.default_factory() if f.default is MISSING else f.default)
    by_scorer = [f"{name} {words(cls.defaults[f.name])}" for name, cls in SCORERS.items() if f.name in cls.defaults]
    return f"{base}; scorer-dependent: {', '.join(by_scorer)}" if by_scorer else base


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, its help and shown default from the field's metadata. A
    flag left out stays None, so the field keeps its own default (``resolve`` decides it)."""
    from .training.config import TrainConfig
    for f in fields(TrainConfig):
        kind = f.metadata.get("flag")
        if kind == "none":
            continue
        kwargs = dict(FLAG_ACTIONS.get(kind) or {"type": FIELD_TYPES[f.type.split(" |")[0]]
                                                if kind != "list" else str})
        if f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        p.add_argument("--" + f.name.replace("_", "-"), default=None, **kwargs,
                       help=f"{f.metadata['help']} (default: {default_text(f)})".replace("%", "%%"))


def config_overrides(args: argparse.Namespace) -> dict:
    """The TrainConfig fields given on the command line."""
    from .training.config import TrainConfig
    given = {}
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        if f.metadata.get("flag") == "list":
            value = [m.strip() for m in value.split(",") if m.strip()]
            if not value:
                continue
        given[f.name] = value
    return given


def build_parser(train_flags: bool = True) -> argparse.ArgumentParser:
    """The parser of every command; without ``train_flags``, ``train`` lacks its config flags
    (which import the scorers, and so torch): for a command line that is not ``vlkge train``."""
    ap = argparse.ArgumentParser(prog="vlkge", description="VL-KGE knowledge graph embeddings", **PARSER_OPTIONS)
    ap.add_argument("--version", action="version", version=f"vlkge {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    def add_parser(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, **PARSER_OPTIONS, **kwargs)

    p = add_parser("validate", help="check a graph and print a summary")
    p.add_argument("path", nargs="?", help="graph to check (default: the embedded demo graph)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--skip-images", action="store_true",
                   help="only check that image files exist, without decoding them")

    p = add_parser("train", help="train a model and write a run directory")
    _data_arg(p)
    p.add_argument("--out", help="run directory to write (default: a new folder named by graph, scorer and time "
                                 "in the workspace, $VLKGE_HOME/runs, where the app lists it)")
    if train_flags:
        add_config_flags(p)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--verdicts", help="an audit database (vlkge-audit.sqlite): accepted links are trained on, "
                                      "rejected ones ranked last")
    p.add_argument("--previous", help="the run this one follows: config.json compares the audited relations' "
                                      "test MRR with it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = add_parser("evaluate", help="filtered ranking metrics of a run")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="test", choices=["test", "val"], help="split to rank")
    p.add_argument("--protocol", choices=["both", "tail", "head", "tail-candidates"],
                   help="which queries to rank (default: the run's)")
    p.add_argument("--filter", choices=["directed", "undirected"], help=FILTER_HELP + " (default: the run's)")
    p.add_argument("--zero-shot", action="store_true", help="the zero-shot VLM baseline instead of the run's model")
    p.add_argument("--data", help="the run's graph, if it moved (default: where it was trained)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")

    p = add_parser("predict", help="rank predictions for a known or a new entity")
    p.add_argument("run", help="run directory")
    p.add_argument("--relation", required=True, help="relation to predict")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--head", help="known head entity id: rank tails")
    g.add_argument("--tail", help="known tail entity id: rank heads")
    g.add_argument("--image", help="image of a new entity: rank tails")
    p.add_argument("--text", help="title/description of a new entity (alone, or with --image): rank tails")
    p.add_argument("--top-k", type=int, default=10, help="predictions to show")
    p.add_argument("--include-known", action="store_true", help="keep links already in the graph")
    p.add_argument("--data", help="the run's graph, if it moved (default: where it was trained)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")

    p = add_parser("import-features", help="import the authors' released feature pickles")
    p.add_argument("file", help="feature pickle")
    _data_arg(p)
    p.add_argument("--modality", required=True, choices=["visual", "textual"], help="what the features encode")
    p.add_argument("--name", help="name to train with: --encoder imported:NAME (default: file stem)")

    p = add_parser("import-collection", help="turn a museum catalogue CSV into a graph folder")
    p.add_argument("catalogue", help="CSV (any common encoding and delimiter), Excel .xlsx (first sheet), JSON "
                                     "(an array of objects, or one under \"data\") or JSON Lines")
    p.add_argument("--images", help="folder holding the catalogue's image files, or a ZIP archive of them")
    p.add_argument("--out", required=True, help="graph folder to write")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="read FIELD from COLUMN of the catalogue (repeatable; default: columns recognised by name)")
    p.add_argument("--skip", action="append", default=[], metavar="COLUMN",
                   help="leave this column out (a categorical column otherwise becomes a relation of its own)")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split")

    p = add_parser("download", help="fetch a published dataset")
    p.add_argument("name", choices=["wn9-img", "wikiart-mkg-v1", "wikiart-mkg-v2"], help="dataset")
    p.add_argument("--dest", default="data", help="folder to download into")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # the command is the first word that is not a flag (the top level's flags take no value)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(train_flags=command == "train").parse_args(argv)
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
    from .pipeline import train_run
    from .training.config import TrainConfig
    graph = _load(args.data)
    overrides = config_overrides(args)
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
    metrics = train_run(graph, cfg, out, resume=args.resume, progress=not args.quiet,
                        verdicts=Path(args.verdicts) if args.verdicts else None,
                        previous=Path(args.previous) if args.previous else None)
    if not metrics:  # a torchrun rank other than 0: rank 0 reports
        return 0
    test = metrics.get("test") or {}
    print(f"run written to {out}")
    if test:
        print("test: " + "  ".join(f"{k} {test[k]:.4f}" for k in ("mrr", "hits@1", "hits@3", "hits@10")) +
              f"  mr {test['mr']:.1f}  ({test['protocol']})")
        if len(test["per_relation"]) <= 20:
            _print_per_relation(test, (metrics.get("prior") or {}).get("test"))
        else:
            print(f"per relation, beside the frequency prior: vlkge evaluate {out}")
    return 0


def _print_per_relation(res: dict, prior: dict | None) -> None:
    """One line per relation, with the frequency prior's MRR beside the model's when given."""
    base = (prior or {}).get("per_relation", {})
    for rel, m in res["per_relation"].items():
        p = f"  prior mrr {base[rel]['mrr']:.4f}" if rel in base else ""
        print(f"  {rel:<32} n={m['count']:<6} mrr {m['mrr']:.4f}  hits@1 {m['hits@1']:.4f}  "
              f"hits@10 {m['hits@10']:.4f}{p}")


def cmd_evaluate(args) -> int:
    from .prediction.run import load_run
    run = load_run(args.run, data=args.data)
    if args.zero_shot:
        from .pipeline import zero_shot
        res = zero_shot(run, split=args.split)
    else:
        res = run.evaluate(args.split, args.protocol, args.filter)
        from .evaluation.prior import evaluate_prior
        res["prior"] = evaluate_prior(run.graph, args.split, res["protocol"], res["filter"])
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{args.split} ({res['protocol']}, {res['filter']} filter, {res['count']} queries): " +
          "  ".join(f"{k} {res[k]:.4f}" for k in ("mrr", "hits@1", "hits@3", "hits@10")) + f"  mr {res['mr']:.1f}")
    if "prior" in res:
        p = res["prior"]
        print(f"frequency prior: mrr {p['mrr']:.4f}  hits@1 {p['hits@1']:.4f}  hits@10 {p['hits@10']:.4f}")
    _print_per_relation(res, res.get("prior"))
    return 0


def cmd_predict(args) -> int:
    from .prediction.run import load_run
    if not (args.head or args.tail or args.image or args.text):
        raise VLKGEError("predict needs --head, --tail, --image or --text")
    run = load_run(args.run, data=args.data)
    new = bool(args.image or (args.text and not args.head and not args.tail))
    if new:
        preds = run.predict_new(args.relation, image=args.image, text=args.text, k=args.top_k)
    elif args.head:
        preds = run.predict_tails(args.head, args.relation, k=args.top_k, filter_known=not args.include_known)
    else:
        preds = run.predict_heads(args.tail, args.relation, k=args.top_k, filter_known=not args.include_known)
    if args.json:
        print(json.dumps([{"entity": p.entity, "label": p.label, "score": p.score, "confidence": p.confidence,
                           "known": p.known, "rank": p.rank} for p in preds]))
        return 0
    if not new and run.graph is not None:
        # the graph's current answer beside the suggestions, its confidence on the same scale
        anchor, direction = (args.head, "tail") if args.head else (args.tail, "head")
        for p in run.graph_answers(anchor, args.relation, direction):
            print(f"graph: {p.entity:<40} {p.score:9.4f}  p={p.confidence:.3f}  {p.label}  [{p.known}, rank {p.rank}]")
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
                               mapping=parse_map_args(args.map), seed=args.seed, skip=args.skip)
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
