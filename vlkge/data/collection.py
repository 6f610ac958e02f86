"""Turn a museum catalogue export (one row per artwork: CSV or an Excel workbook) into a vlkge graph folder.

The result uses the same conventions as wikiart-mini (ids prefixed by type, the art relations
``isCreatedByArtist``/``hasStyle``/``belongsToGenre``/``isCreatedInDecade``/``hasNationality``), so
the app and the models treat an imported collection like the bundled one.

Column mapping (``--map`` on the command line, ``mapping`` here)
-----------------------------------------------------------------
* ``FIELD=COLUMN`` picks the catalogue column for one of the fixed fields
  ``id, title, artist, date, style, genre, medium, image, description`` or of the maker fields read
  in parallel with the artist cell ``artist_id, artist_bio, nationality, born, died, role``, or
  ``year`` (a numeric date used where the date text gives none)
  (e.g. ``--map "id=Object Number" --map "date=Dated"``). Column names match case-insensitively.
  ``FIELD=`` (empty column) switches a field off even when a plainly named column exists.
* ``relation:NAME=COLUMN`` adds an extra artwork relation ``NAME`` whose tails are the column's
  values (e.g. ``--map "relation:hasTechnique=Technique"``). The tail entities get the column name,
  slugified, as their type and id prefix (``technique_etching``).
* Every other column is planned by :func:`~vlkge.data.catalogue.plan_columns`: a categorical
  column becomes a relation of its own (``Subjects`` → ``hasSubject``), free text a curator has for
  a new object (dimensions, inscription) the artwork's description, anything else is ignored with a
  reason; ``skip`` (``--skip COLUMN``) drops a column. The report lists every column's fate.
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

import json
import os
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import DataError, VLKGEError
from ..paths import allowed_graph_folder, allowed_image_folder, graph_roots, image_roots, imports_dir
from .catalogue import (FIELD_LABELS, FIELDS, MAKER_FIELDS, RELATIONS, TITLE_HINT, ColumnPlan, ColumnUse, catalogue_columns, column_table, columns_summary,
                        col_key, parse_map_args, plan_columns, read_catalogue, relation_for)
from .cells import (artist_description, decade_entity, nationality_of, parallel_values, parse_artist, parse_date,
                    parse_year, role_of, split_cell, split_outside_brackets)
from .people import Mention, Person, identify
from .graph_folder import MARKER, check_target, inductive_split, slug, write_graph_folder
from .image_archive import Unpacked, extract_image_archive
from .images import MISSING, NOT_REGULAR, OUTSIDE, regular_file_inside

# names the CLI, the app and the tests take from here
__all__ = ["FIELDS", "FIELD_LABELS", "IMPORT_REPORT", "TITLE_HINT", "ImportReport", "catalogue_columns", "column_table", "import_collection",
           "import_uploaded_catalogue", "imported_graphs", "imports_dir", "inductive_split", "parse_artist",
           "parse_date", "parse_map_args", "slug"]

IMPORT_REPORT = "import_report.txt"  # what import_collection skipped or doubted, written beside the graph

TYPES = {"artist": "artist", "style": "style", "genre": "genre", "medium": "medium"}
TYPE_TEXT = {"style": "an art style", "genre": "a genre of art", "medium": "a medium",
             "nationality": "a nationality", "qualifier": "an attribution qualifier"}



@dataclass
class ImportReport:
    """What :func:`import_collection` did."""

    out: Path
    artworks: int = 0
    artists: int = 0
    entities: int = 0
    triples: dict[str, int] = field(default_factory=dict)
    images: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # field or relation:NAME -> column
    column_uses: list[ColumnUse] = field(default_factory=list)  # every column, and what it became
    skipped: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    new_image_bytes: int = 0  # image bytes this import added to the disk (hard links add none)

    def summary(self) -> str:
        t = ", ".join(f"{k} {v}" for k, v in self.triples.items())
        return (f"imported {self.artworks} artworks by {self.artists} artists into {self.out}: "
                f"{self.entities} entities, triples {t}, {self.images} images "
                f"({self.new_image_bytes / 1e6:.1f} MB new on disk); columns: "
                f"{columns_summary(self.column_uses)}")

    def column_table(self) -> list[str]:
        """Each catalogue column and what it became, one line each (ignored ones say why)."""
        return [u.line() for u in self.column_uses]

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
                      seed: int = 0, source: str | None = None, skip: Iterable[str] = ()) -> ImportReport:
    """Import a museum catalogue (CSV or Excel) into the graph folder ``out`` (see the module
    docstring).

    ``images``: folder holding the image files named in the image column (default: the
    catalogue's folder), or a ZIP archive of them; when a row has no image cell, a file named
    after its id is used. Images are placed in ``out/images/<artwork id><ext>`` — hard-linked when
    on the same filesystem, else copied; ``copy_images=True`` always copies (independent files).
    Rows without a usable title/image or id are skipped and listed in ``ImportReport.skipped`` as
    (line, reason). ``source`` is what the graph records as its origin (default: the catalogue's
    path). ``skip`` names columns to leave out (what every column became is in the report).
    """
    columns = (mapping or {}, tuple(skip))
    catalogue, out = Path(catalogue), Path(out)
    if not catalogue.is_file():
        raise DataError(catalogue, "no such file")
    if images is None or not Path(images).is_file():
        img_dir = Path(images) if images is not None else catalogue.parent
        if images is not None and not img_dir.is_dir():
            raise DataError(img_dir, "image folder not found")
        return _import(catalogue, img_dir, str(img_dir), out, columns, copy_images, seed, source)
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # beside the graph: unpacked images are hard-linked into it, not copied across file systems
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".vlkge-images-") as tmp:
        unpacked = extract_image_archive(Path(images), Path(tmp))
        return _import(catalogue, Path(tmp), Path(images).name, out, columns, copy_images, seed, source, unpacked)


def _import(catalogue: Path, img_dir: Path, images_shown: str, out: Path,
            columns: tuple[dict[str, str], tuple[str, ...]], copy_images: bool, seed: int, source: str | None,
            unpacked: Unpacked | None = None) -> ImportReport:
    """import_collection with the images in the folder ``img_dir``, called ``images_shown``
    (``unpacked`` there from an archive); ``columns``: the mapping and the skipped columns."""
    check_target(out)
    report = ImportReport(out=out)
    if unpacked is not None and unpacked.warning(images_shown):
        report.warnings.append(unpacked.warning(images_shown))
    header, rows = read_catalogue(catalogue, report.warnings)
    plan = plan_columns(header, rows, columns[0], catalogue, skip=columns[1])
    report.columns = {f: header[i] for f, i in plan.fields.items()}
    report.columns.update({f"relation:{r}": header[i] for r, i in plan.relations.items()})
    report.column_uses = plan.uses
    idx = _image_index(img_dir) if ("image" in plan.fields or "id" in plan.fields) else {}
    build = _GraphBuilder(header, plan, report)
    for line, row in rows:
        aid = build.artwork(line, row, lambda cell, raw_id, key: _artwork_image(cell, raw_id, key, img_dir, idx,
                                                                              images_shown))
        if aid is not None:
            build.makers(aid, line, row)
            build.date(aid, line, row)
            build.attributes(aid, row)
    triples = build.maker_triples() + build.triples
    triples = list(dict.fromkeys(triples))
    if not triples:
        raise DataError(catalogue, "no usable rows: no artwork has an artist, date, style, genre or "
                                   "medium to link (check the column mapping)")
    split, adjust = inductive_split(triples, build.artwork_ids, build.artist_of, seed)
    build.drop_unlinked(split)
    report.warnings += [f"split: {n} {what}" for what, n in adjust.items() if n]
    _count(report, build, split)
    out.parent.mkdir(parents=True, exist_ok=True)
    report.new_image_bytes = _new_bytes(build.files, out.parent, always=copy_images or unpacked is not None)
    # every skipped row and warning stays with the graph, however many the terminal was spared
    notes = "\n".join([report.summary().replace(str(out), out.name), *report.problems(catalogue.name), "",
                       "What each catalogue column became:", *report.column_table()]) + "\n"
    write_graph_folder(out, list(build.entities.values()), split, files=build.files,
                       extra_columns=("year", "date", "sort_name", "kind"), link=not copy_images,
                       meta={"source": source or str(catalogue), "kind": "collection", "seed": seed},
                       texts={IMPORT_REPORT: notes}, image_root=img_dir)
    return report


def _artwork_image(img_cell: str, raw_id: str, key: str, img_dir: Path, idx: dict[str, Path], shown: str
                   ) -> tuple[Path | None, str]:
    """The image file of an artwork, from its image cell, else a file named after its id."""
    if img_cell:
        return _find_image(img_cell, img_dir, idx, shown)
    if raw_id:
        return idx.get("stem:" + raw_id.lower()) or idx.get("stem:" + key), ""
    return None, ""


def _count(report: ImportReport, build: "_GraphBuilder", split: list[tuple[str, str, str, str]]) -> None:
    report.artworks = sum(1 for e in build.entities.values() if e["type"] == "artwork")
    report.artists = len(build.artists)
    report.entities = len(build.entities)
    report.images = len(build.files)
    report.triples = {s: sum(1 for *_, m in split if m == s) for s in ("train", "val", "test")}


class _GraphBuilder:
    """The entities, triples and image files of a graph, grown one catalogue row at a time; the
    makers are told apart once every row is read."""

    def __init__(self, header: list[str], plan: ColumnPlan, report: ImportReport):
        self.header, self.fields, self.rels, self.report = header, plan.fields, plan.relations, report
        self.text_columns = plan.text
        self.relation_types = [(r, i, relation_for(header[i])[1]) for r, i in plan.relations.items()]
        # columns whose values say what kind of work it is, hence what its maker was
        self.role_columns = [i for i in (*plan.relations.values(), *plan.text)
                             if any(w in col_key(header[i]) for w in ("classification", "type", "medium",
                                                                      "technique", "object name"))]
        if "medium" in plan.fields:
            self.role_columns.append(plan.fields["medium"])
        self.entities: dict[str, dict[str, str]] = {}
        self.artwork_ids: list[str] = []
        self.triples: list[tuple[str, str, str]] = []
        self.artist_of: dict[str, str] = {}  # artwork -> its first maker: groups it for the split
        self.files: dict[str, Path] = {}
        self.seen_ids: dict[str, int] = {}
        self.mentions: list[Mention] = []
        self.mentioned_by: list[str] = []  # the artwork of each mention
        self.artists: dict[str, Person] = {}

    def cell(self, row: list[str], f: str) -> str:
        i = self.fields.get(f)
        return " ".join(row[i].split()) if i is not None and i < len(row) else ""

    def add_entity(self, eid: str, etype: str, label: str, desc: str = "") -> str:
        self.entities.setdefault(eid, {"id": eid, "type": etype, "label": label, "description": desc})
        return eid

    def add_attr(self, kind: str, value: str, etype: str | None = None) -> str:
        etype = etype or kind
        eid = f"{etype}_{slug(value)}"
        if eid in self.entities:
            return eid
        kind_text = etype.replace("_", " ")
        what = TYPE_TEXT.get(etype, f"{'an' if kind_text[:1] in 'aeiou' else 'a'} {kind_text}")
        return self.add_entity(eid, etype, value, f"{value}, {what}")

    def text(self, row: list[str]) -> str:
        """The artwork's description: its free-text columns (medium, dimensions, inscription ...),
        each but the description itself introduced by its column's name."""
        parts = []
        for i in self.text_columns:
            v = " ".join(row[i].split()) if i < len(row) else ""
            if v:
                parts.append(v if col_key(self.header[i]) in ("description", "label text") else f"{self.header[i]}: {v}")
        return ". ".join(parts)

    def artwork_key(self, line: int, row: list[str]) -> str | None:
        """The id fragment of the row's artwork, or None (the row is skipped, and why is noted)."""
        title, img_cell = self.cell(row, "title"), self.cell(row, "image")
        raw_id = self.cell(row, "id") if "id" in self.fields else ""
        why = ""
        if "id" in self.fields and not raw_id:
            why = "no id"
        elif not title and not img_cell:
            why = "no title and no image"
        key = slug(raw_id) if raw_id else f"line-{line}-{slug(title)[:40]}".strip("-")
        if not why and not key:
            why = f"id {raw_id!r} has no letters or digits"
        if not why and f"artwork_{key}" in self.seen_ids:
            why = f"duplicate id {raw_id!r} (first on line {self.seen_ids[f'artwork_{key}']})"
        if why:
            self.report.skipped.append((line, why))
            return None
        self.seen_ids[f"artwork_{key}"] = line
        return key

    def artwork(self, line: int, row: list[str], find_image) -> str | None:
        """Add the row's artwork entity (and its image file); its id, or None for a skipped row."""
        key = self.artwork_key(line, row)
        if key is None:
            return None
        aid = f"artwork_{key}"
        img_cell, raw_id = self.cell(row, "image"), self.cell(row, "id") if "id" in self.fields else ""
        src, problem = find_image(img_cell, raw_id, key)
        if problem:
            self.report.warnings.append(f"line {line}: {problem}")
        image_rel = ""
        if src is not None and src.stat().st_size > 0:
            image_rel = f"images/{aid}{src.suffix.lower()}"
            self.files[image_rel] = src
        elif src is not None:
            self.report.warnings.append(f"line {line}: image {img_cell!r} is empty; artwork has no image")
        self.add_entity(aid, "artwork", self.cell(row, "title") or "Untitled", self.text(row))
        self.entities[aid]["image"] = image_rel
        self.artwork_ids.append(aid)
        return aid

    def makers(self, aid: str, line: int, row: list[str]) -> None:
        """Note the makers a row names ("Peter Paul Rubens | Jan Brueghel the Elder"), with what
        the parallel maker columns say of each (Met ``French|Flemish``, MoMA ``(1881) (1973)``)."""
        i = self.fields.get("artist")
        raw = row[i] if i is not None and i < len(row) else ""  # line breaks kept: AIC puts the bio on the next
        names = [n for n in (n.strip() for n in split_outside_brackets(raw)) if n]
        extra = {f: parallel_values(self.cell(row, f)) for f in MAKER_FIELDS if f in self.fields}
        n_parallel = max((len(v) for v in extra.values()), default=0)
        if len(names) == 1 and n_parallel > 1 and len(names[0].split(", ")) == n_parallel:
            names = names[0].split(", ")  # MoMA: "Hans Hollein, Walter Pichler" beside "6210, 7470"
        work_role = next(filter(None, (role_of(row[i]) for i in self.role_columns if i < len(row))), "")
        for k, name in enumerate(names):
            at = {f: (v[k] if k < len(v) else v[0] if len(v) == 1 else "") for f, v in extra.items()}
            bio = at.get("artist_bio", "")
            info = parse_artist(f"{name} ({bio})" if bio and "(" not in name else name)
            if info is None:
                continue
            if info.kind == "person":
                info.born = parse_year(at.get("born", "")) or info.born
                info.died = parse_year(at.get("died", "")) or info.died
                if info.born and info.died and info.died < info.born:
                    info.died = None
            info.nationality = nationality_of(at.get("nationality", "")) or info.nationality
            role = " ".join(at.get("role", "").lower().split())  # "artist" there says nothing
            role = (role if role != "artist" else "") or (work_role if info.kind == "person" else "")
            self.mentions.append(Mention(info, line, at.get("artist_id", "").strip(), role))
            self.mentioned_by.append(aid)

    def maker_triples(self) -> list[tuple[str, str, str]]:
        """Tell the makers apart, then link each artwork to its makers (and qualifiers), each
        maker to its nationality."""
        out: list[tuple[str, str, str]] = []
        people = identify(self.mentions, self.report.warnings)
        for m, aid, p in zip(self.mentions, self.mentioned_by, people):
            if p.entity not in self.artists:
                self.artists[p.entity] = p
            out.append((aid, "isCreatedByArtist", p.entity))
            self.artist_of.setdefault(aid, p.entity)
            if m.info.qualifier:
                out.append((aid, "hasAttributionQualifier", self.add_attr("qualifier", m.info.qualifier)))
        for p in self.artists.values():
            e = self.add_entity(p.entity, "artist", p.label, artist_description(p.info, p.role))
            self.entities[e].update(sort_name=p.info.sort_name, kind=p.info.kind)
            if p.info.born and p.info.kind == "person":
                self.entities[e]["year"] = str(p.info.born)
            if p.info.nationality:
                out.append((e, "hasNationality", self.add_attr("nationality", p.info.nationality)))
        return out

    def date(self, aid: str, line: int, row: list[str]) -> None:
        """The decade, from the date text, else from a year column (AIC ``date_start``)."""
        d = parse_date(self.cell(row, "date"))
        if d is not None:
            self.entities[aid]["date"] = d.text
        year = d.year if d is not None else None
        if year is None and "year" in self.fields:
            year = parse_year(self.cell(row, "year"))
            year = year if year is not None and 1000 <= year <= 2100 else None
        if year is not None:
            self.entities[aid]["year"] = str(year)
            did, dtype, dlabel, ddesc = decade_entity(year // 10 * 10)
            self.add_entity(did, dtype, dlabel, ddesc)
            self.triples.append((aid, "isCreatedInDecade", did))
        elif d is not None and d.century is None:
            self.report.warnings.append(f"line {line}: date {d.text!r} not understood; no decade")

    def attributes(self, aid: str, row: list[str]) -> None:
        """Style, genre, medium and the other relations: one triple per value of the cell."""
        for f in ("style", "genre", "medium"):
            for v in split_cell(self.cell(row, f)):
                self.triples.append((aid, RELATIONS[f], self.add_attr(f, v, TYPES[f])))
        for rname, i, etype in self.relation_types:
            for v in split_cell(row[i] if i < len(row) else ""):
                self.triples.append((aid, rname, self.add_attr(etype, v, etype)))

    def drop_unlinked(self, split: list[tuple[str, str, str, str]]) -> None:
        """Artworks with no triple at all would be absent from every split: keep them out of the graph."""
        linked = {h for h, _, _, _ in split} | {t for _, _, t, _ in split}
        for aid in self.artwork_ids:
            if aid not in linked:
                self.report.warnings.append(f"{self.entities[aid]['label']!r} ({aid}): no artist, date, style or "
                                            "genre; left out of the graph")
                self.files.pop(self.entities[aid].get("image", ""), None)
                del self.entities[aid]


def _new_bytes(files: dict[str, Path], target: Path, always: bool) -> int:
    """Disk the images will add in ``target``: a hard link (same filesystem) adds none, unless its
    source is itself new (``always``: unpacked from an archive, or copies asked for)."""
    dev = os.stat(target).st_dev
    return sum(st.st_size for st in map(os.stat, files.values()) if always or st.st_dev != dev)



def import_uploaded_catalogue(data: bytes, name: str, images: Path | None, out: Path,
                              mapping: dict[str, str] | None = None, seed: int = 0,
                              image_archive: tuple[bytes, str] | None = None, skip: Iterable[str] = ()
                              ) -> ImportReport:
    """:func:`import_collection` for a catalogue that arrives as bytes (the app's upload), its
    images from the folder ``images`` or from ``image_archive`` (a ZIP's bytes and name, uploaded
    too), not both. Without images the image column is left out, rather than every row warned
    about a missing file. Errors name the uploaded files, not where they were put meanwhile.

    Both folders are named by a web user of the app: the images must lie inside one of
    :func:`vlkge.paths.image_roots` (the workspace, ``$VLKGE_IMAGE_ROOTS``) and ``out`` inside one
    of :func:`vlkge.paths.graph_roots` (the workspace, the imports folder), so no one reads the
    server's ``/etc`` or writes a graph into it, or into a data folder, through an import."""
    if images is not None and image_archive is not None:
        raise VLKGEError("give the images as a folder or as a ZIP archive, not both")
    if images is not None:
        allowed = allowed_image_folder(images)
        if allowed is None:
            roots = ", ".join(str(r) for r in image_roots())
            raise VLKGEError(f"{images}: not a folder the app may read images from (allowed: {roots}; "
                             "more can be listed in $VLKGE_IMAGE_ROOTS)")
        images = allowed
    target = allowed_graph_folder(out)
    if target is None:
        roots = ", ".join(str(r) for r in graph_roots())
        raise VLKGEError(f"{out}: not a folder the app may save a graph in (allowed: inside {roots}; "
                         "`vlkge import-collection --out` writes anywhere)")
    out = target
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
            return import_collection(catalogue, images, out, mapping=mapping, seed=seed, source=f"upload:{Path(name).name}",
                                     skip=skip)
        except DataError as e:
            if Path(e.file) not in shown:
                raise
            raise DataError(shown[Path(e.file)], e.message.replace(TITLE_HINT, "pick the Title column"), e.line) from None

