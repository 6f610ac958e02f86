"""Reading catalogue cells: makers (``Attributed to Anthony van Dyck (Flemish, 1599–1641)``) and
free-text dates (``c. 1631``, ``1868–70``)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache

from unidecode import unidecode

QUALIFIERS = ("attributed to", "workshop of", "studio of", "follower of", "circle of", "school of",
              "manner of", "style of", "copy after", "after", "imitator of", "pupil of")
UNKNOWN_ARTISTS = {"unknown", "anonymous", "unknown artist", "anon", "unidentified artist", "n a", "na",
                   "unknown maker", "artist unknown", "maker unknown", "unidentified maker"}
DASHES = str.maketrans({"–": "-", "—": "-", "‑": "-", "‐": "-", "−": "-", "/": "-"})

# A nationality is only ever one of these words (a demonym, or a country read as its demonym):
# never a year, a place of birth, a founding date or a partner's name found in parentheses.
DEMONYMS = {
    "american": "American", "argentine": "Argentine", "australian": "Australian", "austrian": "Austrian",
    "belgian": "Belgian", "brazilian": "Brazilian", "british": "British", "canadian": "Canadian",
    "chilean": "Chilean", "chinese": "Chinese", "colombian": "Colombian", "cuban": "Cuban", "czech": "Czech",
    "danish": "Danish", "dutch": "Dutch", "egyptian": "Egyptian", "english": "English", "finnish": "Finnish",
    "flemish": "Flemish", "french": "French", "german": "German", "greek": "Greek", "hungarian": "Hungarian",
    "indian": "Indian", "irish": "Irish", "israeli": "Israeli", "italian": "Italian", "japanese": "Japanese",
    "korean": "Korean", "mexican": "Mexican", "netherlandish": "Netherlandish", "new zealander": "New Zealander",
    "nigerian": "Nigerian", "norwegian": "Norwegian", "persian": "Persian", "peruvian": "Peruvian",
    "polish": "Polish", "portuguese": "Portuguese", "romanian": "Romanian", "russian": "Russian",
    "scottish": "Scottish", "south african": "South African", "spanish": "Spanish", "swedish": "Swedish",
    "swiss": "Swiss", "turkish": "Turkish", "ukrainian": "Ukrainian", "venezuelan": "Venezuelan",
    "welsh": "Welsh", "venetian": "Venetian", "florentine": "Florentine", "bohemian": "Bohemian",
}
COUNTRIES = {
    "united states": "American", "usa": "American", "us": "American", "united kingdom": "British", "uk": "British",
    "great britain": "British", "england": "English", "scotland": "Scottish", "wales": "Welsh", "ireland": "Irish",
    "france": "French", "germany": "German", "italy": "Italian", "spain": "Spanish", "netherlands": "Dutch",
    "holland": "Dutch", "belgium": "Belgian", "austria": "Austrian", "switzerland": "Swiss", "japan": "Japanese",
    "china": "Chinese", "russia": "Russian", "mexico": "Mexican", "canada": "Canadian", "brazil": "Brazilian",
    "poland": "Polish", "sweden": "Swedish", "norway": "Norwegian", "denmark": "Danish", "india": "Indian",
}
# Words that make a maker a group, not a person (no lifespan; typed "collective").
COLLECTIVE_WORDS = ("collective", "group", "studio", "workshop", "company", "co.", "& co", "brothers",
                    "associates", "architects", "atelier", "manufactory", "factory", "press", "inc.", "ltd",
                    "gallery", "partnership", "duo", "society", "club")
COLLECTIVE = re.compile("|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in COLLECTIVE_WORDS))
SCHOOL = re.compile(r"^(?:(?P<nat>[A-Z][a-z]+(?: [A-Z][a-z]+)?) )?(?:School|Workshop)?\s*,?\s*"
                    r"(?:(?:early|mid|late|first half of the|second half of the)[ -]?)?\d{1,2}(?:st|nd|rd|th)[ -]century"
                    r"|^(?P<nat2>[A-Z][a-z]+) School\b", re.I)
# What a work's classification, type or medium says its maker was (first match wins).
ROLE_WORDS = (
    ("photographer", ("photograph", "gelatin silver", "albumen", "daguerreotype", "chromogenic", "inkjet print",
                      "platinum print", "cyanotype")),
    ("printmaker", ("print", "etching", "engraving", "lithograph", "woodcut", "mezzotint", "aquatint",
                    "screenprint", "drypoint", "linocut")),
    ("sculptor", ("sculpture", "bronze", "marble", "carved", "terracotta", "statue", "bust", "steel", "aluminium",
                  "aluminum", "limewood")),
    ("painter", ("painting", "oil on", "oil paint", "tempera", "acrylic", "watercolour", "watercolor", "gouache")),
    ("draughtsman", ("drawing", "graphite", "chalk", "charcoal", "pen and", "crayon")),
    ("ceramicist", ("ceramic", "porcelain", "stoneware", "earthenware")),
)


def role_of(text: str) -> str:
    """The maker's role a classification or medium text implies ("" when it says none)."""
    low = text.lower()
    for role, words in ROLE_WORDS:
        if any(w in low for w in words):
            return role
    return ""


def nationality_of(word: str) -> str:
    """The nationality a word names (a demonym or a country), else ""."""
    k = " ".join(re.sub(r"[^a-z ]+", " ", unidecode(word).lower()).split())
    return DEMONYMS.get(k) or COUNTRIES.get(k, "")


def name_key(name: str) -> str:
    """Key under which spellings of one person unify (accents, case, punctuation, spacing)."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", unidecode(unicodedata.normalize("NFKC", name)).lower()).split())


@lru_cache(maxsize=None)
def _splitter(seps: str) -> re.Pattern:
    return re.compile(f"[{re.escape(seps)}]")


def split_outside_brackets(cell: str, seps: str = ";|") -> list[str]:
    """``cell`` split at ``seps`` that stand outside (), [] and {}: "City Racing (Matt Hale; Peter
    Owen)" is one value."""
    if "(" not in cell and "[" not in cell and "{" not in cell:
        return _splitter(seps).split(cell)
    parts, depth, cur = [], 0, []
    for ch in cell:
        if ch in "([{":
            depth += 1
        elif ch in ")]}" and depth:
            depth -= 1
        if ch in seps and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def split_cell(cell: str, seps: str = ";|") -> list[str]:
    """The distinct values of a multi-valued cell, in order."""
    out = []
    for part in split_outside_brackets(cell, seps):
        part = " ".join(part.split())
        if part and part not in out:
            out.append(part)
    return out


def parallel_values(cell: str, n: int | None = None) -> list[str]:
    """A parallel-list cell as its values, one per maker, empty ones kept: Met ``French|Dutch``,
    MoMA ``(American) (French)``, ``6210, 7470``."""
    s = cell.strip()
    if not s:
        return []
    if re.fullmatch(r"(\([^()]*\)\s*)+", s):
        return [v.strip() for v in re.findall(r"\(([^()]*)\)", s)]
    sep = "|" if "|" in s else (";" if ";" in s else ",")
    return [v.strip() for v in s.split(sep)]


def parse_year(text: str) -> int | None:
    """A life-date cell (``1725``, ``1725-01-01``, ``(1881)``) as a year; 0 and 9999 mean unknown."""
    m = re.search(r"-?\d{3,4}", text or "")
    if not m:
        return None
    y = int(m.group())
    return y if 0 < y < 9999 else None


# ---------------------------------------------------------------- artist strings


@dataclass
class ArtistInfo:
    name: str
    qualifier: str = ""
    nationality: str = ""
    born: int | None = None
    died: int | None = None
    kind: str = "person"  # "person", "collective" or "school" (an anonymous attribution)
    sort_name: str = ""  # "Surname, Forenames"
    founded: int | None = None  # a collective's founding year: never a lifespan
    members: str = ""  # a collective's parenthesised members, as written


def parse_artist(cell: str) -> ArtistInfo | None:
    """``Attributed to Anthony van Dyck (Flemish, 1599–1641)`` → name, qualifier, nationality,
    life dates. None for empty/unknown makers. Collectives and school attributions are typed so
    and get no lifespan."""
    info = _parse_artist(cell)  # a large catalogue names the same makers over and over
    return None if info is None else replace(info)


@lru_cache(maxsize=1 << 16)
def _parse_artist(cell: str) -> ArtistInfo | None:
    """``Attributed to Anthony van Dyck (Flemish, 1599–1641)`` → name, qualifier, nationality,
    life dates. None for empty/unknown makers. Collectives and school attributions are typed so
    and get no lifespan."""
    lines = [ln.strip() for ln in cell.splitlines() if ln.strip()]
    if len(lines) > 1 and "(" not in lines[0]:  # AIC: "Claude Monet\nFrench, 1840–1926"
        lines = [f"{lines[0]} ({', '.join(lines[1:])})"]
    s = " ".join(" ".join(lines).split())
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
    bio = ""
    paren = re.search(r"\(([^()]*)\)\s*$", s)
    if paren:
        s, bio = s[: paren.start()].strip(), paren.group(1)
    elif re.search(r",\s*[^,]*\d{4}", s):
        # "Claude Monet, French, 1840-1926": everything after the first comma that is not a name part
        s, bio = s.split(",", 1)
        if re.fullmatch(r"\s*[^\W\d_][\w'\-. ]*", bio.split(",")[0]) and not nationality_of(bio.split(",")[0]) \
                and re.search(r"\d", bio.split(",", 1)[1] if "," in bio else ""):
            # "Wilson, Richard, 1713-1782": surname, forenames, then the bio
            first, bio = bio.split(",", 1)
            s = f"{s}, {first.strip()}"
    s = s.strip(" ,;")
    if not s or name_key(s) in UNKNOWN_ARTISTS or re.match(r"(unknown|unidentified|anonymous)\b", name_key(s)):
        return None
    info.kind = _kind(s, bio)
    if info.kind == "person":
        _parse_bio(bio, info)
        s, info.sort_name = _display_and_sort(s)
    else:
        info.sort_name = s
        if info.kind == "collective":
            m = re.search(r"\b(?:established|founded|formed|est\.)\s*(?:in\s*)?(\d{4})", bio, re.I)
            info.founded = int(m.group(1)) if m else None
            info.members = "; ".join(p for p in (p.strip() for p in split_outside_brackets(bio, ";"))
                                     if p and not re.search(r"\d{4}", p))
        # a school is named for its nationality; a collective listing its members has theirs, not its own
        info.nationality = _school_nationality(s) if info.kind == "school" else (
            "" if ";" in bio else _bio_nationality(bio))
    info.name = s
    return info


def _kind(name: str, bio: str) -> str:
    low = name.lower()
    if SCHOOL.search(name) or re.search(r"\bschool\b", low):
        return "school"
    if re.search(r"\b(?:established|founded|formed)\b", bio, re.I) or ";" in bio:
        return "collective"
    if " & " in name or COLLECTIVE.search(low):
        return "collective"
    return "person"


def _school_nationality(name: str) -> str:
    first = name.split()[0] if name.split() else ""
    return nationality_of(first)


def _bio_nationality(bio: str) -> str:
    for part in bio.translate(DASHES).split(","):
        n = nationality_of(part.strip())
        if n:
            return n
    return ""


def _display_and_sort(name: str) -> tuple[str, str]:
    """("Anthony van Dyck", "Dyck, Anthony van") from either form."""
    if name.count(",") == 1:
        last, first = (p.strip() for p in name.split(","))
        if first and last and first.lower().strip(".") not in {"jr", "sr", "the elder", "the younger"}:
            return f"{first} {last}", f"{last}, {first}"
    parts = name.split()
    return name, (f"{parts[-1]}, {' '.join(parts[:-1])}" if len(parts) > 1 else name)


def _parse_bio(bio: str, info: ArtistInfo) -> None:
    for part in (p.strip() for p in bio.translate(DASHES).split(",")):
        m = re.search(r"(\d{4})\s*-\s*(\d{2,4})", part)
        if m and info.born is None:
            info.born = int(m.group(1))
            d = m.group(2)
            info.died = int(m.group(1)[: 4 - len(d)] + d)
            continue
        m = re.search(r"\b(?:born|b\.)\D*(\d{4})", part, re.I)
        if m:
            info.born = info.born or int(m.group(1))
            continue
        m = re.search(r"\b(?:died|d\.)\D*(\d{4})", part, re.I)
        if m:
            info.died = info.died or int(m.group(1))
            continue
        if not info.nationality:
            info.nationality = nationality_of(part)
    if info.born and info.died and info.died < info.born:
        info.died = None  # "1928–1868": never a death before the birth


def artist_description(info: ArtistInfo, role: str = "") -> str:
    """``Flemish painter, 1599–1641``; a collective or school has no lifespan."""
    if info.kind == "school":
        return f"Anonymous attribution ({info.name})"
    if info.kind == "collective":
        who = f"{info.nationality} collective" if info.nationality else "Collective"
        return f"{who}, founded {info.founded}" if info.founded else who
    role = role or "artist"
    who = f"{info.nationality} {role}" if info.nationality else role[0].upper() + role[1:]
    if info.born and info.died:
        return f"{who}, {info.born}–{info.died}"
    if info.born:
        return f"{who}, born {info.born}"
    if info.died:
        return f"{who}, died {info.died}"
    return who


def life_dates(info: ArtistInfo) -> str:
    """``1713–1782``, ``born 1953``, ``died 1640`` or ""."""
    if info.born and info.died:
        return f"{info.born}–{info.died}"
    return f"born {info.born}" if info.born else (f"died {info.died}" if info.died else "")


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

