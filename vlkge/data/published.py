"""Readers for the published VL-KGE benchmarks in their authors' layouts.

* WikiArt-MKG-v1: a folder with ``wikiart_mkg_v1_triples.csv`` (``head,relation,tail,mode``), the
  artwork metadata ``wikiart_v1.csv`` and ``features/``.
* WikiArt-MKG-v2: ``wikiart_mkg_v2_triples.csv``, ``wikiart_v2_artworks.csv``,
  ``wikiart_v2_artists.csv``, ``features/``. Its link relations are trained on but not evaluated:
  ``excluded_from_eval = ["isRelatedToArtwork", "isRelatedToArtist", "hasCreatedArtwork"]``.
* WN9-IMG: the authors' ``wn9_img_triples.csv`` (``head,relation,tail,mode``), or IKRL's split files
  ``train.txt``/``valid.txt``/``test.txt`` with tab-separated *head, tail, relation*.

``load_graph`` detects these folders; ``wikiart-mkg:PATH``, ``wn9-img:PATH`` and ``ikrl:PATH`` force
a reader. Entity types, which the triples files do not carry, are inferred from the relations
(heads of ``hasStyle`` are artworks, tails are styles ...).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from ..errors import DataError
from .graph import Graph
from .tables import absolute, build_graph, find_file, read_mode_triples, read_split_folder

V2_EXCLUDED_FROM_EVAL = ["isRelatedToArtwork", "isRelatedToArtist", "hasCreatedArtwork"]
# wikiart-mkg-v1:/-v2: are what a loaded graph's ``source`` says, so a run's recorded source loads back.
PREFIXES = ("wikiart-mkg:", "wikiart-mkg-v1:", "wikiart-mkg-v2:", "wn9-img:", "ikrl:")

ARTWORK_RELATIONS = {"isCreatedByArtist", "hasStyle", "belongsToGenre", "isCreatedInYear",
                     "isCreatedInDecade", "isCreatedWithMedium", "isAssociatedWithTag", "isLocatedIn",
                     "isRelatedToArtwork"}
ARTIST_RELATIONS = {"hasNationality", "isAssociatedWithField", "isAssociatedWithArtMovement",
                    "wasBornOnDate", "wasBornIn", "diedOnDate", "diedIn", "isMemberOfPaintingSchool",
                    "isAffiliatedWithArtInstitution", "isInfluencedBy", "isInfluencedOn", "isPupilOf",
                    "isTeacherOf", "isRelatedToArtist", "hasCreatedArtwork"}
TAIL_TYPES = {"isCreatedByArtist": "artist", "hasStyle": "style", "belongsToGenre": "genre",
              "isCreatedInYear": "year", "isCreatedInDecade": "year", "isCreatedWithMedium": "medium",
              "isAssociatedWithTag": "tag", "isLocatedIn": "location", "hasNationality": "nationality",
              "isAssociatedWithField": "field", "isAssociatedWithArtMovement": "movement",
              "wasBornOnDate": "date", "diedOnDate": "date", "wasBornIn": "place", "diedIn": "place",
              "isMemberOfPaintingSchool": "school", "isAffiliatedWithArtInstitution": "institution",
              "isInfluencedBy": "artist", "isInfluencedOn": "artist", "isPupilOf": "artist",
              "isTeacherOf": "artist", "isRelatedToArtist": "artist", "isRelatedToArtwork": "artwork",
              "hasCreatedArtwork": "artwork"}
TRIPLES_FILES = {"wikiart-mkg-v1": "wikiart_mkg_v1_triples.csv", "wikiart-mkg-v2": "wikiart_mkg_v2_triples.csv",
                 "wn9-img": "wn9_img_triples.csv"}


def detect_published(path: Path) -> str | None:
    """'wikiart-mkg-v1', 'wikiart-mkg-v2', 'wn9-img' (authors' CSV), 'ikrl' (WN9 split files) or None."""
    path = Path(path)
    if path.is_file():
        for kind, name in TRIPLES_FILES.items():
            if path.name in (name, name + ".gz"):
                return kind
        return None
    if not path.is_dir():
        return None
    if find_file(path, "wikiart_mkg_v2_triples.csv") or (path / "wikiart_v2_artworks.csv").is_file():
        return "wikiart-mkg-v2"
    if find_file(path, "wikiart_mkg_v1_triples.csv") or (path / "wikiart_v1.csv").is_file():
        return "wikiart-mkg-v1"
    if find_file(path, "wn9_img_triples.csv"):
        return "wn9-img"
    if _looks_ikrl(path):
        return "ikrl"
    return None


def _looks_ikrl(folder: Path) -> bool:
    """IKRL's files put the relation last, and WordNet relation names start with '_'
    (``n01 <TAB> n02 <TAB> _hypernym``); PyKEEN's put it in the middle."""
    p = find_file(folder, "train.txt") or find_file(folder, "train")
    if p is None or p.suffix == ".gz":
        return False
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            lines = [ln.rstrip("\r\n").split("\t") for _, ln in zip(range(20), f) if ln.strip()]
    except OSError:
        return False
    return bool(lines) and all(len(x) == 3 and x[2].startswith("_") and not x[1].startswith("_")
                               for x in lines)


def load_published(spec: str | os.PathLike) -> Graph:
    """Load ``wikiart-mkg:PATH``, ``wn9-img:PATH``, ``ikrl:PATH`` or an auto-detected folder/file."""
    s = str(spec)
    forced = None
    for pre in PREFIXES:
        if s.startswith(pre):
            forced, s = pre[:-1], s[len(pre):]
            break
    path = absolute(s)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    kind = detect_published(path)
    if forced == "ikrl":
        if not path.is_dir():
            raise DataError(path, "ikrl: expects a folder with train.txt, valid.txt, test.txt")
        return read_ikrl(path)
    if forced == "wn9-img":
        return read_ikrl(path) if kind == "ikrl" else read_wn9_img(path)
    if forced in ("wikiart-mkg-v1", "wikiart-mkg-v2"):
        return read_wikiart_mkg(path, version=int(forced[-1]))
    if forced == "wikiart-mkg":
        return read_wikiart_mkg(path, version=2 if kind == "wikiart-mkg-v2" else 1 if kind == "wikiart-mkg-v1" else None)
    if kind == "ikrl":
        return read_ikrl(path)
    if kind == "wn9-img":
        return read_wn9_img(path)
    if kind in ("wikiart-mkg-v1", "wikiart-mkg-v2"):
        return read_wikiart_mkg(path, version=int(kind[-1]))
    raise DataError(path, "not a published dataset layout (expected wikiart_mkg_v1/v2_triples.csv, "
                          "wn9_img_triples.csv or IKRL train.txt/valid.txt/test.txt)")


def _triples_file(path: Path, names: tuple[str, ...]) -> Path:
    if path.is_file():
        return path
    for n in names:
        if (p := find_file(path, n)):
            return p
    cands = sorted(p for p in path.glob("*triples*.csv*") if p.is_file())
    if len(cands) == 1:
        return cands[0]
    raise DataError(path / names[0], "triples file not found" if not cands else
                    f"several triples files ({', '.join(c.name for c in cands)}); name one")


def read_wikiart_mkg(path: Path, version: int | None = None) -> Graph:
    """WikiArt-MKG-v1/v2 (folder or its triples CSV). ``version`` None: guessed from the file names."""
    path = Path(path)
    tpath = _triples_file(path, ("wikiart_mkg_v2_triples.csv", "wikiart_mkg_v1_triples.csv", "triples.csv"))
    if version is None:
        version = 2 if "v2" in tpath.name or (tpath.parent / "wikiart_v2_artworks.csv").is_file() else 1
    warnings: list[str] = []
    triples = read_mode_triples(tpath, warnings)
    folder = tpath.parent
    meta = [folder / n for n in (("wikiart_v2_artworks.csv", "wikiart_v2_artists.csv") if version == 2
                                 else ("wikiart_v1.csv",))]
    ents = _typed_entities(triples)
    _labels_from_metadata([m for m in meta if m.is_file()], ents, warnings)
    g = build_graph(triples, ents, warnings, root=folder, source=f"wikiart-mkg-v{version}:{tpath}", files=[tpath])
    if version == 2:
        g.excluded_from_eval = list(V2_EXCLUDED_FROM_EVAL)
    return g


def read_wn9_img(path: Path) -> Graph:
    """WN9-IMG from the authors' ``wn9_img_triples.csv`` (folder or file)."""
    tpath = _triples_file(Path(path), ("wn9_img_triples.csv",))
    warnings: list[str] = []
    triples = read_mode_triples(tpath, warnings)
    g = build_graph(triples, None, warnings, root=tpath.parent, source=f"wn9-img:{tpath}", files=[tpath])
    return g


def read_ikrl(folder: Path) -> Graph:
    """WN9-IMG from IKRL's split files (tab-separated head, tail, relation)."""
    g = read_split_folder(Path(folder), order="htr")
    g.source = f"ikrl:{folder}"
    return g


# ---------------------------------------------------------------- entity types and labels


def _typed_entities(triples: list[tuple[str, str, str, str, int]]) -> dict[str, list[str]]:
    order: dict[str, None] = {}
    strong: dict[str, str] = {}  # from the head side: artworks and artists are unambiguous
    weak: dict[str, str] = {}
    for h, r, t, _, _ in triples:
        order.setdefault(h)
        order.setdefault(t)
        if r in ARTWORK_RELATIONS:
            strong.setdefault(h, "artwork")
        elif r in ARTIST_RELATIONS:
            strong.setdefault(h, "artist")
        if r in TAIL_TYPES:
            weak.setdefault(t, TAIL_TYPES[r])
    ids = list(order)
    return {"id": ids, "type": [strong.get(e) or weak.get(e) or "entity" for e in ids],
            "label": list(ids), "description": [""] * len(ids), "image": [""] * len(ids)}


LABEL_COLUMNS = ("title", "artwork_name", "name", "artist_name", "artistname", "label")


def _labels_from_metadata(files: list[Path], ents: dict[str, list[str]], warnings: list[str]) -> None:
    """Use a title/name column of the metadata tables when one of their columns holds the graph's
    entity ids. The metadata schema is not documented, so this only ever adds labels, never fails."""
    index = {e: i for i, e in enumerate(ents["id"])}
    for path in files:
        try:
            with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
                reader = csv.DictReader(f)
                cols = reader.fieldnames or []
                label_col = next((c for c in cols if c and c.strip().lower() in LABEL_COLUMNS), None)
                if label_col is None:
                    continue
                key_col = None
                hits = 0
                for n, row in enumerate(reader):
                    if key_col is None:
                        key_col = next((c for c in cols if c != label_col and (row.get(c) or "").strip() in index), None)
                        if key_col is None:
                            if n > 200:
                                break
                            continue
                    eid = (row.get(key_col) or "").strip()
                    lab = (row.get(label_col) or "").strip()
                    if eid in index and lab:
                        ents["label"][index[eid]] = lab
                        hits += 1
        except (OSError, csv.Error) as e:
            warnings.append(f"{path.name}: metadata not used ({e})")
