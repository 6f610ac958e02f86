"""Reading a catalogue export (CSV in any common delimiter and encoding, or an Excel workbook) into
a header and numbered rows, and resolving which column feeds which field."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Iterable

from ..errors import DataError, VLKGEError

FIELDS = ("id", "title", "artist", "date", "style", "genre", "medium", "image", "description")

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

