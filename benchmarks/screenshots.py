"""Full-page screenshots of every page of the curator app, in headless Chromium, for the README and
for looking at what a change did.

    python benchmarks/screenshots.py                                   # the embedded demo -> assets/screenshots
    python benchmarks/screenshots.py --data ../shared/data/wikiart-mini --run RUN --out /tmp/shots

Without ``--run`` a run of the graph is trained first (``vlkge train --epochs 40``, into a temporary
folder). The server gets a temporary workspace, so nothing is written next to the data. The entity
shown on Browse, the map's highlight and Predictions is the artist with the most works; the
search is that artist's name. Prints each page's URL and how many error boxes it shows (0 expected).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def busiest_artist(data: Path) -> tuple[str, str]:
    """(id, label) of the entity that is the tail of the most ``isCreatedByArtist`` triples."""
    from vlkge.data.readers import load_graph
    g = load_graph(data)
    r = g.relations.index("isCreatedByArtist")
    t = g.all_triples()
    counts = Counter(int(x) for x in t[t[:, 1] == r][:, 2])
    best = counts.most_common(1)[0][0]
    return g.entities[best], g.labels[best]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="graph folder (default: the embedded demo)")
    ap.add_argument("--run", help="a run of that graph (default: train one)")
    ap.add_argument("--out", default=str(ROOT / "assets" / "screenshots"))
    ap.add_argument("--width", type=int, default=1400)
    a = ap.parse_args()
    from browser import ARGS, CHROMIUM, act, app_env, app_server, map_frame, settle
    from helpers import wait_until
    from PIL import Image
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="vlkge-shots-"))
    os.environ.setdefault("VLKGE_HOME", str(work / "home"))
    if a.data:
        data = Path(a.data).resolve()
    else:
        from vlkge.data.demo import default_data
        data = Path(default_data())
    run = a.run
    if not run:
        run = str(work / "run")
        subprocess.run([sys.executable, "-m", "vlkge", "train", "--data", str(data), "--out", run,
                        "--epochs", "40", "--quiet"], check=True, cwd=ROOT)
    artist, name = busiest_artist(data)
    views = [("home", ""), ("browse-search", f"browse?q={quote(name)}"),
             ("browse-entity", f"browse?entity={quote(artist)}"),
             ("map", f"map?q={quote(name)}"), ("predictions", f"predictions?entity={quote(artist)}"),
             ("audit", "audit"), ("new-artwork", "new"), ("describe", "describe?q=a%20stormy%20sea%20at%20night")]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with app_server(work, app_env(work, data, run)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": a.width, "height": 1000})
        for view, path in views:
            page.goto(f"{url}/{path}")
            settle(page, 300)
            wait_until(lambda: page.locator('[data-testid="stSkeleton"], [data-stale="true"]').count() == 0,
                       120, "no skeletons")
            if view == "map":  # the map's own frame draws after the page settles
                map_frame(page, 300)
            if view == "new-artwork":  # a title alone places an artwork
                box = page.get_by_role("textbox", name="Title (optional)", exact=True)
                box.fill("Water lilies in the garden pond")
                act(page, lambda: box.press("Enter"), 300)
            settle(page, 300)
            shot = out / f"{view}.png"
            page.screenshot(path=str(shot), full_page=True)
            Image.open(shot).convert("RGB").quantize(256).save(shot, optimize=True)  # a third of the bytes
            print(view, page.url, "errors:", page.locator('[data-testid="stException"]').count(), flush=True)
        browser.close()


if __name__ == "__main__":
    main()
