"""Reading a catalogue export (CSV in any common delimiter and encoding, an Excel workbook, JSON or
JSON Lines as museum APIs return) into a header and numbered rows, and deciding what each column
becomes: a field, a relation, text for the artwork's description, or nothing (and why)."""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import DataError, VLKGEError
from .cells import split_cell

FIELDS = ("id", "title", "artist", "date", "style", "genre", "medium", "image", "description",
          "artist_id", "artist_bio", "nationality", "born", "died", "role", "year")
# the fields that describe each maker of a row, in parallel with the artist cell ("French|Dutch")
MAKER_FIELDS = ("artist_id", "artist_bio", "nationality", "born", "died", "role")
FIELD_LABELS = {"id": "Object number", "artist_id": "Artist id", "artist_bio": "Artist bio",
                "born": "Artist born", "died": "Artist died", "role": "Artist role",
                "nationality": "Artist nationality", "year": "Year (number)"}

# Plainly named columns, tried in order (compared after lower-casing and folding _ and - to spaces).
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "object number", "objectnumber", "object id", "objectid", "accession number",
           "accession no", "accession", "accessionnumber", "accessionnum", "inventory number", "inventory no", "inv no", "catalogue number"),
    "title": ("title", "object title", "name", "titel", "titre"),
    "artist": ("artist", "artist name", "artist display name", "artist display", "maker", "creator", "creators",
               "author", "painter", "artist maker", "attribution", "artists"),
    "date": ("date", "dated", "object date", "date made", "creation date", "date display", "displaydate",
             "datetext", "date text", "year", "date created"),
    "style": ("style", "movement", "art movement", "style title"),
    "genre": ("genre", "subject type", "category"),
    "medium": ("medium", "materials", "medium technique", "material", "medium display", "technique"),
    "image": ("image", "filename", "file name", "file", "image file", "image filename", "image path",
              "img", "picture", "primary image"),
    "description": ("description", "label text", "notes", "remarks"),
    "artist_id": ("constituentid", "constituent id", "artistid", "artist id", "artist ulan url", "ulan",
                  "artist wikidata url", "artist wikidata", "creator id", "artist ids"),
    "artist_bio": ("artist display bio", "artistbio", "artist bio", "artist biography"),
    "nationality": ("artist nationality", "nationality", "artist nationalities"),
    "born": ("artist begin date", "begindate", "begin date", "artist birth date", "artist born", "birth date"),
    "died": ("artist end date", "enddate", "end date", "artist death date", "artist died", "death date"),
    "role": ("artist role", "artistrole", "role", "maker role"),
    "year": ("date start", "object begin date", "begin year", "beginyear", "year", "creation date earliest"),
}

# The relation each field feeds (the date's decade too).
RELATIONS = {"artist": "isCreatedByArtist", "style": "hasStyle", "genre": "belongsToGenre",
             "medium": "isCreatedWithMedium", "date": "isCreatedInDecade"}

# Free text a curator has for a new object too: may feed the artwork's description. Never a
# column that names the answer of a predicted relation (artist, date, style, genre).
TEXT_COLUMNS = ("dimensions", "measurements", "inscription", "inscriptions", "inscribed", "marks",
                "signed", "description", "label text", "physical description", "medium")
# Columns about the record, not the artwork (who gave it, where it hangs, rights, bookkeeping).
ADMIN_COLUMNS = ("credit line", "creditline", "credit", "rights", "rights and reproduction", "copyright",
                 "repository", "gallery number", "gallery", "current location", "accession year",
                 "acquisitionyear", "acquisition year", "acquisition date", "dateacquired", "metadata date",
                 "is highlight", "is timeline work", "is public domain", "on view", "share license status",
                 "provenance", "thumbnailcopyright", "thumbnail copyright", "link resource", "url",
                 "thumbnailurl", "thumbnail url", "image id", "object wikidata url", "tombstone", "units",
                 "curator approved", "cataloged", "objectid", "object id", "department id", "main reference number")
SINGULAR_SUFFIXES = (" titles", " title")  # AIC: subject_titles, classification_title
MAX_RELATION_VALUE_CHARS = 80
WRAPPER_KEYS = ("data", "results", "records", "objects")  # where APIs put the array of records



def col_key(c: str) -> str:
    return " ".join(re.sub(r"[_\-./]+", " ", c.strip().lower()).split())



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
    if suffix in (".json", ".jsonl", ".ndjson") or data.lstrip()[:1] in (b"[", b"{"):
        return _json_rows(_decode(data, path, warnings), path, jsonl=suffix in (".jsonl", ".ndjson"))
    if suffix in (".xlsx", ".xlsm"):
        return _excel_rows(data, path, warnings)
    if suffix == ".xls" or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataError(path, "an old-style Excel file (.xls): save it as .xlsx or CSV")
    if data.startswith(b"PK\x03\x04"):
        raise DataError(path, "a ZIP-based file (an Excel workbook?); name it .xlsx, or save it as CSV")
    return _csv_rows(data, path, warnings)


def _json_value(v: object) -> str:
    """A JSON value as cell text: a list of names or terms is a multi-valued cell."""
    if v is None:
        return ""
    if isinstance(v, list):
        return "|".join(_json_value(x) for x in v if x is not None and not isinstance(x, (list, dict)))
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _json_records(text: str, path: Path, jsonl: bool) -> Iterable[tuple[int, object]]:
    """(line, object) for each record: one per line (JSON Lines), or the elements of a top-level
    array, or of the array under ``data``/``results``/``records``/``objects`` (as APIs wrap them)."""
    dec = json.JSONDecoder()

    def fail(e: json.JSONDecodeError):
        raise DataError(path, f"malformed JSON ({e.msg})", e.lineno) from None

    if not jsonl and text.lstrip().startswith("{"):
        try:  # one object on the first line: JSON Lines under another name
            jsonl = isinstance(json.loads(text.lstrip().split("\n", 1)[0]), dict) and len(text.strip().splitlines()) > 1
        except json.JSONDecodeError:
            jsonl = False
    if jsonl:
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(path, f"malformed JSON line ({e.msg})", n) from None
        return
    pos = len(text) - len(text.lstrip())
    if text.startswith("{", pos):  # {"pagination": ..., "data": [...]}: the array under a known key
        try:
            top = json.loads(text)
        except json.JSONDecodeError as e:
            fail(e)
        key = next((k for k in WRAPPER_KEYS if isinstance(top.get(k), list)), None)
        m = re.search(rf'"{key}"\s*:\s*(?=\[)', text) if key else None
        if m is None:
            raise DataError(path, "a JSON object: expected an array of objects (one per artwork), or "
                                  f"one under {' or '.join(map(repr, WRAPPER_KEYS))}", 1)
        pos = m.end()
    if not text.startswith("[", pos):
        try:
            top = json.loads(text)
        except json.JSONDecodeError as e:
            fail(e)
        raise DataError(path, f"JSON {type(top).__name__}: expected an array of objects (one per artwork)", 1)
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise DataError(path, "malformed JSON (the array is not closed)", text.count("\n") + 1)
        if text[pos] == "]":
            return
        try:
            obj, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            fail(e)
        yield text.count("\n", 0, pos) + 1, obj
        pos = end


def _json_rows(text: str, path: Path, jsonl: bool) -> Iterable[tuple[int, list[str]]]:
    """JSON records as rows under a header of every key met, first seen first."""
    records = []
    keys: dict[str, None] = {}
    for line, obj in _json_records(text, path, jsonl):
        if not isinstance(obj, dict):
            raise DataError(path, f"a JSON {type(obj).__name__} where an object (one artwork) was expected", line)
        records.append((line, obj))
        keys.update(dict.fromkeys(obj))
    header = list(keys)
    yield 1, header
    for line, obj in records:
        yield line, [_json_value(obj.get(k)) for k in header]


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


def column_table(data: bytes, name: str, mapping: dict[str, str] | None = None, skip: Iterable[str] = ()
                 ) -> list[ColumnUse]:
    """What each column of an uploaded catalogue would become on import with ``mapping`` and
    ``skip``: the table a curator confirms before importing."""
    path, warnings = Path(name), []
    rows = iter(_catalogue_rows(data, path, warnings))
    header = _header(rows, path)
    kept = [(n, row) for n, row in rows if row and any(c.strip() for c in row)]
    return plan_columns(header, kept, mapping or {}, path, skip).uses


def read_catalogue(path: Path, warnings: list[str]) -> tuple[list[str], list[tuple[int, list[str]]]]:
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


def resolve_columns(header: list[str], mapping: dict[str, str], path: Path
                     ) -> tuple[dict[str, int], dict[str, int]]:
    keys = {col_key(h): i for i, h in reversed(list(enumerate(header)))}

    def find(col: str, what: str) -> int:
        i = keys.get(col_key(col))
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
    keys = {col_key(h): i for i, h in reversed(list(enumerate(header)))}
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



@dataclass
class ColumnUse:
    """What one catalogue column became."""

    column: str
    becomes: str  # "field", "relation", "text" or "ignored"
    detail: str  # the field or relation name; for an ignored column, why

    def line(self) -> str:
        what = {"field": f"field {self.detail}", "relation": f"relation {self.detail}",
                "text": f"text ({self.detail})"}.get(self.becomes, f"ignored: {self.detail}")
        return f"{self.column} → {what}"


@dataclass
class ColumnPlan:
    """Which column feeds which field, relation or text, and every column's fate."""

    fields: dict[str, int]
    relations: dict[str, int]  # relation name -> column
    text: list[int]  # columns whose cells are joined into the artwork's description
    uses: list[ColumnUse]


def columns_summary(uses: list[ColumnUse]) -> str:
    """One line: each column and what it became (the reasons are in the full table)."""
    return ", ".join(f"{u.column}→{u.detail if u.becomes in ('field', 'relation') else u.becomes}" for u in uses)


def singular(word: str) -> str:
    """``subjects`` → ``subject``, ``categories`` → ``category`` (column names, not all English)."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def relation_for(column: str) -> tuple[str, str]:
    """(relation name, tail entity type) for a categorical column: ``Subjects`` → (hasSubject,
    subject), AIC ``subject_titles`` → (hasSubject, subject), ``place_of_origin`` →
    (hasPlaceOfOrigin, place_of_origin)."""
    k = col_key(column)
    for suffix in SINGULAR_SUFFIXES:
        if k.endswith(suffix) and len(k) > len(suffix):
            k = k[: -len(suffix)]
            break
    words = [w for w in re.sub(r"[^a-z0-9 ]+", " ", k).split()] or ["attribute"]
    words[-1] = singular(words[-1])
    return "has" + "".join(w[:1].upper() + w[1:] for w in words), "_".join(words)


def _categorical(values: list[str]) -> str:
    """Why a column's cells are not categories an artwork relation could use ("" if they are)."""
    filled = [v for v in values if v.strip()]
    if not filled:
        return "empty"
    if all(v.lstrip().startswith(("{", "[")) for v in filled):
        return "structured values (JSON objects), not categories"
    if all(re.fullmatch(r"https?://\S+", v.strip()) for v in filled):
        return "links, not categories"
    if all(v.strip().lower() in {"true", "false", "yes", "no", "0", "1", "y", "n"} for v in filled):
        return "a yes/no flag"
    if all(re.fullmatch(r"[-+]?[\d.,]+(?:e\d+)?", v.strip()) for v in filled):
        return "numbers (dates, measures or ids), not categories"
    distinct: set[str] = set()
    cells = 0
    for v in filled:
        parts = split_cell(v)
        cells += len(parts)
        distinct.update(p.lower() for p in parts)
    if len(distinct) == 1:
        return "the same value on every row"
    longest = max(len(p) for p in distinct)
    # values that recur name categories; mostly-unique ones are free text (a tiny sample can't tell)
    if (len(distinct) > 0.5 * cells and len(distinct) > 10) or (len(distinct) == cells > 3) \
            or longest > MAX_RELATION_VALUE_CHARS:
        return f"free text ({len(distinct):,} distinct values in {len(filled):,} cells)"
    return ""


def plan_columns(header: list[str], rows: list[tuple[int, list[str]]], mapping: dict[str, str],
                 path: Path, skip: Iterable[str] = ()) -> ColumnPlan:
    """What every column of the catalogue becomes: the fields and ``relation:`` columns of
    ``mapping`` and the plainly named ones; a categorical column that names no field becomes a
    relation of its own (``Subjects`` → ``hasSubject``); free text a curator has for a new object
    (dimensions, inscription) feeds the description; ``skip`` drops columns."""
    keys = {col_key(h): i for i, h in reversed(list(enumerate(header)))}
    skipped = set()
    for col in skip:
        if col_key(col) not in keys:
            raise DataError(path, f"--skip {col}: no column {col!r} (columns: {', '.join(header)})", 1)
        skipped.add(keys[col_key(col)])
    fields, rels = resolve_columns(header, {**mapping, **{f: "" for f, i in _default_fields(header, mapping).items()
                                                          if i in skipped}}, path)
    column = lambda i: [r[i] if i < len(r) else "" for _, r in rows]  # noqa: E731
    uses: dict[int, ColumnUse] = {}
    text: list[int] = []
    for f, i in fields.items():
        if f == "description" or (f == "medium" and f not in mapping and _categorical(column(i))):
            uses[i] = ColumnUse(header[i], "text", "free-text medium" if f == "medium" else "the artwork's description")
            text.append(i)
        else:
            uses[i] = ColumnUse(header[i], "field", f)
    fields = {f: i for f, i in fields.items() if uses[i].becomes == "field"}
    for r, i in rels.items():
        uses[i] = ColumnUse(header[i], "relation", r)
    for i, h in enumerate(header):
        if i in uses:
            continue
        if i in skipped:
            uses[i] = ColumnUse(h, "ignored", "skipped (--skip)")
            continue
        k = col_key(h)
        why = ""
        also = next((f for f in FIELDS if f in fields and k in DEFAULT_COLUMNS[f]), None)
        if also:
            why = f"also names the {also}, which is read from {header[fields[also]]}"
        elif k in ADMIN_COLUMNS:
            why = "about the record, not the artwork (who gave it, where it hangs, rights, bookkeeping)"
        elif any(k.startswith(p) for p in ("artist", "constituent", "maker", "creator", "attribution")) \
                or k in ("gender", "nationality", "begindate", "enddate", "artistbio"):
            why = "describes the maker, not the artwork (no field reads it)"
        elif k in TEXT_COLUMNS:
            values = column(i)
            if any(v.strip() for v in values):
                uses[i] = ColumnUse(h, "text", "part of the artwork's description")
                text.append(i)
                continue
            why = "empty"
        elif "date" in k.split() or k.endswith(("year", "date")) or k in ("period", "dynasty", "reign", "era"):
            why = "another date: the date field is read from its own column"
        else:
            why = _categorical(column(i))
        if not why:
            name, _ = relation_for(h)
            if name in rels or name in [RELATIONS.get(f) for f in fields]:
                why = f"a relation {name} exists already"
            else:
                rels[name] = i
                uses[i] = ColumnUse(h, "relation", name)
                continue
        uses[i] = ColumnUse(h, "ignored", why)
    return ColumnPlan(fields, rels, text, [uses[i] for i in range(len(header))])

