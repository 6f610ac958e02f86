"""Reading catalogue cells: makers (``Attributed to Anthony van Dyck (Flemish, 1599–1641)``) and
free-text dates (``c. 1631``, ``1868–70``)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from unidecode import unidecode

QUALIFIERS = ("attributed to", "workshop of", "studio of", "follower of", "circle of", "school of",
              "manner of", "style of", "copy after", "after", "imitator of", "pupil of")
UNKNOWN_ARTISTS = {"unknown", "anonymous", "unknown artist", "anon", "unidentified artist", "n a", "na"}
DASHES = str.maketrans({"–": "-", "—": "-", "‑": "-", "‐": "-", "−": "-", "/": "-"})


def name_key(name: str) -> str:
    """Key under which spellings of one person unify (accents, case, punctuation, spacing)."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", unidecode(unicodedata.normalize("NFKC", name)).lower()).split())



def split_cell(cell: str) -> list[str]:
    out = []
    for part in re.split(r"[;|]", cell):
        part = " ".join(part.split())
        if part and part not in out:
            out.append(part)
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

