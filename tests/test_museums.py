"""The export layouts big museums publish (tests/museums/: rows written for these tests in each
museum's column layout and string style), imported with no column map (issue 18)."""
from __future__ import annotations

import csv

import pytest

from helpers import MUSEUMS
from vlkge.data.cells import parse_artist, split_cell
from vlkge.data.collection import import_collection
from vlkge.data.readers import load_graph
from vlkge.errors import DataError



def _import(tmp_path, name, **kw):
    out = tmp_path / name.split(".")[0]
    rep = import_collection(MUSEUMS / name, None, out, **kw)
    with open(out / "entities.csv", encoding="utf-8", newline="") as f:
        ents = {e["id"]: e for e in csv.DictReader(f)}
    with open(out / "triples.csv", encoding="utf-8", newline="") as f:
        trip = {(t["head"], t["relation"], t["tail"]) for t in csv.DictReader(f)}
    assert load_graph(out).num_entities == rep.entities
    return rep, ents, trip, out


def _artists(ents):
    return {e["label"]: e["description"] for e in ents.values() if e["type"] == "artist"}


def _uses(rep):
    return {u.column: (u.becomes, u.detail) for u in rep.column_uses}


def test_art_institute_of_chicago_api_json(tmp_path):
    rep, ents, trip, out = _import(tmp_path, "aic.json")
    assert _artists(ents) == {
        "Claude Monet": "French painter, 1840–1926",
        "Richard Wilson (1713–1782)": "Welsh painter, 1713–1782",  # the homonyms: two people, told apart
        "Richard Wilson (born 1953)": "English sculptor, born 1953",
        "City Racing": "Collective, founded 1988",  # no lifespan, no nationality from "established 1988"
        "Julia Margaret Cameron": "English photographer, 1815–1879",  # not "born India"
        "Katsushika Hokusai": "Japanese printmaker, 1760–1849"}
    assert ents["artist_claude-monet"]["sort_name"] == "Monet, Claude"
    assert ents["artist_city-racing"]["kind"] == "collective"
    u = _uses(rep)
    assert u["artist_display"] == ("field", "artist") and u["date_display"] == ("field", "date")
    assert u["medium_display"] == ("field", "medium") and u["style_title"] == ("field", "style")
    assert u["subject_titles"] == ("relation", "hasSubject") and u["place_of_origin"] == ("relation", "hasPlaceOfOrigin")
    assert u["classification_title"] == ("relation", "hasClassification")
    assert u["thumbnail"][0] == "ignored" and u["date_end"][0] == "ignored"
    assert ("artwork_10000", "hasSubject", "subject_landscapes") in trip
    assert ents["subject_landscapes"]["description"] == "landscapes, a subject"
    assert {t for _, r, t in trip if r == "hasNationality"} == {
        "nationality_french", "nationality_welsh", "nationality_english", "nationality_japanese"}
    # every column is in the summary line and in import_report.txt
    assert all(c in rep.summary() for c in ("subject_titles→hasSubject", "thumbnail→ignored"))
    report = (out / "import_report.txt").read_text(encoding="utf-8")
    assert "thumbnail → ignored: structured values (JSON objects), not categories" in report


def test_met_open_access_parallel_columns(tmp_path):
    rep, ents, trip, _ = _import(tmp_path, "met.csv")
    assert _artists(ents) == {
        "Jean-Baptiste Greuze": "French printmaker, 1725–1805",  # only prints of his here
        "Pierre-Charles Ingouf": "French engraver, 1746–1800",  # his own role, from the parallel column
        "John Doyle (1797–1868)": "Irish draughtsman, 1797–1868",
        "John Doyle (born 1928)": "American painter, born 1928",  # 9999: alive; never a death before birth
        "Rembrandt": "Dutch painter, 1606–1669",
        "Carleton E. Watkins": "American photographer, 1829–1916"}
    assert ("artwork_1975-1-0", "isCreatedByArtist", "artist_pierre-charles-ingouf") in trip
    assert ("artwork_1979-1-4", "hasAttributionQualifier", "qualifier_workshop-of") in trip
    assert ("artwork_1975-1-0", "hasTag", "tag_landscapes") in trip
    u = _uses(rep)
    assert [u[c] for c in ("Artist Nationality", "Artist Begin Date", "Artist End Date", "Artist Role")] == [
        ("field", "nationality"), ("field", "born"), ("field", "died"), ("field", "role")]
    assert {c: u[c][1] for c in ("Classification", "Culture", "Department", "Tags")} == {
        "Classification": "hasClassification", "Culture": "hasCulture", "Department": "hasDepartment", "Tags": "hasTag"}
    assert u["Dimensions"][0] == "text" and u["Credit Line"][0] == "ignored" and u["Is Highlight"][0] == "ignored"
    art = ents["artwork_1975-1-0"]
    assert art["description"] == "Dimensions: 10 x 20 in. (25 x 50 cm)"  # nothing that names a predicted answer
    assert "Greuze" not in art["description"] and "1765" not in art["description"]


def test_moma_parallel_lists_and_constituent_ids(tmp_path):
    rep, ents, trip, _ = _import(tmp_path, "moma.csv")
    assert _artists(ents) == {
        "Hans Hollein": "Austrian draughtsman, 1934–2014", "Walter Pichler": "Austrian draughtsman, 1936–2012",
        "Robert Adams (born 1937)": "American photographer, born 1937",
        "Robert Adams (1917–1984)": "British sculptor, 1917–1984",
        "Pablo Picasso": "Spanish painter, 1881–1973", "Gilbert & George": "British collective, founded 1967"}
    # "Hans Hollein, Walter Pichler" beside "6210, 7470": two makers of one drawing
    assert {t for h, r, t in trip if h == "artwork_100-1960" and r == "isCreatedByArtist"} == {
        "artist_hans-hollein", "artist_walter-pichler"}
    u = _uses(rep)
    assert u["ConstituentID"] == ("field", "artist_id") and u["AccessionNumber"] == ("field", "id")
    assert u["Gender"][0] == "ignored" and u["DateAcquired"][0] == "ignored"
    assert u["Classification"] == ("relation", "hasClassification")


def test_tate_artist_ids_tell_homonyms_apart(tmp_path):
    rep, ents, trip, _ = _import(tmp_path, "tate.csv")
    assert _artists(ents) == {
        "Richard Wilson (painter)": "Painter", "Richard Wilson (sculptor)": "Sculptor",
        "Joseph Mallord William Turner": "Painter",
        "City Racing": "Collective",
        "British School 18th century": "Anonymous attribution (British School 18th century)",
        "William Blake": "Printmaker"}
    wilsons = {e["id"]: e["sort_name"] for e in ents.values() if e["label"].startswith("Richard Wilson")}
    assert set(wilsons.values()) == {"Wilson, Richard"} and len(wilsons) == 2
    assert ents["artist_british-school-18th-century"]["kind"] == "school"
    assert ("artist_british-school-18th-century", "hasNationality", "nationality_british") in trip
    assert not any(k.startswith("artist_city-racing-") or "matt" in k for k in ents)  # not split in its parentheses
    u = _uses(rep)
    assert u["artistId"] == ("field", "artist_id") and u["dateText"] == ("field", "date")
    assert u["accession_number"] == ("ignored", "also names the id, which is read from id")
    assert u["inscription"][0] == "text" and u["thumbnailUrl"][0] == "ignored"


def test_national_gallery_of_art_attributions(tmp_path):
    rep, ents, trip, _ = _import(tmp_path, "nga.csv")
    assert _artists(ents) == {
        "Rembrandt van Rijn": "Painter", "American 19th Century": "Anonymous attribution (American 19th Century)",
        "Mary Cassatt": "Printmaker", "Auguste Rodin": "Sculptor", "Alfred Stieglitz": "Photographer"}
    assert ("artwork_30001", "isCreatedByArtist", "artist_rembrandt-van-rijn") in trip
    assert ("artwork_30001", "hasAttributionQualifier", "qualifier_circle-of") in trip
    u = _uses(rep)
    assert u["attribution"] == ("field", "artist") and u["displaydate"] == ("field", "date")
    assert u["classification"] == ("relation", "hasClassification") and u["attributioninverted"][0] == "ignored"


def test_cleveland_json_lines(tmp_path):
    rep, ents, trip, _ = _import(tmp_path, "cma.jsonl")
    assert _artists(ents) == {
        "Claude Monet": "French painter, 1840–1926", "Ando Hiroshige": "Japanese printmaker, 1797–1858",
        "Utagawa Kunisada": "Japanese printmaker, 1786–1865", "Paul Strand": "American photographer, 1890–1976",
        "Tilman Riemenschneider": "German sculptor, 1460–1531"}
    u = _uses(rep)
    assert u["creators"] == ("field", "artist") and u["creation_date"] == ("field", "date")
    assert u["technique"] == ("field", "medium") and u["type"] == ("relation", "hasType")
    assert u["culture"] == ("relation", "hasCulture") and u["measurements"][0] == "text"
    assert ("artwork_1916-1001", "isCreatedByArtist", "artist_utagawa-kunisada") in trip


def test_skip_drops_a_column_and_map_overrides_a_default_relation(tmp_path):
    from vlkge.cli import main
    out = tmp_path / "met"
    assert main(["import-collection", str(MUSEUMS / "met.csv"), "--out", str(out), "--skip", "Tags",
                 "--map", "relation:fromCulture=Culture"]) == 0
    report = (out / "import_report.txt").read_text(encoding="utf-8")
    assert "Tags → ignored: skipped (--skip)" in report and "Culture → relation fromCulture" in report
    rels = {r for _, r, _ in (line.split(",")[:3] for line in (out / "triples.csv").read_text().splitlines()[1:])}
    assert "hasTag" not in rels and "fromCulture" in rels and "hasCulture" not in rels
    with pytest.raises(DataError, match="--skip Nope: no column 'Nope'"):
        import_collection(MUSEUMS / "met.csv", None, tmp_path / "x", skip=["Nope"])


def test_structure_is_respected():
    assert split_cell("City Racing (Matt Hale; Peter Owen; born 1960); Keith Coventry") == [
        "City Racing (Matt Hale; Peter Owen; born 1960)", "Keith Coventry"]
    for cell in ("Workshop Collective (established 1988)", "Art & Language (founded 1968)",
                 "Studio Orta (Lucy Orta, UK; Jorge Orta, Argentine)"):
        a = parse_artist(cell)
        assert (a.kind, a.born, a.died, a.nationality) == ("collective", None, None, ""), cell
    a = parse_artist("Wilson, Richard, 1713–1782")
    assert (a.name, a.sort_name, a.born, a.died) == ("Richard Wilson", "Wilson, Richard", 1713, 1782)
    assert parse_artist("John Doyle (Irish, born Dublin 1928)").nationality == "Irish"
    assert parse_artist("Anna Held (Hamburg, 1850–1910)").nationality == ""  # a place is not a nationality
    assert parse_artist("Jo Baer (American, UK, 1929)").nationality == "American"
    assert parse_artist("Unknown photographer") is None


def test_homonym_without_dates_is_kept_apart_from_two_dated_people(tmp_path):
    cat = tmp_path / "c.csv"
    cat.write_text("Object Number,Title,Artist\n"
                   "1,A,Richard Wilson (British 1713–1782)\n2,B,\"Richard Wilson (British, born 1953)\"\n"
                   "3,C,Richard Wilson\n4,D,Claude Monet (French 1840–1926)\n5,E,Claude Monet\n", encoding="utf-8")
    rep = import_collection(cat, None, tmp_path / "g")
    assert rep.artists == 4  # two dated Wilsons, an undated one, one Monet
    assert any("'Richard Wilson' has no life dates and matches 2 people" in w for w in rep.warnings)


@pytest.mark.parametrize("text,says", [
    ('[{"title": "A", "artist": "B"},\n {"title": "C" "artist": "D"}]', ":2: malformed JSON (Expecting ',' delimiter)"),
    ('{"data": 3}', ":1: a JSON object: expected an array of objects"),
    ('[{"title": "A", "artist": "B"},\n 7]', ":2: a JSON int where an object (one artwork) was expected"),
])
def test_bad_json_is_one_line_naming_file_and_line(tmp_path, text, says):
    bad = tmp_path / "export.json"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as e:
        import_collection(bad, None, tmp_path / "g")
    assert str(e.value).startswith(str(bad) + says) and "\n" not in str(e.value)
    lines = tmp_path / "export.jsonl"
    lines.write_text('{"title": "A", "artist": "B"}\n{"title": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"export.jsonl:2: malformed JSON line"):
        import_collection(lines, None, tmp_path / "g")
