"""Warm render time of every curator-app page (streamlit AppTest) and prediction latency.

    python benchmarks/app_render.py --data /work/shared/data/wikiart-mini --run /tmp/app_mini_run
    python benchmarks/app_render.py --data /work/shared/data/wikiart-labels --run /tmp/labels_run

"First" = a page's first render in the process (after the app's own first render, which is Home's
first and loads graph and run: ``cold_first_render_s``); "warm" = the second and later renders
(graph, run, indexes and thumbnails already cached, as for a curator clicking around). CPU seconds
(the whole process's, every thread) beside wall seconds, since wall time drifts on a shared
machine. The map's point count is what its component is given to draw. Prints a JSON summary.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["home", "browse", "embedding_map", "predictions", "audit", "new_artwork", "describe"]


def median_ms(fn, queries) -> float:
    """Median milliseconds of ``fn(q)`` over ``queries``."""
    took = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        took.append(time.perf_counter() - t)
    return round(1000 * statistics.median(took), 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--run", default="")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--entity", default="artist_claude-monet", help="entity for the entity page / predictions")
    ap.add_argument("--pages", nargs="*", default=None, help="only these pages (e.g. embedding_map); default all")
    args = ap.parse_args()
    os.environ["VLKGE_DATA"] = args.data
    if args.run:
        os.environ["VLKGE_RUN"] = args.run
    import logging
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from streamlit.testing.v1 import AppTest

    out: dict = {"data": args.data, "run": args.run, "pages": {}}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    t0, c0 = time.perf_counter(), time.process_time()
    at.run()
    out["cold_first_render_s"] = round(time.perf_counter() - t0, 2)
    out["cold_first_render_cpu_s"] = round(time.process_time() - c0, 2)
    views = [(p, {}) for p in PAGES] + [("browse", {"entity": args.entity}),
                                        ("predictions", {"entity": args.entity})]
    if args.pages is not None:
        views = [v for v in views if v[0] in args.pages]
    for page, params in views:
        name = page + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
        times, cpus = [], []
        for rep in range(args.repeat + 1):
            for k in list(at.query_params):
                del at.query_params[k]
            for k, v in params.items():
                at.query_params[k] = v
            at.switch_page(f"pages/{page}.py")
            t, c = time.perf_counter(), time.process_time()
            at.run()
            dt, dc = time.perf_counter() - t, time.process_time() - c
            if at.exception:
                out["pages"][name] = {"error": at.exception[0].value[:300]}
                break
            if rep:  # the first render of a page is its cold one
                times.append(dt)
                cpus.append(dc)
            else:
                first, first_cpu = dt, dc
        if times:
            out["pages"][name] = {"first_s": round(first, 3), "first_cpu_s": round(first_cpu, 3),
                                  "warm_median_s": round(statistics.median(times), 3),
                                  "warm_cpu_median_s": round(statistics.median(cpus), 3),
                                  "warm_max_s": round(max(times), 3)}
            if page == "embedding_map":
                out["pages"][name]["map_points"] = _points(at)
        print(name, out["pages"][name], file=sys.stderr, flush=True)

    if args.run:
        import random

        import torch
        from vlkge.data.readers import load_graph
        from vlkge.app import Adjacency, EntityIndex, evidence
        from vlkge.prediction.run import load_run
        g = load_graph(args.data)
        run = load_run(args.run, graph=g)
        torch.set_num_threads(max(1, torch.get_num_threads()))
        rng = random.Random(0)
        tr = g.split("train").tolist()
        qs = [tuple(rng.choice(tr)) for _ in range(args.queries)]
        run.predict_tails(g.entities[qs[0][0]], g.relations[qs[0][1]])  # warm caches
        lat = []
        for h, r, _ in qs:
            t = time.perf_counter()
            run.predict_tails(g.entities[h], g.relations[r], k=10, filter_known=True)
            lat.append(time.perf_counter() - t)
        lat.sort()
        out["predict_tails_ms"] = {"entities": g.num_entities, "median": round(1000 * statistics.median(lat), 2),
                                   "p95": round(1000 * lat[int(0.95 * (len(lat) - 1))], 2),
                                   "queries": len(lat)}
        adj = Adjacency(g)
        ev = []
        for h, r, t_ in qs[:20]:
            t = time.perf_counter()
            evidence(run, adj, h, g.relations[r], t_)
            ev.append(time.perf_counter() - t)
        out["evidence_ms_median"] = round(1000 * statistics.median(ev), 2)
        ix = EntityIndex(g)
        out["search_ms_median"] = median_ms(ix.search, ("Monét", "monnet", "impresionism", "hokusay",
                                                        "portrait of a lady"))
        ix.find("Monet")  # its word index is built on the first search
        out["browse_find_ms_median"] = median_ms(ix.find, ("Monet", "monnet", "impressionism", "hokusay",
                                                           "portrait of a lady"))
    print(json.dumps(out, indent=2))


def _points(at) -> int:
    """Points the map draws: those given to its component (all, unless a "show only" filter is
    set), or, for a build that drew with st.plotly_chart, its traces' points."""
    if at.get("component_instance"):
        a = json.loads(at.get("component_instance")[0].proto.json_args)
        return a["n"] if a.get("shown") is None else -1
    if not at.get("plotly_chart"):
        return 0
    import base64

    import numpy as np
    total = 0
    for trace in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]:
        if str(trace.get("name", "")).startswith("“"):
            continue  # the search highlight redraws points already counted
        x = trace.get("x", [])
        total += len(np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])) if isinstance(x, dict) else len(x)
    return total


if __name__ == "__main__":
    main()
