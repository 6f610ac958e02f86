"""Reading the files a graph is made of: CSV/TSV rows (plain or gzipped), entity tables with
contained image paths, triples with their split, and assembling a :class:`Graph` from them.

Every fatal problem raises :class:`DataError` naming the file and line; recoverable ones are
appended to ``Graph.warnings`` and the affected item is dropped (an image becomes "no visual
modality", a duplicate triple is kept once).
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import stat
from pathlib import Path
from typing import Iterator

import torch

from ..errors import DataError
from .graph import SPLITS, Graph, fingerprint_files

ENTITY_COLUMNS = ("id", "type", "label", "description", "image")
MODE_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                "validation": "val", "dev": "val", "test": "test", "testing": "test"}
MAX_FIELD = 1 << 20  # a 1 MB cell is data gone wrong, not a description



def absolute(path: str | os.PathLike) -> Path:
    """``path`` from the filesystem root, so a graph's ``source`` names it from any directory
    (``..`` folded, symlinks kept as the user named them)."""
    return Path(os.path.abspath(path))

def find_file(folder: Path, name: str) -> Path | None:
    for cand in (folder / name, folder / (name + ".gz")):
        if cand.is_file():
            return cand
    return None


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    try:
        data = raw.read()
    except (OSError, EOFError) as e:
        raise DataError(path, f"cannot read file ({e})") from None
    finally:
        raw.close()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(path, f"not UTF-8 text (byte 0x{data[e.start]:02x})", line) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError(path, "NUL byte in text: not a CSV file", line)
    return io.StringIO(text, newline="")


def read_rows(path: Path, required: tuple[str, ...], delimiter: str = ",",
              header: bool = True) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row dict) from a CSV, checking the header first."""
    csv.field_size_limit(MAX_FIELD)
    f = _open_text(path)
    # strict: a stray quote is an error, not a cell that silently swallows the rest of the file
    reader = csv.reader(f, delimiter=delimiter, strict=True)
    start = 1  # first line of the row being read (a quoted cell may span lines)
    try:
        if header:
            try:
                cols = [c.strip().lower() for c in next(reader)]
            except StopIteration:
                raise DataError(path, "empty file: expected a header line "
                                      f"({','.join(required)})", 1) from None
            missing = [c for c in required if c not in cols]
            if missing:
                raise DataError(path, f"bad header: missing column(s) {', '.join(missing)} "
                                      f"(found: {','.join(cols) or 'nothing'})", 1)
        else:
            cols = list(required)
        n = len(cols)
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < len(required):
                raise DataError(path, f"expected {n} fields, found {len(row)}", line)
            yield line, {c: (row[i].strip() if i < len(row) else "") for i, c in enumerate(cols)}
    except csv.Error as e:
        if "unexpected end of data" in str(e):
            raise DataError(path, "unclosed quote: the quoted field starting on this line never "
                                  "ends, so it would swallow the rest of the file", start) from None
        raise DataError(path, f"malformed CSV ({e})", reader.line_num) from None


def read_entities(path: Path, root: Path, warnings: list[str]) -> dict[str, list]:
    """Entity columns; ``image_cells`` keeps each non-empty image cell as (entity index, cell,
    line) so the checks can be redone without the CSV (:func:`check_images`)."""
    cols: dict[str, list] = {c: [] for c in ENTITY_COLUMNS}
    cells: list[tuple[int, str, int]] = []
    seen: dict[str, int] = {}
    for line, row in read_rows(path, ("id",)):
        eid = row["id"]
        if not eid:
            raise DataError(path, "empty entity id", line)
        if eid in seen:
            raise DataError(path, f"duplicate entity id {eid!r} (first on line {seen[eid]})", line)
        seen[eid] = line
        img = row.get("image", "")
        if img:
            cells.append((len(cols["id"]), img, line))
        cols["id"].append(eid)
        cols["type"].append(row.get("type", "") or "entity")
        cols["label"].append(row.get("label", "") or "")
        cols["description"].append(row.get("description", "") or "")
    if not cols["id"]:
        raise DataError(path, "no entities")
    cols["image"] = check_images(root, path.name, cells, len(cols["id"]), warnings)
    cols["image_cells"] = cells
    return cols


def check_images(root: Path, file_name: str, cells: list[tuple[int, str, int]], n: int,
                 warnings: list[str]) -> list[str]:
    """The image column of ``n`` entities from their non-empty cells, each checked by
    :func:`safe_image_path` (the files on disk may change without the CSV changing)."""
    images = [""] * n
    for i, cell, line in cells:
        images[i] = safe_image_path(root, cell, f"{file_name}:{line}", warnings)
    return images


def safe_image_path(root: Path, rel: str, where: str, warnings: list[str]) -> str:
    """Return ``rel`` when it names a regular file inside ``root`` (symlinks resolved), else ""
    with a warning. Never follows a path out of the graph folder."""
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or (p.parts and ":" in p.parts[0]):
        warnings.append(f"{where}: image path {rel!r} is absolute; ignored (must be inside the graph folder)")
        return ""
    real_root = os.path.realpath(root)
    real = os.path.realpath(root / p)
    if os.path.commonpath([real_root, real]) != real_root:
        warnings.append(f"{where}: image path {rel!r} leaves the graph folder; ignored")
        return ""
    try:
        st = os.stat(real)
    except OSError:
        warnings.append(f"{where}: image {rel!r} not found; entity has no visual modality")
        return ""
    if not stat.S_ISREG(st.st_mode):
        warnings.append(f"{where}: image {rel!r} is not a regular file; ignored")
        return ""
    if st.st_size == 0:
        warnings.append(f"{where}: image {rel!r} is empty (0 bytes); entity has no visual modality")
        return ""
    return p.as_posix()


def read_mode_triples(path: Path, warnings: list[str], known: set[str] | None = None,
                      entities_file: Path | None = None) -> list[tuple[str, str, str, str, int]]:
    out = []
    has_mode = None
    for line, row in read_rows(path, ("head", "relation", "tail")):
        h, r, t = row["head"], row["relation"], row["tail"]
        if has_mode is None:
            has_mode = "mode" in row
        if not h or not r or not t:
            raise DataError(path, "empty head, relation or tail", line)
        mode_raw = row.get("mode", "train") or "train"
        mode = MODE_ALIASES.get(mode_raw.lower())
        if mode is None:
            raise DataError(path, f"unknown mode {mode_raw!r} (expected train, val or test)", line)
        if known is not None:
            for e in (h, t):
                if e not in known:
                    raise DataError(path, f"unknown entity {e!r} (not in {entities_file.name})", line)
        out.append((h, r, t, mode, line))
    if not out:
        raise DataError(path, "no triples")
    if has_mode is False:
        warnings.append(f"{path.name}: no mode column; every triple is treated as training data")
    return out


def read_split_folder(folder: Path, order: str = "hrt") -> Graph:
    """train/valid/test files of tab-separated triples (PyKEEN/OpenKE order ``hrt``; IKRL's WN9
    files use ``htr``)."""
    warnings: list[str] = []
    triples = []
    files = []
    names = {"train": ("train.txt", "train"), "val": ("valid.txt", "val.txt", "dev.txt", "valid"),
             "test": ("test.txt", "test")}
    for mode, cands in names.items():
        p = next((q for c in cands if (q := find_file(folder, c))), None)
        if p is None:
            if mode == "train":
                raise DataError(folder / "train.txt", "missing training file")
            warnings.append(f"{folder}: no {cands[0]}; the {mode} split is empty")
            continue
        files.append(p)
        for line, row in read_rows(p, tuple(order), delimiter="\t", header=False):
            h, r, t = row["h"], row["r"], row["t"]
            if not h or not r or not t:
                raise DataError(p, "expected three tab-separated fields", line)
            triples.append((h, r, t, mode, line))
    if not triples:
        raise DataError(folder / "train.txt", "no triples")
    ents = _maybe_entities(folder, warnings)
    return build_graph(triples, ents, warnings, root=folder, source=str(folder), files=files)


def _maybe_entities(folder: Path, warnings: list[str]) -> dict[str, list[str]] | None:
    epath = find_file(folder, "entities.csv")
    return read_entities(epath, folder, warnings) if epath else None


def build_graph(triples: list[tuple[str, str, str, str, int]], ents: dict[str, list[str]] | None,
                warnings: list[str], root: Path, source: str, files: list[Path]) -> Graph:
    if ents is None:
        order: dict[str, None] = {}
        for h, _, t, _, _ in triples:
            order.setdefault(h)
            order.setdefault(t)
        ids = list(order)
        ents = {"id": ids, "type": ["entity"] * len(ids), "label": list(ids),
                "description": [""] * len(ids), "image": [""] * len(ids)}
    eidx = {e: i for i, e in enumerate(ents["id"])}
    rels: dict[str, int] = {}
    seen: dict[tuple[int, int, int], str] = {}
    per_split: dict[str, list[tuple[int, int, int]]] = {s: [] for s in SPLITS}
    dup = 0
    for h, r, t, mode, _ in triples:
        key = (eidx[h], rels.setdefault(r, len(rels)), eidx[t])
        if key in seen:
            dup += 1
            continue
        seen[key] = mode
        per_split[mode].append(key)
    if dup:
        warnings.append(f"{files[-1].name}: {dup} duplicate triple(s) dropped (each kept once, in its first split)")
    if not per_split["train"]:
        raise DataError(files[-1], "no training triples (mode=train)")
    tensors = {s: torch.tensor(v, dtype=torch.long).reshape(-1, 3) for s, v in per_split.items()}
    return Graph(entities=ents["id"], relations=list(rels), types=ents["type"], labels=ents["label"],
                 descriptions=ents["description"], images=ents["image"], triples=tensors,
                 root=root, source=source, fingerprint=fingerprint_files(files), warnings=warnings)

