"""Catalogue import at museum scale (issue 18): a generated 70,000-row catalogue in the Met's layout
(several makers per row joined by | in parallel columns, collectives with their members in
parentheses, school attributions, homonyms with different life dates, Subjects lists, free-text
dimensions) imported with no column map. Each import runs in its own process: CPU seconds and peak
RSS are that process's. With --baseline CHECKOUT the same catalogue is imported by another checkout
too, interleaved A B A B (median pairwise ratio).

    python benchmarks/catalogue_import.py [--rows 70000] [--repeat 2] [--baseline /work/main] [--write-results]
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, uptime, write_section

SECTION = "## Catalogue import at museum scale (issue 18)"
FORENAMES = ["John", "Mary", "Richard", "Anna", "Pierre", "Jan", "Hans", "Emily", "Carlos", "Yuki", "Olga", "Ahmed",
             "Grace", "Luca", "Sofia", "Karl", "Ines", "Tomas", "Ada", "Felix"]
SURNAMES = ["Wilson", "Doyle", "Adams", "Moreau", "Visser", "Keller", "Brown", "Garcia", "Tanaka", "Ivanova", "Haddad",
            "Baker", "Rossi", "Lindqvist", "Novak", "Dubois", "Silva", "Murphy", "Weber", "Costa", "Kowalski", "Olsen",
            "Fischer", "Bianchi", "Hughes"]
NATIONS = ["American", "British", "French", "Dutch", "German", "Italian", "Japanese", "Spanish", "Irish", "Swedish"]
CLASSES = [("Paintings", "Oil on canvas"), ("Prints", "Etching"), ("Photographs", "Gelatin silver print"),
           ("Sculpture", "Bronze"), ("Drawings", "Graphite on paper"), ("Ceramics", "Stoneware")]


def make_catalogue(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    people = []
    for i in range(4000):
        name = f"{FORENAMES[i % 20]} {rng.choice(FORENAMES)[0]}. {SURNAMES[(i // 20) % 25]}"
        born = rng.randrange(1500, 1990)
        people.append((name, rng.choice(NATIONS), born, born + rng.randrange(25, 95) if born < 1940 else 9999))
    for i in range(300):  # homonyms: the same name, other life dates
        name, nat, born, died = people[i]
        people.append((name, rng.choice(NATIONS), born + 60 + i % 40, 9999))
    collectives = [f"Group {SURNAMES[i % 25]} {i} ({FORENAMES[i % 20]} {SURNAMES[(i + 3) % 25]}; "
                   f"{FORENAMES[(i + 5) % 20]} {SURNAMES[(i + 7) % 25]}, established {1960 + i % 50})" for i in range(150)]
    schools = [f"{n} School {c}th century" for n in ("British", "French", "Dutch", "Italian") for c in (16, 17, 18, 19)]
    subjects = [f"Subject {i}" for i in range(400)]
    header = ["Object Number", "Title", "Artist Display Name", "Artist Display Bio", "Artist Nationality",
              "Artist Begin Date", "Artist End Date", "Object Date", "Medium", "Classification", "Culture",
              "Department", "Subjects", "Dimensions", "Credit Line"]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(rows):
            k = rng.random()
            if k < 0.05:
                makers = [(rng.choice(collectives), "", "", "", "")]
            elif k < 0.08:
                makers = [(rng.choice(schools), "", "", "", "")]
            else:
                makers = [(n, f"{nat}, {b}–{d if d != 9999 else ''}".rstrip("–"), nat, str(b), str(d))
                          for n, nat, b, d in rng.sample(people, 1 if k < 0.7 else rng.choice((2, 3)))]
            cls, medium = rng.choice(CLASSES)
            year = rng.randrange(1500, 2020)
            w.writerow([f"{1900 + i // 1000}.{i}", f"Work {i}", "|".join(m[0] for m in makers),
                        "|".join(m[1] for m in makers), "|".join(m[2] for m in makers),
                        "|".join(m[3] for m in makers), "|".join(m[4] for m in makers),
                        rng.choice((f"ca. {year}", str(year), f"{year}–{(year + 3) % 100:02d}", f"{year // 10 * 10}s")),
                        medium, cls, rng.choice(NATIONS), rng.choice(("European Paintings", "Drawings and Prints",
                                                                     "Photographs", "Modern Art")),
                        "|".join(rng.sample(subjects, rng.randrange(1, 5))),
                        f"{rng.randrange(5, 200)} x {rng.randrange(5, 200)} cm", f"Gift of donor {rng.randrange(5000)}"])


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from vlkge.data.collection import import_collection
t = time.perf_counter()
rep = import_collection(Path(sys.argv[2]), None, Path(sys.argv[3]))
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024,
                  "artworks": rep.artworks, "artists": rep.artists, "summary": rep.summary()[:300]}))
"""


def run(checkout: str, cat: Path, out: Path) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, checkout, str(cat), str(out)], capture_output=True, text=True,
                       env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    if p.returncode:
        raise SystemExit(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=70_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline", help="another checkout to import the same catalogue with (interleaved)")
    ap.add_argument("--write-results", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vlkge-catbench-") as tmp:
        cat = Path(tmp) / "catalogue.csv"
        make_catalogue(cat, a.rows)
        size = cat.stat().st_size
        results: dict[str, list[dict]] = {"this": [], "baseline": []}
        for r in range(a.repeat):
            order = [("this", str(ROOT)), ("baseline", a.baseline)] if a.baseline else [("this", str(ROOT))]
            for name, checkout in (order if r % 2 == 0 else order[::-1]):
                res = run(checkout, cat, Path(tmp) / f"g-{name}-{r}")
                results[name].append(res)
                print(name, {k: v for k, v in res.items() if k != "summary"}, flush=True)
    this = results["this"]
    med = {k: statistics.median(x[k] for x in this) for k in ("wall", "cpu", "rss_mb")}
    lines = [f"{a.rows:,} rows ({size / 1e6:.1f} MB CSV, Met layout: makers joined by | in parallel columns, "
             f"collectives, schools, homonyms, Subjects lists); {this[0]['artworks']:,} artworks, "
             f"{this[0]['artists']:,} artists. Median of {a.repeat}: **{med['wall']:.1f} s wall, {med['cpu']:.1f} CPU s, "
             f"peak RSS {med['rss_mb']:.0f} MiB** (target: < 60 s, < 2 GB).",
             "", f"- runs: " + "; ".join(f"{x['wall']:.1f} s wall / {x['cpu']:.1f} CPU s / {x['rss_mb']:.0f} MiB" for x in this)]
    if results["baseline"]:
        ratios = [t["cpu"] / b["cpu"] for t, b in zip(this, results["baseline"])]
        lines.append(f"- baseline {a.baseline}: " + "; ".join(f"{x['wall']:.1f} s wall / {x['cpu']:.1f} CPU s / "
                                                            f"{x['rss_mb']:.0f} MiB" for x in results["baseline"])
                     + f"; CPU ratio this/baseline, median pairwise: {statistics.median(ratios):.2f}")
    lines.append(f"- summary: `{this[0]['summary']}…`")
    lines.append(f"- `uptime`: {uptime()}")
    body = "\n".join(lines)
    print(body)
    if a.write_results:
        cmd = "python benchmarks/catalogue_import.py " + " ".join(sys.argv[1:])
        write_section(f"{SECTION}\n\n`{cmd.replace(' --write-results', '')}`\n\n{body}\n", SECTION)

if __name__ == "__main__":
    main()
