"""A graph folder on disk: entities.csv + triples.csv (+ images and notes), written atomically and
only over a folder vlkge wrote, and the inductive split every written graph uses. Shared by the
catalogue importer and the demo builder."""
from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from unidecode import unidecode

from ..atomic import as_if_created
from ..errors import DataError, VLKGEError
from .images import open_regular, regular_file_inside

MARKER = ".vlkge-graph.json"  # written into every folder we create; lets us overwrite our own output only
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def slug(text: str) -> str:
    """ASCII id fragment: accents folded, lower case, runs of other characters → '-'."""
    return re.sub(r"[^a-z0-9]+", "-", unidecode(text).lower()).strip("-")


def inductive_split(triples: list[tuple[str, str, str]], artworks: Iterable[str],
                    group_of: dict[str, str], seed: int = 0,
                    fractions: tuple[float, float, float] = SPLIT_FRACTIONS
                    ) -> tuple[list[tuple[str, str, str, str]], dict[str, int]]:
    """Split inductively by artwork: returns ((h, r, t, mode) list, adjustment counts).

    Artworks are shuffled per group (artist) with ``seed`` and dealt out in one running sequence, so
    each artist's works spread over train/val/test in the 80/10/10 proportions and the global counts
    hold even for artists with one or two works. Every triple whose head is a val/test artwork goes to
    that split; every other triple (artist-level facts) stays in train. A val/test artwork with a tail
    that occurs in no train triple moves to train: the model could not embed that answer.
    """
    arts = list(dict.fromkeys(artworks))
    groups: dict[str, list[str]] = defaultdict(list)
    for a in arts:
        groups[group_of.get(a, "")].append(a)
    # a fixed deal pattern per 10 artworks (train x8, val, test) keeps proportions exact
    n_val = round(10 * fractions[1])
    n_test = round(10 * fractions[2])
    pattern = ["train"] * (10 - n_val - n_test) + ["val"] * n_val + ["test"] * n_test
    rng = random.Random(seed)
    rng.shuffle(pattern)
    mode_of: dict[str, str] = {}
    k = 0
    for g in sorted(groups):
        members = sorted(groups[g])
        random.Random(f"{seed}:{g}").shuffle(members)
        for a in members:
            mode_of[a] = pattern[k % 10]
            k += 1
    by_head: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for tr in triples:
        by_head[tr[0]].append(tr)
    in_train: set[str] = set()
    for h, r, t in triples:
        if mode_of.get(h, "train") == "train":
            in_train.update((h, t))
    moved = 0
    for a in arts:  # one pass suffices: moving an artwork only adds entities to train
        if mode_of[a] != "train" and any(t not in in_train for _, _, t in by_head[a]):
            mode_of[a] = "train"
            moved += 1
            for _, _, t in by_head[a]:
                in_train.update((a, t))
    out = [(h, r, t, mode_of.get(h, "train")) for h, r, t in triples]
    return out, {"val/test artwork moved to train (a tail unseen in train)": moved}


def write_graph_folder(out: Path, entities: list[dict[str, str]], triples: list[tuple[str, str, str, str]],
                       files: dict[str, Path] | None = None, extra_columns: tuple[str, ...] = (),
                       meta: dict | None = None, link: bool = True, texts: dict[str, str] | None = None,
                       image_root: Path | None = None) -> None:
    """Write entities.csv + triples.csv (+ images, + ``texts``: file name -> content) atomically
    into ``out``. With ``image_root``, each image must still be a regular file inside it when it is
    linked or copied (it was checked when the catalogue was read; it may have changed since).

    Everything goes to a temporary sibling folder first, is validated with ``load_graph`` and then
    renamed into place, so ``out`` is either the old graph or the complete new one. An existing
    non-empty ``out`` is replaced only when it carries our marker file, and what was made inside it
    (runs, audit verdicts) moves into the new graph: never lose user data.
    """
    from .readers import load_graph  # late: readers may import us for dispatch

    out = Path(out)
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        as_if_created(tmp, directory=True)
        if files:
            (tmp / "images").mkdir()
            for rel, src in files.items():
                _place(src, tmp / rel, link, image_root)
        cols = ("id", "type", "label", "description", "image") + tuple(extra_columns)
        with open(tmp / "entities.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(cols)
            for e in entities:
                w.writerow([e.get(c, "") for c in cols])
        with open(tmp / "triples.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(("head", "relation", "tail", "mode"))
            w.writerows(triples)
        for name, text in (texts or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        (tmp / MARKER).write_text(json.dumps({"written_by": "vlkge", **(meta or {})}, indent=1) + "\n")
        load_graph(tmp, cache=False)  # a graph we cannot read back never replaces anything (a temp folder: no cache entry)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_target(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise VLKGEError(f"{out}: exists and is not a folder; choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise VLKGEError(f"{out}: folder is not empty and was not written by vlkge; "
                         "refusing to overwrite it (choose an empty or new folder)")


def _swap_in(tmp: Path, out: Path) -> None:
    check_target(out)  # again: someone may have written there meanwhile
    old = None
    kept: list[str] = []
    if out.exists():
        if any(out.iterdir()):
            # What was made inside the old graph and is not part of a graph (trained runs, the audit
            # verdicts' database) moves into the new one: re-importing never deletes a curator's work.
            try:
                for child in sorted(out.iterdir()):
                    if not (tmp / child.name).exists():
                        os.rename(child, tmp / child.name)
                        kept.append(child.name)
                old = out.parent / f".{out.name}.old-{os.getpid()}-{random.randrange(1 << 30):x}"
                os.rename(out, old)
            except OSError:
                _move_back(tmp, out, kept)
                raise
        else:
            out.rmdir()
    try:
        os.rename(tmp, out)
    except OSError:
        if old is not None:
            os.rename(old, out)
        _move_back(tmp, out, kept)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _move_back(tmp: Path, out: Path, names: list[str]) -> None:
    for name in names:
        os.rename(tmp / name, out / name)


def _place(src: Path, dst: Path, link: bool, root: Path | None = None) -> None:
    """Hard-link (same filesystem: no extra disk space) or copy ``src`` to ``dst``: exactly the
    regular file that was opened, never through a symlink, and (with ``root``) only while it
    resolves inside ``root``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        f = open_regular(src, follow_symlinks=False)
    except OSError as e:
        raise DataError(src, f"changed while importing ({e.strerror or e}); import again") from None
    with f:
        st = os.fstat(f.fileno())
        if root is not None:
            real, _ = regular_file_inside(root, src)
            if real is None or (os.stat(real).st_dev, os.stat(real).st_ino) != (st.st_dev, st.st_ino):
                raise DataError(src, "changed while importing (no longer inside the images folder); import again")
        if link:
            try:
                os.link(src, dst, follow_symlinks=False)
                if (os.lstat(dst).st_dev, os.lstat(dst).st_ino) == (st.st_dev, st.st_ino):
                    return
                os.unlink(dst)  # replaced between the check and the link: copy what was checked
            except OSError:
                pass
        with open(dst, "xb") as out:
            shutil.copyfileobj(f, out, 1 << 20)

