"""A museum-shaped catalogue at 70,000 objects, through the product's own path: a catalogue CSV,
``vlkge import-collection``, default ``vlkge train`` (whole process, its own feature cache), then
``vlkge evaluate`` and ``load_run`` + the first ``predict_tails``; per-relation tail MRR of the run
beside the frequency prior's (rank a relation's candidate tails by how often they are its tail in
train).

The catalogue (seeded, text only: no images) is shaped like a real export:

* artists are skewed: one artist (an archive bequest) holds ~50% of the objects, ~2,000 artists
  share ~36% on a Zipf curve, and ~10,000 artists have one work each;
* a date (``c. 1875`` style years) around each artist's active decade; a medium, favoured per
  artist; a categorical ``Subject`` column imported as ``relation:hasSubject``;
* titles come from subject templates with places and sitters (``View of Leiden``, ``Portrait of
  Anna Smit``), an artist's places mostly their home town and sitters often their circle, and the
  archive's titles are formulaic (``Negative 12345: View of Leiden``): the text says something
  about subject and artist, never the answer outright.

    python benchmarks/museum_scale.py                                   # generate + default train, cold cache
    python benchmarks/museum_scale.py --train-args "--modalities structural,textual" --cache DIR
    python benchmarks/museum_scale.py --objects 5000 --graph /tmp/m5k   # a quick look
    python benchmarks/museum_scale.py --prior-only --graph DIR          # only the prior per relation
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, git_rev, uptime  # noqa: E402

SUBJECTS = {  # subject -> title templates ({place}, {person}, {thing})
    "landscape": ["View of {place}", "Landscape near {place}", "River at {place}", "Dunes near {place}"],
    "portrait": ["Portrait of {person}", "{person}", "Portrait of a {role}", "Head of a {role}"],
    "still life": ["Still life with {thing}", "{thing} on a table", "Still life with {thing} and {thing2}"],
    "cityscape": ["Street in {place}", "Canal in {place}", "The market at {place}", "Houses in {place}"],
    "marine": ["Ships off {place}", "Harbour of {place}", "Fishing boats at {place}", "Storm at sea"],
    "religious": ["The Annunciation", "Saint {saint}", "The Holy Family", "Madonna and Child"],
    "interior": ["Interior with a {role}", "Kitchen interior", "A room in {place}", "The studio"],
    "animals": ["Cows in a meadow near {place}", "A {animal}", "Study of a {animal}", "{animal}s at rest"],
    "architecture": ["Church at {place}", "Town hall of {place}", "Ruins at {place}", "Gate of {place}"],
    "genre scene": ["Peasants near {place}", "The {role}'s family", "Skaters at {place}", "A village feast"],
    "botanical": ["{flower}", "Study of {flower}s", "{flower} and {flower2}", "Branch of a {tree}"],
    "historical": ["The siege of {place}", "Battle near {place}", "Arrival at {place}", "The treaty of {place}"],
}
SUBJECT_WEIGHTS = [30, 18, 8, 10, 6, 4, 4, 5, 5, 6, 2, 2]
PLACES = ["Leiden", "Haarlem", "Delft", "Dordrecht", "Utrecht", "Zwolle", "Gouda", "Alkmaar", "Hoorn",
          "Kampen", "Deventer", "Arnhem", "Nijmegen", "Breda", "Middelburg", "Vlissingen", "Scheveningen",
          "Katwijk", "Volendam", "Marken", "Enkhuizen", "Harlingen", "Leeuwarden", "Groningen", "Maastricht",
          "Venlo", "Amersfoort", "Hilversum", "Naarden", "Muiden", "Edam", "Monnickendam", "Schiedam"]
FIRST = ["Anna", "Jan", "Pieter", "Maria", "Cornelis", "Johanna", "Willem", "Geertruida", "Hendrik",
         "Catharina", "Jacob", "Elisabeth", "Dirk", "Aleida", "Gerrit", "Sophia", "Adriaan", "Margaretha",
         "Frans", "Hester", "Lodewijk", "Wilhelmina", "Abraham", "Clara", "Isaac", "Judith", "Rembert"]
LAST = ["Smit", "de Vries", "van Dijk", "Bakker", "Janssen", "Visser", "Meijer", "de Boer", "Mulder",
        "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit",
        "Dijkstra", "Smits", "de Graaf", "van der Meer", "van der Linden", "Kok", "Jacobs", "de Haan"]
ROLES = ["young woman", "man", "boy", "girl", "old woman", "fisherman", "scholar", "merchant", "child"]
THINGS = ["apples", "lemons", "a jug", "flowers", "oysters", "a skull", "grapes", "fish", "bread", "glasses"]
SAINTS = ["Jerome", "Peter", "Paul", "Catherine", "Francis", "Sebastian", "Agnes", "Martin"]
ANIMALS = ["horse", "dog", "cat", "cow", "goat", "sheep", "heron", "duck"]
FLOWERS = ["Tulip", "Rose", "Iris", "Lily", "Peony", "Carnation", "Poppy", "Anemone"]
TREES = ["willow", "oak", "beech", "birch", "lime tree"]
MEDIA = ["gelatin silver print", "albumen print", "oil on canvas", "oil on panel", "watercolour",
         "pen and ink", "etching", "engraving", "lithograph", "chalk on paper", "pencil on paper",
         "gouache", "woodcut", "mezzotint", "charcoal", "pastel", "photogravure", "collotype",
         "bronze", "terracotta", "silver", "porcelain", "glass", "textile", "wood"]
SYLL = ["ba", "de", "ri", "ko", "lu", "ma", "ne", "so", "ta", "vi", "ge", "ho", "ja", "ke", "li", "mo",
        "pe", "ra", "si", "to", "wa", "ze", "an", "el", "or", "us", "in", "er"]


def artist_names(n: int, rng: random.Random) -> list[str]:
    names, seen = [], set()
    while len(names) < n:
        first = rng.choice(FIRST)
        last = "".join(rng.choice(SYLL) for _ in range(rng.randint(2, 3))).capitalize()
        name = f"{first} {rng.choice(['', 'van ', 'de ', 'ter '])}{last}".replace("  ", " ")
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def artist_counts(objects: int) -> list[int]:
    """~50% for the top artist, ~14% one-work artists, the rest on a Zipf curve over ~2,000."""
    top = objects // 2
    singles = objects // 7
    rest = objects - top - singles
    k = max(1, objects // 35)
    w = [1.0 / (i + 1) ** 1.05 for i in range(k)]
    counts = [max(2, int(rest * x / sum(w))) for x in w]
    counts[0] += rest - sum(counts)  # exact total; the second artist absorbs the rounding
    return [top] + sorted(counts, reverse=True) + [1] * singles


def write_catalogue(path: Path, objects: int, seed: int = 0, params: list | None = None) -> dict:
    """Write the catalogue CSV; with ``params``, also append each artist's generating parameters
    to it (what ``prior_ceiling.py --bayes`` needs for the Bayes-optimal reference)."""
    rng = random.Random(seed)
    counts = artist_counts(objects)
    names = artist_names(len(counts), rng)
    subjects = list(SUBJECTS)
    rows = []
    for a, (name, c) in enumerate(zip(names, counts)):
        archive = a == 0
        decade = 1890 if archive else rng.randrange(1600, 1960, 10)
        # each artist favours a medium and a few subjects (the archive: photographs of places)
        media = (["gelatin silver print"] * 8 + ["albumen print"] * 2 + ["collotype"]) if archive else \
            [rng.choice(MEDIA)] * 4 + [rng.choice(MEDIA), rng.choice(MEDIA)]
        favoured = (["landscape", "cityscape", "architecture", "marine"] if archive else
                    rng.choices(subjects, weights=SUBJECT_WEIGHTS, k=3))
        # and works around a home town, with a circle of sitters: local artists, local subjects
        home = rng.choice(PLACES)
        sitters = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(3)]
        if params is not None:
            params.append({"name": name, "count": c, "archive": archive, "decade": decade, "media": media,
                           "favoured": favoured, "home": home, "sitters": sitters})
        for _ in range(c):
            subject = rng.choice(favoured) if rng.random() < 0.8 else rng.choices(subjects, weights=SUBJECT_WEIGHTS)[0]
            fill = {"place": home if rng.random() < 0.6 else rng.choice(PLACES),
                    "person": rng.choice(sitters) if rng.random() < 0.5 else f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    "role": rng.choice(ROLES), "thing": rng.choice(THINGS), "thing2": rng.choice(THINGS),
                    "saint": rng.choice(SAINTS), "animal": rng.choice(ANIMALS), "flower": rng.choice(FLOWERS),
                    "flower2": rng.choice(FLOWERS), "tree": rng.choice(TREES)}
            title = rng.choice(SUBJECTS[subject]).format(**fill)
            if archive and rng.random() < 0.7:
                title = f"Negative {rng.randrange(1, 99999)}: {title}"
            year = int(rng.gauss(decade + 5, 12 if not archive else 20))
            rows.append([f"OBJ-{len(rows) + 1:06d}", title[:1].upper() + title[1:], name,
                         f"c. {year}" if rng.random() < 0.3 else str(year), rng.choice(media), subject])
    rng.shuffle(rows)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Object Number", "Title", "Artist", "Date", "Medium", "Subject"])
        w.writerows(rows)
    return {"objects": len(rows), "artists": len(counts), "top_artist_share": counts[0] / len(rows),
            "one_work_artists": counts.count(1)}


def child_rusage() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime, r.ru_maxrss / 1024


def run(cmd: list[str], env: dict) -> tuple[subprocess.CompletedProcess, float, float, float]:
    """(process, wall s, CPU s, peak RSS MiB of the child tree so far)."""
    cpu0, _ = child_rusage()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    cpu1, rss = child_rusage()
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return p, wall, cpu1 - cpu0, rss


def prior_table(graph_dir: Path, split: str = "test") -> dict:
    from vlkge.data.readers import load_graph
    from vlkge.evaluation.prior import evaluate_prior
    g = load_graph(graph_dir)
    return evaluate_prior(g, split=split, protocol="tail-candidates")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=70_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--graph", help="graph folder to use (built there when missing)")
    ap.add_argument("--cache", help="VLKGE_CACHE for the run (default: a fresh one: cold features)")
    ap.add_argument("--train-args", default="", help="extra vlkge train flags (default: none: the default run)")
    ap.add_argument("--out", help="run folder (default: a temporary one)")
    ap.add_argument("--prior-only", action="store_true")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="museum-"))
    graph = Path(a.graph) if a.graph else work / "graph"
    res: dict = {"uptime_start": uptime(), "commit": git_rev()}
    env = {**os.environ, "PYTHONPATH": ROOT, "VLKGE_CACHE": a.cache or str(work / "cache")}
    env.setdefault("OMP_NUM_THREADS", "2")
    if not graph.exists() or not any(graph.iterdir()):  # never generate into a folder that holds anything
        csv_path = work / "catalogue.csv"
        res["catalogue"] = write_catalogue(csv_path, a.objects, a.seed)
        _, res["import_s"], res["import_cpu_s"], _ = run(
            [sys.executable, "-m", "vlkge", "import-collection", str(csv_path), "--out", str(graph),
             "--map", "relation:hasSubject=Subject"], env)
    print(json.dumps(res), flush=True)
    prior = prior_table(graph)
    if a.prior_only:
        for rel, m in prior["per_relation"].items():
            print(f"{rel:<24} n={m['count']:<6} prior mrr {m['mrr']:.4f}  hits@1 {m['hits@1']:.4f}")
        return
    out = Path(a.out) if a.out else work / "run"
    p, res["train_s"], res["train_cpu_s"], res["train_peak_rss_mb"] = run(
        [sys.executable, "-m", "vlkge", "train", "--data", str(graph), "--out", str(out), "--quiet",
         *shlex.split(a.train_args)], env)
    metrics = json.loads((out / "metrics.json").read_text())
    res["timing"] = metrics.get("timing")
    res["epochs"] = metrics["history"][-1]["epoch"] if metrics.get("history") else None
    res["config"] = {k: json.loads((out / "config.json").read_text())["train"].get(k)
                     for k in ("epochs", "eval_every", "time_budget_s", "dim", "batch_size", "negatives")}
    p, res["evaluate_s"], res["evaluate_cpu_s"], _ = run(
        [sys.executable, "-m", "vlkge", "evaluate", str(out), "--json"], env)
    ev = json.loads(p.stdout)
    code = ("import time, sys; t=time.perf_counter(); from vlkge.prediction.run import load_run; "
            "r=load_run(sys.argv[1]); t1=time.perf_counter(); h=r.graph.split('test')[0]; "
            "r.predict_tails(r.entities[int(h[0])], r.relations[int(h[1])]); t2=time.perf_counter(); "
            "print(t1-t, (t2-t1)*1e3)")
    p, _, _, _ = run([sys.executable, "-c", code, str(out)], env)
    res["load_run_s"], res["first_predict_ms"] = map(float, p.stdout.split())
    res["per_relation"] = {rel: {"n": m["count"], "model_mrr": m["mrr"],
                                 "prior_mrr": prior["per_relation"][rel]["mrr"]}
                           for rel, m in ev["per_relation"].items()}
    res["prior_weights"] = json.loads((out / "config.json").read_text()).get("prior", {}).get("weights")
    res["uptime_end"] = uptime()
    print(json.dumps(res, indent=1))
    for rel, m in res["per_relation"].items():
        ok = "ok" if m["n"] < 50 or m["model_mrr"] >= m["prior_mrr"] + 0.05 else "BELOW TARGET"
        print(f"{rel:<24} n={m['n']:<6} model {m['model_mrr']:.4f}  prior {m['prior_mrr']:.4f}  {ok}")


if __name__ == "__main__":
    main()
