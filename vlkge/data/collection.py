"""Turn a museum catalogue export (one row per artwork: CSV or an Excel workbook) into a vlkge graph folder.

The result uses the same conventions as wikiart-mini (ids prefixed by type, the art relations
``isCreatedByArtist``/``hasStyle``/``belongsToGenre``/``isCreatedInDecade``/``hasNationality``), so
the app and the models treat an imported collection like the bundled one.

Column mapping (``--map`` on the command line, ``mapping`` here)
-----------------------------------------------------------------
* ``FIELD=COLUMN`` picks the catalogue column for one of the fixed fields
  ``id, title, artist, date, style, genre, medium, image, description``
  (e.g. ``--map "id=Object Number" --map "date=Dated"``). Column names match case-insensitively.
  ``FIELD=`` (empty column) switches a field off even when a plainly named column exists.
* ``relation:NAME=COLUMN`` adds an extra artwork relation ``NAME`` whose tails are the column's
  values (e.g. ``--map "relation:hasTechnique=Technique"``). The tail entities get the column name,
  slugified, as their type and id prefix (``technique_etching``).
* Unmapped fields fall back to plainly named columns (``Title``, ``Artist``/``Maker``,
  ``Date``/``Year``, ``Object Number``/``Accession Number``, ``Image``/``Filename`` ...).
* Cells of artist, style, genre, medium and extra relations may hold several values separated by
  ``;`` or ``|`` (each maker gets its own ``isCreatedByArtist`` triple).

Artist strings such as ``Attributed to Anthony van Dyck (Flemish, 1599–1641)`` become the artist
``artist_anthony-van-dyck`` (description ``Flemish painter, 1599–1641``), ``hasNationality`` →
``nationality_flemish``, and the qualifier becomes an artwork triple ``hasAttributionQualifier`` →
``qualifier_attributed-to``. Free-text dates (``c. 1631``, ``1868–70``, ``1890s``) give a decade
entity (``isCreatedInDecade`` → ``decade_1860s``); the parsed year and the original date text are
kept as the extra ``year`` and ``date`` columns of ``entities.csv`` (attributes the reader ignores),
never in the description, where they would leak the decade answer. Century-only dates
(``19th century``) give no decade: a decade would be invented precision.
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
import tempfile
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from unidecode import unidecode

from ..atomic import as_if_created
from ..errors import DataError, VLKGEError
from ..paths import allowed_image_folder, image_roots, imports_dir
from .images import MISSING, NOT_REGULAR, OUTSIDE, open_image, open_regular, regular_file_inside

FIELDS = ("id", "title", "artist", "date", "style", "genre", "medium", "image", "description")
IMPORT_REPORT = "import_report.txt"  # what import_collection skipped or doubted, written beside the graph
MARKER = ".vlkge-graph.json"  # written into every folder we create; lets us overwrite our own output only

# Plainly named columns, tried in order (compared after lower-casing and folding _ and - to spaces).
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "object number", "objectnumber", "object id", "objectid", "accession number",
           "accession no", "accession", "inventory number", "inventory no", "inv no", "catalogue number"),
    "title": ("title", "object title", "name", "titel", "titre"),
    "artist": ("artist", "artist name", "artist display name", "maker", "creator", "author",
               "painter", "artist maker"),
    "date": ("date", "dated", "object date", "date made", "creation date", "year", "date created"),
    "style": ("style", "movement", "art movement"),
    "genre": ("genre", "subject type", "category"),
    "medium": ("medium", "materials", "medium technique", "material"),
    "image": ("image", "filename", "file name", "file", "image file", "image filename", "image path",
              "img", "picture", "primary image"),
    "description": ("description", "label text", "notes", "remarks"),
}

RELATIONS = {"artist": "isCreatedByArtist", "style": "hasStyle", "genre": "belongsToGenre",
             "medium": "isCreatedWithMedium"}
TYPES = {"artist": "artist", "style": "style", "genre": "genre", "medium": "medium"}
TYPE_TEXT = {"style": "an art style", "genre": "a genre of art", "medium": "a medium",
             "nationality": "a nationality", "qualifier": "an attribution qualifier"}

QUALIFIERS = ("attributed to", "workshop of", "studio of", "follower of", "circle of", "school of",
              "manner of", "style of", "copy after", "after", "imitator of", "pupil of")
UNKNOWN_ARTISTS = {"unknown", "anonymous", "unknown artist", "anon", "unidentified artist", "n a", "na"}
DASHES = str.maketrans({"–": "-", "—": "-", "‑": "-", "‐": "-", "−": "-", "/": "-"})
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass
class ImportReport:
    """What :func:`import_collection` did."""

    out: Path
    artworks: int = 0
    artists: int = 0
    entities: int = 0
    triples: dict[str, int] = field(default_factory=dict)
    images: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    new_image_bytes: int = 0  # image bytes this import added to the disk (hard links add none)

    def summary(self) -> str:
        t = ", ".join(f"{k} {v}" for k, v in self.triples.items())
        return (f"imported {self.artworks} artworks by {self.artists} artists into {self.out}: "
                f"{self.entities} entities, triples {t}, {self.images} images "
                f"({self.new_image_bytes / 1e6:.1f} MB new on disk)")

    def problems(self, catalogue: str, shown_lines: int | None = None) -> list[str]:
        """Skipped rows, then warnings, as ``CATALOGUE:LINE: what`` lines. A warning repeated on
        many rows (an unreadable date that recurs across a large catalogue) is one line, naming its
        first row and listing the others (``shown_lines`` of them at most; all when None)."""
        out = [f"{catalogue}:{ln}: skipped: {why}" for ln, why in self.skipped]
        rows: dict[str, list[str]] = defaultdict(list)
        for w in self.warnings:
            m = re.fullmatch(r"line (\d+): (.*)", w, re.S)
            rows[m.group(2) if m else w].append(m.group(1) if m else "")
        for what, lines in rows.items():
            first, more = lines[0], [ln for ln in lines[1:] if ln]
            listed = more if shown_lines is None else more[:shown_lines]
            also = (f" (also on {len(more)} more rows: {', '.join(listed)}{', …' if len(listed) < len(more) else ''})"
                    if more else "")
            out.append(f"{catalogue}:{first}: {what}{also}" if first else f"{catalogue}: {what}")
        return out


# ---------------------------------------------------------------- small helpers


def slug(text: str) -> str:
    """ASCII id fragment: accents folded, lower case, runs of other characters → '-'."""
    return re.sub(r"[^a-z0-9]+", "-", unidecode(text).lower()).strip("-")


def name_key(name: str) -> str:
    """Key under which spellings of one person unify (accents, case, punctuation, spacing)."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", unidecode(unicodedata.normalize("NFKC", name)).lower()).split())


def _col_key(c: str) -> str:
    return " ".join(re.sub(r"[_\-./]+", " ", c.strip().lower()).split())


def _multi(cell: str) -> list[str]:
    out = []
    for part in re.split(r"[;|]", cell):
        part = " ".join(part.split())
        if part and part not in out:
            out.append(part)
    return out


def parse_map_args(items: Iterable[str]) -> dict[str, str]:
    """Parse ``--map`` strings: ``FIELD=COLUMN`` or ``relation:NAME=COLUMN`` (see module doc)."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise VLKGEError(f"--map {item!r}: expected FIELD=COLUMN or relation:NAME=COLUMN")
        key, col = (s.strip() for s in item.split("=", 1))
        if key.lower().startswith("relation:"):
            name = key.split(":", 1)[1].strip()
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
                raise VLKGEError(f"--map {item!r}: relation name must be an identifier like hasTechnique")
            if not col:
                raise VLKGEError(f"--map {item!r}: a relation needs a column")
            out[f"relation:{name}"] = col
        else:
            f = key.lower()
            if f not in FIELDS:
                raise VLKGEError(f"--map {item!r}: unknown field {key!r} (fields: {', '.join(FIELDS)}; "
                                 "extra relations: relation:NAME=COLUMN)")
            out[f] = col
    return out


# ---------------------------------------------------------------- artist strings


@dataclass
class ArtistInfo:
    name: str
    qualifier: str = ""
    nationality: str = ""
    born: int | None = None
    died: int | None = None


def parse_artist(cell: str) -> ArtistInfo | None:
    """``Attributed to Anthony van Dyck (Flemish, 1599–1641)`` → name, qualifier, nationality,
    life dates. None for empty/unknown makers."""
    s = " ".join(cell.split())
    if not s:
        return None
    info = ArtistInfo(name="")
    low = s.lower()
    for q in QUALIFIERS:
        if low.startswith(q + " "):
            info.qualifier = s[: len(q)]
            info.qualifier = info.qualifier[0].upper() + info.qualifier[1:].lower()
            s = s[len(q):].strip()
            break
    paren = re.search(r"\(([^()]*)\)\s*$", s)
    if paren:
        s = s[: paren.start()].strip()
        _parse_bio(paren.group(1), info)
    elif re.search(r",\s*[^,]*\d{4}", s):
        # "Claude Monet, French, 1840-1926": everything after the first comma is the bio
        s, bio = s.split(",", 1)
        _parse_bio(bio, info)
    elif s.count(",") == 1 and not re.search(r"\d", s):
        last, first = (p.strip() for p in s.split(","))
        if first and last and first.lower() not in {"jr", "sr", "the elder", "the younger"}:
            s = f"{first} {last}"  # "Dyck, Anthony van" → "Anthony van Dyck"
    s = s.strip(" ,;")
    if not s or name_key(s) in UNKNOWN_ARTISTS:
        return None
    info.name = s
    return info


def _parse_bio(bio: str, info: ArtistInfo) -> None:
    for part in (p.strip() for p in bio.translate(DASHES).split(",")):
        m = re.search(r"(\d{4})\s*-\s*(\d{2,4})", part)
        if m:
            info.born = int(m.group(1))
            d = m.group(2)
            info.died = int(m.group(1)[: 4 - len(d)] + d)
            continue
        m = re.search(r"\b(?:born|b\.)\D*(\d{4})", part, re.I)
        if m:
            info.born = int(m.group(1))
            continue
        m = re.search(r"\b(?:died|d\.)\D*(\d{4})", part, re.I)
        if m:
            info.died = int(m.group(1))
            continue
        if not info.nationality and re.fullmatch(r"[^\W\d_][\w\s'\-]*", part) \
                and not re.match(r"(active|born|died|fl\b)", part, re.I):
            info.nationality = part


def artist_description(info: ArtistInfo) -> str:
    who = f"{info.nationality} painter" if info.nationality else "Painter"
    if info.born and info.died:
        return f"{who}, {info.born}–{info.died}"
    if info.born:
        return f"{who}, born {info.born}"
    if info.died:
        return f"{who}, died {info.died}"
    return who if info.nationality else ""


# ---------------------------------------------------------------- dates


@dataclass
class DateInfo:
    text: str
    year: int | None = None
    decade: int | None = None
    century: int | None = None


def parse_date(cell: str, max_year: int = 2100) -> DateInfo | None:
    """Free-text catalogue date → a representative year (the start of a range) and its decade.
    ``c. 1631`` → 1631/1630s; ``1868–70`` → 1868/1860s; ``1890s`` → 1890/1890s;
    ``19th century`` → century 19, no year or decade."""
    s = " ".join(cell.split())
    if not s:
        return None
    t = s.lower().translate(DASHES)
    t = re.sub(r"\b(c\.|ca\.?|circa|about|around|approx\.?|approximately|probably|possibly|before|after|"
               r"dated|early|mid|late)\s*", " ", t).strip()
    t = re.sub(r"(?<=\d)\s*-\s*(?=\d)", "-", t)
    info = DateInfo(text=s)
    m = re.search(r"\b(\d{3,4})s\b", t)
    if m:
        info.year = int(m.group(1))
    else:
        m = re.search(r"\b(\d{3,4})(?:-(\d{1,4}))?\b", t)
        if m:
            info.year = int(m.group(1))
        else:
            m = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)\s*(?:-\s*\d{1,2}(?:st|nd|rd|th)\s*)?(?:century|c\.?)\b", t)
            if m:
                info.century = int(m.group(1))
    if info.year is not None and not (1000 <= info.year <= max_year):
        info.year = None
    if info.year is not None:
        info.decade = info.year // 10 * 10
    return info


def decade_entity(decade: int) -> tuple[str, str, str, str]:
    return (f"decade_{decade}s", "year", f"{decade}s", f"The decade {decade}-{decade + 9}")


# ---------------------------------------------------------------- split (shared with the demo)


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


# ---------------------------------------------------------------- writing


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
    _check_target(out)
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
        load_graph(tmp)  # a graph we cannot read back never replaces anything
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def imported_graphs(base: Path | None = None) -> list[Path]:
    """The graph folders that catalogue imports wrote directly inside ``base`` (default:
    imports_dir()), newest first."""
    base = imports_dir() if base is None else Path(base)
    found = []
    for folder in base.iterdir() if base.is_dir() else []:
        try:
            meta = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("kind") == "collection" and (folder / "entities.csv").is_file():
            found.append(folder.resolve())
    return sorted(found, key=lambda f: (-(f / MARKER).stat().st_mtime, f.name))


def _check_target(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise VLKGEError(f"{out}: exists and is not a folder; choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise VLKGEError(f"{out}: folder is not empty and was not written by vlkge; "
                         "refusing to overwrite it (choose an empty or new folder)")


def _swap_in(tmp: Path, out: Path) -> None:
    _check_target(out)  # again: someone may have written there meanwhile
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


# ---------------------------------------------------------------- reading the catalogue


def _decode(data: bytes, path: Path, warnings: list[str]) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode Text" export
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError(path, "starts as UTF-16 text but is not") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        warnings.append(f"{path.name}: not UTF-8; read as Windows-1252 (check accented names)")
    if "\x00" in text:
        raise DataError(path, "NUL byte in text: not a CSV file (save the catalogue as CSV)",
                        text[: text.index("\x00")].count("\n") + 1)
    return text


def _csv_reader(text: str):
    try:
        delim = csv.Sniffer().sniff(text[:8192].split("\n", 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        delim = ","
    csv.field_size_limit(1 << 20)
    return csv.reader(io.StringIO(text, newline=""), delimiter=delim)


def _csv_rows(data: bytes, path: Path, warnings: list[str]) -> Iterable[tuple[int, list[str]]]:
    reader = _csv_reader(_decode(data, path, warnings))
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as e:
        raise DataError(path, f"malformed CSV ({e})", reader.line_num) from None


def _cell_text(value: object) -> str:
    """An Excel cell as the text a CSV export of it would hold."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a year or a count, not 1872.0
    if hasattr(value, "isoformat"):  # datetime, date, time
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


def _excel_rows(data: bytes, path: Path, warnings: list[str]) -> Iterable[tuple[int, list[str]]]:
    """The first worksheet's rows, numbered as Excel numbers them."""
    import zipfile

    import openpyxl
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise DataError(path, f"not a readable Excel workbook ({e})") from None
    try:
        sheet = book.worksheets[0]
        if len(book.worksheets) > 1:
            warnings.append(f"{path.name}: {len(book.worksheets)} worksheets; only the first, "
                            f"{sheet.title!r}, was read")
        for n, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield n, [_cell_text(v) for v in row]
    finally:
        book.close()


def _catalogue_rows(data: bytes, path: Path, warnings: list[str]) -> Iterable[tuple[int, list[str]]]:
    """A catalogue's rows, numbered by line (CSV) or row (Excel), header first."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _excel_rows(data, path, warnings)
    if suffix == ".xls" or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataError(path, "an old-style Excel file (.xls): save it as .xlsx or CSV")
    if data.startswith(b"PK\x03\x04"):
        raise DataError(path, "a ZIP-based file (an Excel workbook?); name it .xlsx, or save it as CSV")
    return _csv_rows(data, path, warnings)


def _header(rows: Iterable[tuple[int, list[str]]], path: Path) -> list[str]:
    header = next(iter(rows), (1, []))[1]
    if not header or not any(c.strip() for c in header):
        raise DataError(path, "empty file: expected a header line naming the columns", 1)
    return [h.strip() for h in header]


def catalogue_columns(data: bytes, name: str = "catalogue.csv") -> tuple[list[str], dict[str, str]]:
    """A catalogue's column names (from its header line) and the column each field would be read
    from by default, for a curator to confirm or correct before importing."""
    header = _header(_catalogue_rows(data, Path(name), []), Path(name))
    return header, {f: header[i] for f, i in _default_fields(header, {}).items()}


def _read_catalogue(path: Path, warnings: list[str]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A catalogue CSV (any common delimiter and encoding) or Excel workbook (.xlsx, first sheet):
    its header and its non-blank rows with their line or row numbers."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(path, f"cannot read file ({e.strerror or e})") from None
    rows = iter(_catalogue_rows(data, path, warnings))
    header = _header(rows, path)
    return header, [(n, row) for n, row in rows if row and any(c.strip() for c in row)]


TITLE_HINT = "name one with --map title=COLUMN"


def _resolve_columns(header: list[str], mapping: dict[str, str], path: Path
                     ) -> tuple[dict[str, int], dict[str, int]]:
    keys = {_col_key(h): i for i, h in reversed(list(enumerate(header)))}

    def find(col: str, what: str) -> int:
        i = keys.get(_col_key(col))
        if i is None:
            raise DataError(path, f"--map {what}={col}: no column {col!r} (columns: {', '.join(header)})", 1)
        return i

    fields: dict[str, int] = {}
    rels: dict[str, int] = {}
    for k, col in mapping.items():
        if k.startswith("relation:"):
            rels[k.split(":", 1)[1]] = find(col, k)
        elif col:
            fields[k] = find(col, k)
    fields.update(_default_fields(header, mapping, taken=fields))
    if "title" not in fields and "image" not in fields:
        raise DataError(path, "no title or image column found (columns: "
                        f"{', '.join(header)}); {TITLE_HINT}", 1)
    return fields, rels


def _default_fields(header: list[str], mapping: dict[str, str], taken: dict[str, int] | None = None
                    ) -> dict[str, int]:
    """Field -> column index for the fields ``mapping`` leaves open, from plainly named columns
    (an explicit FIELD= in ``mapping`` switches its default off)."""
    keys = {_col_key(h): i for i, h in reversed(list(enumerate(header)))}
    used = set((taken or {}).values())
    found: dict[str, int] = {}
    for f in FIELDS:
        if f in mapping or f in (taken or {}):
            continue
        for cand in DEFAULT_COLUMNS[f]:
            if cand in keys and keys[cand] not in used:
                found[f] = keys[cand]
                used.add(keys[cand])
                break
    return found


def _image_index(root: Path) -> dict[str, Path]:
    """The regular files inside ``root`` by lower-case name and stem, as real paths. Symlinked
    folders are not entered and a symlink out of ``root`` is left out; nothing is opened."""
    found = []
    for folder, _, names in os.walk(root):  # followlinks=False
        found += [Path(folder) / n for n in names if not n.startswith(".")]
    idx: dict[str, Path] = {}
    for p in sorted(found):
        real, _ = regular_file_inside(root, p)
        if real is not None:
            idx.setdefault(p.name.lower(), Path(real))
            idx.setdefault("stem:" + p.stem.lower(), Path(real))
    return idx


def _find_image(img_cell: str, root: Path, idx: dict[str, Path], shown: str) -> tuple[Path | None, str]:
    """The real path of the regular file inside ``root`` that an image cell names, or (None, why not).
    A path from the exporting machine (``/Volumes/Scans/a1.jpg``) is matched by its file name."""
    real, problem = regular_file_inside(root, img_cell)
    if real is not None:
        return Path(real), ""
    name = Path(img_cell).name.lower()
    hit = idx.get(name) or idx.get("stem:" + name)
    if hit is not None:
        return hit, ""
    if problem == OUTSIDE:
        return None, f"image {img_cell!r} is outside the images folder; row imported without an image"
    if problem == NOT_REGULAR:
        return None, (f"image {img_cell!r} is not a regular file (a folder, FIFO or device?); "
                      "row imported without an image")
    assert problem == MISSING
    return None, f"image {img_cell!r} not found in {shown}; artwork has no image"


def import_collection(catalogue: Path, images: Path | None, out: Path,
                      mapping: dict[str, str] | None = None, copy_images: bool = False,
                      seed: int = 0, source: str | None = None) -> ImportReport:
    """Import a museum catalogue (CSV or Excel) into the graph folder ``out`` (see the module
    docstring).

    ``images``: folder holding the image files named in the image column (default: the
    catalogue's folder), or a ZIP archive of them; when a row has no image cell, a file named
    after its id is used. Images are placed in ``out/images/<artwork id><ext>`` — hard-linked when
    on the same filesystem, else copied; ``copy_images=True`` always copies (independent files).
    Rows without a usable title/image or id are skipped and listed in ``ImportReport.skipped`` as
    (line, reason). ``source`` is what the graph records as its origin (default: the catalogue's
    path).
    """
    catalogue, out = Path(catalogue), Path(out)
    if not catalogue.is_file():
        raise DataError(catalogue, "no such file")
    if images is None or not Path(images).is_file():
        img_dir = Path(images) if images is not None else catalogue.parent
        if images is not None and not img_dir.is_dir():
            raise DataError(img_dir, "image folder not found")
        return _import(catalogue, img_dir, str(img_dir), out, mapping, copy_images, seed, source)
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # beside the graph: unpacked images are hard-linked into it, not copied across file systems
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".vlkge-images-") as tmp:
        unpacked = extract_image_archive(Path(images), Path(tmp))
        return _import(catalogue, Path(tmp), Path(images).name, out, mapping, copy_images, seed, source, unpacked)


def _import(catalogue: Path, img_dir: Path, images_shown: str, out: Path, mapping: dict[str, str] | None,
            copy_images: bool, seed: int, source: str | None, unpacked: Unpacked | None = None) -> ImportReport:
    """import_collection with the images in the folder ``img_dir``, called ``images_shown``
    (``unpacked`` there from an archive)."""
    _check_target(out)
    report = ImportReport(out=out)
    if unpacked is not None and unpacked.warning(images_shown):
        report.warnings.append(unpacked.warning(images_shown))
    header, rows = _read_catalogue(catalogue, report.warnings)
    fields, rels = _resolve_columns(header, mapping or {}, catalogue)
    report.columns = {f: header[i] for f, i in fields.items()}
    report.columns.update({f"relation:{r}": header[i] for r, i in rels.items()})
    idx = _image_index(img_dir) if ("image" in fields or "id" in fields) else {}

    entities: dict[str, dict[str, str]] = {}
    artwork_ids: list[str] = []
    triples: list[tuple[str, str, str]] = []
    artist_of: dict[str, str] = {}
    files: dict[str, Path] = {}
    seen_ids: dict[str, int] = {}
    artists: dict[str, ArtistInfo] = {}  # name_key → merged info
    artist_id: dict[str, str] = {}

    def cell(row: list[str], f: str) -> str:
        i = fields.get(f)
        return " ".join(row[i].split()) if i is not None and i < len(row) else ""

    def add_entity(eid: str, etype: str, label: str, desc: str = "") -> str:
        entities.setdefault(eid, {"id": eid, "type": etype, "label": label, "description": desc})
        return eid

    def add_attr(kind: str, value: str, etype: str | None = None) -> str:
        etype = etype or kind
        what = TYPE_TEXT.get(etype, f"a {etype.replace('_', ' ')}")
        return add_entity(f"{etype}_{slug(value)}", etype, value, f"{value}, {what}")

    for line, row in rows:
        title = cell(row, "title")
        img_cell = cell(row, "image")
        raw_id = cell(row, "id") if "id" in fields else ""
        if "id" in fields and not raw_id:
            report.skipped.append((line, "no id"))
            continue
        if not title and not img_cell:
            report.skipped.append((line, "no title and no image"))
            continue
        key = slug(raw_id) if raw_id else f"line-{line}-{slug(title)[:40]}".strip("-")
        if not key:
            report.skipped.append((line, f"id {raw_id!r} has no letters or digits"))
            continue
        aid = f"artwork_{key}"
        if aid in seen_ids:
            report.skipped.append((line, f"duplicate id {raw_id!r} (first on line {seen_ids[aid]})"))
            continue
        seen_ids[aid] = line
        src = None
        if img_cell:
            src, problem = _find_image(img_cell, img_dir, idx, images_shown)
            if problem:
                report.warnings.append(f"line {line}: {problem}")
        elif raw_id:
            src = idx.get("stem:" + raw_id.lower()) or idx.get("stem:" + key)
        image_rel = ""
        if src is not None and src.stat().st_size > 0:
            image_rel = f"images/{aid}{src.suffix.lower()}"
            files[image_rel] = src
        elif src is not None:
            report.warnings.append(f"line {line}: image {img_cell!r} is empty; artwork has no image")
        label = title or "Untitled"
        ent = add_entity(aid, "artwork", label, cell(row, "description"))
        entities[ent]["image"] = image_rel
        artwork_ids.append(aid)

        # A cell may name several makers ("Peter Paul Rubens | Jan Brueghel the Elder"); the
        # first one groups the artwork for the split.
        for info in filter(None, map(parse_artist, _multi(cell(row, "artist")))):
            k = name_key(info.name)
            known = artists.get(k)
            if known is None:
                known = artists[k] = ArtistInfo(info.name)
                artist_id[k] = f"artist_{slug(info.name)}"
            # later rows may fill in what earlier ones lacked (nationality, dates)
            known.nationality = known.nationality or info.nationality
            known.born = known.born or info.born
            known.died = known.died or info.died
            art = artist_id[k]
            add_entity(art, "artist", known.name)
            triples.append((aid, "isCreatedByArtist", art))
            artist_of.setdefault(aid, art)
            if info.qualifier:
                q = add_attr("qualifier", info.qualifier)
                triples.append((aid, "hasAttributionQualifier", q))
        d = parse_date(cell(row, "date"))
        if d is not None:
            entities[aid]["date"] = d.text
            if d.year is not None:
                entities[aid]["year"] = str(d.year)
                did, dtype, dlabel, ddesc = decade_entity(d.decade)
                add_entity(did, dtype, dlabel, ddesc)
                triples.append((aid, "isCreatedInDecade", did))
            elif d.century is None:
                report.warnings.append(f"line {line}: date {d.text!r} not understood; no decade")
        for f in ("style", "genre", "medium"):
            for v in _multi(cell(row, f)):
                triples.append((aid, RELATIONS[f], add_attr(f, v, TYPES[f])))
        for rname, i in rels.items():
            etype = slug(header[i]).replace("-", "_") or "attribute"
            for v in _multi(row[i] if i < len(row) else ""):
                triples.append((aid, rname, add_attr(etype, v, etype)))

    # artist layer: descriptions and nationality, merged over all rows
    artist_triples: list[tuple[str, str, str]] = []
    for k, info in artists.items():
        aid = artist_id[k]
        entities[aid]["description"] = artist_description(info)
        if info.born:
            entities[aid]["year"] = str(info.born)
        if info.nationality:
            n = add_attr("nationality", info.nationality)
            artist_triples.append((aid, "hasNationality", n))

    triples = list(dict.fromkeys(triples + artist_triples))
    if not triples:
        raise DataError(catalogue, "no usable rows: no artwork has an artist, date, style, genre or "
                                   "medium to link (check the column mapping)")
    split, adjust = inductive_split(triples, artwork_ids, artist_of, seed)
    # artworks with no triple at all would be absent from every split: keep them out of the graph
    linked = {h for h, _, _, _ in split} | {t for _, _, t, _ in split}
    for aid in artwork_ids:
        if aid not in linked:
            report.warnings.append(f"{entities[aid]['label']!r} ({aid}): no artist, date, style or genre; "
                                   "left out of the graph")
            files.pop(entities[aid].get("image", ""), None)
            del entities[aid]
    report.warnings += [f"split: {n} {what}" for what, n in adjust.items() if n]
    report.artworks = sum(1 for e in entities.values() if e["type"] == "artwork")
    report.artists = len(artists)
    report.entities = len(entities)
    report.images = len(files)
    out.parent.mkdir(parents=True, exist_ok=True)
    report.new_image_bytes = _new_bytes(files, out.parent, always=copy_images or unpacked is not None)
    report.triples = {s: sum(1 for *_, m in split if m == s) for s in ("train", "val", "test")}
    # every skipped row and warning stays with the graph, however many the terminal was spared
    notes = "\n".join([report.summary().replace(str(out), out.name), *report.problems(catalogue.name)]) + "\n"
    write_graph_folder(out, list(entities.values()), split, files=files,
                       extra_columns=("year", "date"), link=not copy_images,
                       meta={"source": source or str(catalogue), "kind": "collection", "seed": seed},
                       texts={IMPORT_REPORT: notes}, image_root=img_dir)
    return report


def _new_bytes(files: dict[str, Path], target: Path, always: bool) -> int:
    """Disk the images will add in ``target``: a hard link (same filesystem) adds none, unless its
    source is itself new (``always``: unpacked from an archive, or copies asked for)."""
    dev = os.stat(target).st_dev
    return sum(st.st_size for st in map(os.stat, files.values()) if always or st.st_dev != dev)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


# Limits on unpacking one ZIP of scans (costs measured in benchmarks/RESULTS.md, "Archive limits").
# A real scan is at most a few hundred MB and deflates little (JPEG, PNG, compressed TIFF); a bomb
# is tiny and deflates thousands of times. Headers are checked first, then every byte is counted.
ARCHIVE_MAX_MEMBERS = 100_000  # entries of any kind; more is refused before anything is unpacked
ARCHIVE_MAX_FILE_BYTES = 200 << 20  # one unpacked image
ARCHIVE_MAX_TOTAL_BYTES = 8 << 30  # everything unpacked from one archive: the disk one import may fill
ARCHIVE_MAX_RATIO = 100  # unpacked / compressed size of one member ...
ARCHIVE_RATIO_FREE_BYTES = 1 << 20  # ... above this size (blank PNGs and thumbnails deflate far more)

REFUSED = {  # why a member was refused: (one, several), as the warning says it
    "decode": ("not a decodable image", "not decodable images"),
    "file": ("over the per-file limit", "over the per-file limit"),
    "ratio": ("over the compression-ratio limit", "over the compression-ratio limit"),
    "total": ("over the total limit", "over the total limit"),
    "damaged": ("damaged", "damaged"),
}


@dataclass
class Unpacked:
    """What :func:`extract_image_archive` kept and refused."""

    kept: int = 0
    bytes: int = 0  # unpacked bytes kept on disk
    refused: dict[str, int] = field(default_factory=dict)  # REFUSED key -> members

    def warning(self, archive: str) -> str:
        """One line counting the refused members ("" when none were)."""
        n = sum(self.refused.values())
        if not n:
            return ""
        why = ", ".join(f"{k} {REFUSED[r][k > 1]}" for r, k in self.refused.items())
        return f"archive {archive}: {n} member{'s' * (n > 1)} refused ({why})"


def _image_members(z) -> list:
    return [m for m in z.infolist() if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_SUFFIXES
            and not any(part.startswith((".", "__MACOSX")) for part in Path(m.filename).parts)]


def _member_path(into: Path, name: str) -> Path | None:
    """Where member ``name`` goes inside ``into``: absolute, drive and ``..`` parts dropped, as
    ``zipfile`` does."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if parts and ":" in parts[0]:
        parts = parts[1:]
    return into.joinpath(*parts) if parts else None


def _header_refusal(m, room: int) -> str:
    """Why the sizes ``m``'s header declares are refused ("" if they are not)."""
    if m.file_size > ARCHIVE_MAX_FILE_BYTES:
        return "file"
    if m.file_size > ARCHIVE_RATIO_FREE_BYTES and m.file_size > ARCHIVE_MAX_RATIO * max(m.compress_size, 1):
        return "ratio"
    return "total" if m.file_size > room else ""


def _copy_member(z, m, dest: Path, room: int) -> tuple[int, str]:
    """Stream member ``m`` to ``dest``, counting bytes: the header is not trusted. (bytes, "") or
    (0, refusal) with nothing left on disk."""
    import zipfile
    import zlib
    limit = min(ARCHIVE_MAX_FILE_BYTES, room, max(ARCHIVE_RATIO_FREE_BYTES, ARCHIVE_MAX_RATIO * m.compress_size))
    n, why = 0, ""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with z.open(m) as src, open(dest, "wb") as out:
            while chunk := src.read(1 << 20):
                n += len(chunk)
                if n > limit:
                    why = "total" if limit == room else "file"
                    break
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        why = "damaged"  # bad CRC, unsupported method, encrypted
    if why:
        dest.unlink(missing_ok=True)
        return 0, why
    return n, ""


def extract_image_archive(archive: Path, into: Path) -> Unpacked:
    """Unpack the image files of a ZIP archive (a collection's scans) into the folder ``into``,
    keeping their folders. Other files, macOS resource forks and hidden files are left out; member
    names cannot reach outside ``into``. A member over the ARCHIVE_* limits (size, compression
    ratio, the running total) or that does not decode as an image is refused and counted, so at
    most ARCHIVE_MAX_TOTAL_BYTES is ever written. Raises DataError naming the
    archive when it is not a ZIP, is damaged, has more than ARCHIVE_MAX_MEMBERS entries or holds
    no usable image."""
    import zipfile
    done = Unpacked()

    def refuse(why: str) -> None:
        done.refused[why] = done.refused.get(why, 0) + 1

    kept: list[Path] = []
    try:
        with zipfile.ZipFile(archive) as z:
            if len(z.infolist()) > ARCHIVE_MAX_MEMBERS:
                raise DataError(archive, f"{len(z.infolist()):,} entries; at most {ARCHIVE_MAX_MEMBERS:,} "
                                         "are unpacked (split the archive)")
            members = _image_members(z)
            if not members:
                raise DataError(archive, f"no image files in the archive ({', '.join(sorted(IMAGE_SUFFIXES))})")
            for m in members:
                dest = _member_path(into, m.filename)
                room = ARCHIVE_MAX_TOTAL_BYTES - done.bytes
                why = _header_refusal(m, room) if dest is not None else "damaged"
                n, why = (0, why) if why else _copy_member(z, m, dest, room)
                if why:
                    refuse(why)
                    continue
                done.bytes += n
                kept.append(dest)
    except zipfile.BadZipFile as e:
        raise DataError(archive, "not a ZIP archive" if "not a zip file" in str(e).lower() else f"damaged ({e})") from None
    except (zipfile.LargeZipFile, NotImplementedError, EOFError) as e:
        raise DataError(archive, f"cannot be unpacked ({e})") from None
    _drop_undecodable(kept, done, refuse)
    if not done.kept:
        raise DataError(archive, f"no usable image files in the archive: {done.warning(archive.name).split(': ', 1)[1]}")
    return done


def _drop_undecodable(paths: list[Path], done: Unpacked, refuse) -> None:
    """Decode every unpacked member as `vlkge validate` does; delete those that fail."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:  # PIL decodes without the GIL
        problems = list(pool.map(lambda p: open_image(p, max_side=256)[1], paths))
    for p, problem in zip(paths, problems):
        if problem:
            done.bytes -= p.stat().st_size
            p.unlink()
            refuse("decode")
        else:
            done.kept += 1


def import_uploaded_catalogue(data: bytes, name: str, images: Path | None, out: Path,
                              mapping: dict[str, str] | None = None, seed: int = 0,
                              image_archive: tuple[bytes, str] | None = None) -> ImportReport:
    """:func:`import_collection` for a catalogue that arrives as bytes (the app's upload), its
    images from the folder ``images`` or from ``image_archive`` (a ZIP's bytes and name, uploaded
    too), not both. Without images the image column is left out, rather than every row warned
    about a missing file. Errors name the uploaded files, not where they were put meanwhile.

    The folder is named by a web user of the app, so it must lie inside one of
    :func:`vlkge.paths.image_roots` (the workspace, ``$VLKGE_IMAGE_ROOTS``): no one reads the
    server's ``/etc`` through an import."""
    if images is not None and image_archive is not None:
        raise VLKGEError("give the images as a folder or as a ZIP archive, not both")
    if images is not None:
        allowed = allowed_image_folder(images)
        if allowed is None:
            roots = ", ".join(str(r) for r in image_roots())
            raise VLKGEError(f"{images}: not a folder the app may read images from (allowed: {roots}; "
                             "more can be listed in $VLKGE_IMAGE_ROOTS)")
        images = allowed
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".vlkge-upload-") as tmp:
        catalogue = Path(tmp) / "catalogue" / (Path(name).name or "catalogue.csv")
        catalogue.parent.mkdir()
        catalogue.write_bytes(data)
        shown = {catalogue: Path(name).name}
        if image_archive is not None:
            images = Path(tmp) / "images" / (Path(image_archive[1]).name or "images.zip")
            images.parent.mkdir()
            images.write_bytes(image_archive[0])
            shown[images] = Path(image_archive[1]).name
        mapping = {**(mapping or {}), **({} if images else {"image": ""})}
        try:
            return import_collection(catalogue, images, out, mapping=mapping, seed=seed, source=f"upload:{Path(name).name}")
        except DataError as e:
            if Path(e.file) not in shown:
                raise
            raise DataError(shown[Path(e.file)], e.message.replace(TITLE_HINT, "pick the Title column"), e.line) from None
