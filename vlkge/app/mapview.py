"""The embedding map as the browser draws it: every projected entity packed in compact binary
arrays for the map's own component (``vlkge/app/map_view``: plotly.js from the plotly wheel,
served by the app itself), thumbnails of entities with images written once per graph for
hover, and the component's events read back.

Why a component of our own and not ``st.plotly_chart``: Plotly's hover inside Streamlit is
text only, and an 81k-point figure rebuilt and serialised as JSON on every rerun took seconds.
Here the arrays are built once per run, space, projection and colour (the page caches them) and
highlights, filters and the selection travel as small lists; the browser redraws only what
changed. Catalogue text goes to the component as data: labels, types and categories are set as
``textContent`` there, Plotly's legend gets :func:`plotly_text`.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from ..data.graph import Graph
from ..data.images import open_image
from ..paths import cache_root
from .display import plotly_text
from .embed import attribute, map_categories
from .images import contained_path

ASSETS = Path(__file__).resolve().parent / "map_view"
THUMB_SIDE = 96  # small: a hover card, not a gallery


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the plotly wheel (no CDN: the app works offline)."""
    spec = find_spec("plotly")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the plotly package is not installed")
    return Path(spec.origin).parent / "package_data" / "plotly.min.js"


def map_view_folder(folder: Path | None = None) -> Path:
    """The folder Streamlit serves the map component from: our page and script, plotly.js copied
    from the wheel (Streamlit serves nothing outside a component's folder, symlinks included)
    and ``thumbs/``. Filled once; a file is replaced when its source changed."""
    folder = Path(folder) if folder is not None else cache_root() / "map-view"
    (folder / "thumbs").mkdir(parents=True, exist_ok=True)
    for src in (*sorted(ASSETS.iterdir()), plotly_js()):
        dst = folder / src.name
        s = src.stat()
        try:
            d = dst.stat()
            if d.st_size == s.st_size and d.st_mtime_ns >= s.st_mtime_ns:
                continue
        except FileNotFoundError:
            pass
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    return folder


# ---------------------------------------------------------------- thumbnails for hover
def thumbnail_names(graph: Graph) -> dict[int, str]:
    """Entity index -> file name of its hover thumbnail, for entities with an image of their own
    in the graph folder. The name hashes the image's path, size and modification time, so an
    image replaced in the catalogue gets a new thumbnail and never a stale one."""
    out: dict[int, str] = {}
    if graph.root is None:
        return out
    for i, rel in enumerate(graph.images):
        if not rel:
            continue
        p = contained_path(graph.root, rel)
        if p is None:
            continue
        s = p.stat()
        out[i] = hashlib.sha256(f"{p}\0{s.st_size}\0{s.st_mtime_ns}\0{THUMB_SIDE}".encode()).hexdigest()[:24] + ".jpg"
    return out


def write_thumbnails(graph: Graph, names: dict[int, str], folder: Path) -> int:
    """Write the missing thumbnails of ``names`` into ``folder`` (each complete or absent: a
    browser asking meanwhile gets a 404 and shows the label alone). Returns how many were written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for i, name in names.items():
        dst = folder / name
        if dst.exists():
            continue
        p = contained_path(graph.root, graph.images[i])
        im, _problem = open_image(p, max_side=2 * THUMB_SIDE) if p is not None else (None, "")
        if im is None:
            continue
        im.thumbnail((THUMB_SIDE, THUMB_SIDE))
        tmp = dst.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
        im.save(tmp, format="JPEG", quality=80)
        os.replace(tmp, dst)
        written += 1
    return written


def start_thumbnails(graph: Graph, folder: Path) -> tuple[dict[int, str], threading.Thread | None]:
    """Thumbnail names of the graph's images, and a background thread writing those not yet on
    disk (None when all are): the map opens at once, pictures appear on hover as they exist."""
    names = thumbnail_names(graph)
    if all((folder / n).exists() for n in names.values()):
        return names, None
    t = threading.Thread(target=write_thumbnails, args=(graph, names, folder), daemon=True,
                         name="vlkge-map-thumbnails")
    t.start()
    return names, t


# ---------------------------------------------------------------- the component's data
@dataclass
class MapData:
    """What the map draws: ``index`` (entity per point), ``values`` (its category) and ``codes``
    (the category's position in ``colours``: category -> colour, most frequent first), ``counts``
    (points per category) and ``args``, the component's arrays."""
    index: np.ndarray
    values: np.ndarray
    codes: np.ndarray
    colours: dict[str, str]
    counts: dict[str, int]
    args: dict[str, Any]

    @property
    def points(self) -> int:
        return len(self.index)

    def positions(self, entities: list[int], among: np.ndarray | None = None) -> list[int]:
        """Points of ``entities`` (those projected, and in the mask ``among`` when given)."""
        pos = np.full(int(self.index.max(initial=-1)) + 1, -1, dtype=np.int64)
        pos[self.index] = np.arange(len(self.index))
        e = np.asarray([i for i in entities if 0 <= i < len(pos)], dtype=np.int64)
        p = pos[e] if len(e) else e
        p = p[p >= 0]
        if among is not None:
            p = p[among[p]]
        return p.tolist()


def map_data(graph: Graph, projection: dict[str, Any], colour_by: str = "type",
             thumbs: dict[int, str] | None = None) -> MapData:
    """Every projected entity of ``projection`` (``embed.projection``'s result) coloured by its
    type or by the tail of relation ``colour_by``, packed for the map component: coordinates,
    entity and category per point as little-endian binary arrays, labels and types as UTF-8
    JSON, thumbnails by point for entities with an image (``thumbs``: entity -> file name)."""
    idx = np.asarray(projection["index"], dtype=np.int64)
    xy = np.asarray(projection["xy"], dtype="<f4").reshape(-1, 2)
    raw = np.asarray(graph.types if colour_by == "type" else attribute(graph, colour_by), dtype=object)[idx]
    values, colours = map_categories(raw)
    cats = list(colours)
    code_of = {c: k for k, c in enumerate(cats)}
    uniq, inverse = np.unique(values, return_inverse=True)
    codes = np.asarray([code_of[u] for u in uniq], dtype=np.int64)[inverse] if len(values) else np.zeros(0, np.int64)
    counts = np.bincount(codes, minlength=len(cats))
    type_names, type_ids = np.unique(np.asarray(graph.types, dtype=object)[idx], return_inverse=True) \
        if len(idx) else (np.zeros(0, object), np.zeros(0, int))
    labels = [graph.labels[i] or graph.entities[i] for i in idx.tolist()]
    thumbs = thumbs or {}
    point_thumbs = {str(k): thumbs[int(e)] for k, e in enumerate(idx.tolist()) if int(e) in thumbs}
    digest = hashlib.sha256()
    for part in (xy.tobytes(), idx.tobytes(), codes.astype("<u2").tobytes(), json.dumps(cats).encode()):
        digest.update(part)
    args = {
        "points_key": digest.hexdigest()[:16],  # the browser decodes the points again only when this changes
        "n": int(len(idx)),
        "xy": xy.tobytes(),
        "entity": idx.astype("<i4").tobytes(),
        "cat": codes.astype("<u2").tobytes(),
        "type": np.asarray(type_ids, dtype="<u2").tobytes(),
        "labels": json.dumps(labels, ensure_ascii=False).encode(),
        "types": json.dumps([str(t) for t in type_names], ensure_ascii=False).encode(),
        "legend": [plotly_text(f"{c} ({int(n):,})") for c, n in zip(cats, counts)],
        "colours": list(colours.values()),
        "thumbs": point_thumbs,
        "marker": 4 if len(idx) > 20000 else 6 if len(idx) > 3000 else 8,
    }
    return MapData(idx, values, codes, colours, {c: int(n) for c, n in zip(cats, counts)}, args)


def view_args(data: MapData, shown: list[str], highlight: list[int], highlight_name: str,
              selected: list[int], density: bool = False) -> dict[str, Any]:
    """The component's small arguments of this rerun: categories shown (None: all), the points
    highlighted by a search and the selection, as point positions; whether to shade density."""
    cats = list(data.colours)
    codes = [cats.index(c) for c in shown if c in data.colours]
    keep = np.isin(data.codes, codes) if shown else None
    return {"shown": codes if shown else None,
            "highlight": data.positions(highlight, keep),
            "highlight_name": plotly_text(highlight_name),
            "selected": data.positions(selected), "density": bool(density)}


def map_event(value: Any, data: MapData) -> tuple[str, list[int], Any] | None:
    """The component's last event as (kind, entity indices, stamp): ``("open", [i], t)`` for a
    click on a point, ``("select", [...], t)`` for a lasso or box (empty when cleared); None when
    there is none or it is malformed (it comes from the browser). Entities not on the map are dropped."""
    if not isinstance(value, dict) or value.get("kind") not in ("open", "select"):
        return None
    ents = value.get("entities")
    if not isinstance(ents, list):
        return None
    on_map = set(data.index.tolist())
    ents = list(dict.fromkeys(e for e in ents if isinstance(e, int) and not isinstance(e, bool) and e in on_map))
    if value["kind"] == "open" and len(ents) != 1:
        return None
    return value["kind"], ents, value.get("t")
