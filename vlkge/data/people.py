"""Who made what: the makers named on catalogue rows, told apart by evidence, not by spelling alone.

An artist-id column (MoMA ``ConstituentID``, Tate ``artistId``, a ULAN or Wikidata URL) decides when
there is one; else a name with life dates. The same name with conflicting life dates is two people
(never one man's birth and another's death); a mention without dates joins the one dated person of
that name, and is kept apart (and warned about) when there are several.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .cells import ArtistInfo, life_dates, name_key
from .graph_folder import slug


@dataclass
class Mention:
    """One maker as one row names them."""

    info: ArtistInfo
    line: int
    artist_id: str = ""
    role: str = ""  # from a role column, the work's classification or its medium ("" if none)


@dataclass
class Person:
    info: ArtistInfo
    artist_id: str = ""
    roles: Counter = field(default_factory=Counter)
    entity: str = ""
    label: str = ""

    @property
    def role(self) -> str:
        """The role most of their works show, else the neutral "artist"."""
        if not self.roles:
            return "artist"
        role, n = self.roles.most_common(1)[0]
        return role if 2 * n >= sum(self.roles.values()) else "artist"


def _conflict(a: ArtistInfo, b: ArtistInfo) -> bool:
    return bool((a.born and b.born and a.born != b.born) or (a.died and b.died and a.died != b.died))


def _merge(p: Person, m: Mention) -> None:
    """Fill in what the person lacked (never a date that conflicts: those are another person)."""
    i = p.info
    i.nationality = i.nationality or m.info.nationality
    i.born = i.born or m.info.born
    i.died = i.died or m.info.died
    i.founded = i.founded or m.info.founded
    i.members = i.members or m.info.members
    if m.role:
        p.roles[m.role] += 1


def identify(mentions: list[Mention], warnings: list[str]) -> list[Person]:
    """The person each mention names, in mention order (a list parallel to ``mentions``)."""
    by_name: dict[str, list[Person]] = defaultdict(list)
    by_id: dict[str, Person] = {}
    who: list[Person | None] = [None] * len(mentions)

    def new(m: Mention) -> Person:
        p = Person(ArtistInfo(**{**m.info.__dict__, "qualifier": ""}), m.artist_id)
        if m.role:
            p.roles[m.role] += 1
        by_name[name_key(m.info.name)].append(p)
        return p

    # ids first, then dated mentions, then undated ones: evidence before spelling
    order = sorted(range(len(mentions)), key=lambda k: (not mentions[k].artist_id,
                                                        not (mentions[k].info.born or mentions[k].info.died), k))
    for k in order:
        m = mentions[k]
        if m.artist_id:
            p = by_id.get(m.artist_id)
            if p is None:
                p = by_id[m.artist_id] = new(m)
            else:
                _merge(p, m)
            who[k] = p
            continue
        same = by_name[name_key(m.info.name)]
        if m.info.born or m.info.died:
            fits = [p for p in same if not _conflict(p.info, m.info)]
        else:
            fits = same
            if len(same) > 1:
                warnings.append(f"line {m.line}: maker {m.info.name!r} has no life dates and matches "
                                f"{len(same)} people of that name; kept apart from them")
                fits = [p for p in same if not (p.info.born or p.info.died or p.artist_id)]
        if fits:
            _merge(fits[0], m)
            who[k] = fits[0]
        else:
            who[k] = new(m)
    _name_entities(by_name)
    return who  # type: ignore[return-value]


def _name_entities(by_name: dict[str, list[Person]]) -> None:
    """Entity ids and labels: ``artist_claude-monet``; homonyms get what tells them apart
    (``Richard Wilson (1713–1782)``, ``artist_richard-wilson-1713``)."""
    taken: set[str] = set()
    for people in by_name.values():
        for n, p in enumerate(people, start=1):
            base = f"artist_{slug(p.info.name)}"
            if len(people) == 1:
                p.entity, p.label = base, p.info.name
            else:
                tell = _distinction(p, people, n)
                p.entity, p.label = f"{base}-{slug(tell)}", f"{p.info.name} ({tell})"
            while p.entity in taken:  # two spellings that slug alike
                p.entity += "-x"
            taken.add(p.entity)


def _distinction(p: Person, people: list[Person], n: int) -> str:
    dates = life_dates(p.info)
    if dates and sum(life_dates(q.info) == dates for q in people) == 1:
        return dates
    if sum(q.role == p.role for q in people) == 1:
        return p.role
    if p.artist_id:
        return f"id {p.artist_id.rstrip('/').rsplit('/', 1)[-1]}"
    return f"{n}"
