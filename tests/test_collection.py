"""Importing a messy museum catalogue into a graph folder."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

from helpers import write_catalogue, zip_bytes
from vlkge.data.collection import (import_collection, inductive_split, parse_artist, parse_date,
                                   parse_map_args)
from vlkge.data.readers import load_graph
from vlkge.errors import VLKGEError

def _read(out: Path, name: str) -> list[dict[str, str]]:
    with open(out / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def imported(tmp_path):
    cat, imgs = write_catalogue(tmp_path)
    out = tmp_path / "graph"
    rep = import_collection(cat, imgs, out, mapping=parse_map_args(["relation:hasTechnique=Technique"]))
    return out, rep


def test_parsers():
    a = parse_artist("Attributed to Anthony van Dyck (Flemish, 1599–1641)")
    assert (a.name, a.qualifier, a.nationality, a.born, a.died) == ("Anthony van Dyck", "Attributed to",
                                                                     "Flemish", 1599, 1641)
    assert parse_artist("Dyck, Anthony van").name == "Anthony van Dyck"
    assert parse_artist("Anonymous") is None
    expect = {"c. 1631": 1630, "1868–70": 1860, "about 1900": 1900, "ca. 1650-1655": 1650, "1890s": 1890,
              "19th century": None, "late 18th century": None}
    for text, dec in expect.items():
        assert parse_date(text).decade == dec, text
    assert parse_date("1868–70").year == 1868


def test_map_syntax():
    m = parse_map_args(["id=Object Number", "relation:hasTechnique=Technique", "image="])
    assert m == {"id": "Object Number", "relation:hasTechnique": "Technique", "image": ""}
    for bad in ("nonsense", "colour=Colour", "relation:has technique=X"):
        with pytest.raises(VLKGEError):
            parse_map_args([bad])


def test_messy_catalogue_entities_and_triples(imported):
    out, rep = imported
    ents = {e["id"]: e for e in _read(out, "entities.csv")}
    trip = {(t["head"], t["relation"], t["tail"]) for t in _read(out, "triples.csv")}
    # artist with qualifier, nationality, life dates; variants unify
    vd = ents["artist_anthony-van-dyck"]
    assert (vd["type"], vd["label"], vd["description"]) == ("artist", "Anthony van Dyck", "Flemish painter, 1599–1641")
    assert ents["artist_claude-monet"]["description"] == "French painter, 1840–1926"
    assert [e for e in ents if e.startswith("artist_")] == [
        "artist_anthony-van-dyck", "artist_claude-monet", "artist_berthe-morisot"]
    assert {
        ("artwork_1985-1", "isCreatedByArtist", "artist_anthony-van-dyck"),
        ("artwork_1985-1", "hasAttributionQualifier", "qualifier_attributed-to"),
        ("artwork_1985-1", "isCreatedInDecade", "decade_1630s"),
        ("artwork_1985-1", "hasStyle", "style_baroque"),
        ("artwork_1985-1", "belongsToGenre", "genre_portrait"),
        ("artwork_1985-1", "isCreatedWithMedium", "medium_oil-on-canvas"),
        ("artwork_1985-1", "hasTechnique", "technique_glazing"),
        ("artist_anthony-van-dyck", "hasNationality", "nationality_flemish"),
        ("artist_claude-monet", "hasNationality", "nationality_french"),
        ("artwork_1985-3", "isCreatedByArtist", "artist_claude-monet"),
        ("artwork_1985-3", "isCreatedInDecade", "decade_1860s"),
        ("artwork_1985-4", "isCreatedInDecade", "decade_1900s"),
        ("artwork_1985-5", "isCreatedByArtist", "artist_anthony-van-dyck"),
        ("artwork_1985-5", "hasAttributionQualifier", "qualifier_workshop-of"),
        ("artwork_1985-5", "isCreatedInDecade", "decade_1650s"),
        ("artwork_1985-11", "isCreatedInDecade", "decade_1880s"),
        ("artwork_1985-6", "isCreatedWithMedium", "medium_porcelain"),
    } <= trip
    # exactly the triples of a sparse row: missing cells give fewer triples, a century no decade
    assert {t for t in trip if t[0] == "artwork_1985-6"} == {("artwork_1985-6", "isCreatedWithMedium", "medium_porcelain")}
    assert {t for t in trip if t[0] == "artwork_1985-10"} == {("artwork_1985-10", "isCreatedByArtist", "artist_claude-monet")}
    assert ents["decade_1630s"]["type"] == "year" and ents["decade_1630s"]["label"] == "1630s"
    a1 = ents["artwork_1985-1"]
    assert (a1["label"], a1["year"], a1["date"], a1["image"]) == ("Portrait of a Lady", "1631", "c. 1631",
                                                                 "images/artwork_1985-1.png")
    assert "Dyck" not in a1["description"] and "1631" not in a1["description"]
    assert ents["artwork_1985-9"]["image"] == "" and any("missing.png" in w for w in rep.warnings)
    # the untitled row with a date but no image is skipped; the row without an id is skipped
    assert rep.skipped == [(8, "no title and no image"), (9, "no id")]
    assert rep.artists == 3 and rep.artworks == 9 and rep.images == 4


def test_result_loads_and_split_is_inductive(imported):
    out, rep = imported
    g = load_graph(out)
    assert not [w for w in g.warnings if "image" in w]
    assert g.num_entities == rep.entities
    arts = {i for i, t in enumerate(g.types) if t == "artwork"}
    train_heads = set(g.split("train")[:, 0].tolist())
    train_ents = train_heads | set(g.split("train")[:, 2].tolist())
    for s in ("val", "test"):
        for h, r, t in g.split(s).tolist():
            assert h in arts and h not in train_ents  # inductive: val/test artworks unseen in train
            assert t in train_ents                       # but their answers are known
    # artist-level triples always train
    nat = g.relation_index["hasNationality"]
    assert all(r != nat for s in ("val", "test") for _, r, _ in g.split(s).tolist())


def test_split_proportions_and_seed():
    arts = [f"artwork_{i}" for i in range(200)]
    group = {a: f"artist_{i % 7}" for i, a in enumerate(arts)}
    triples = [(a, "isCreatedByArtist", group[a]) for a in arts] + [(a, "hasStyle", "style_x") for a in arts]
    s1, _ = inductive_split(triples, arts, group, seed=1)
    s2, _ = inductive_split(triples, arts, group, seed=1)
    s3, _ = inductive_split(triples, arts, group, seed=2)
    assert s1 == s2 and s1 != s3
    modes = {h: m for h, _, _, m in s1}
    assert sum(m == "val" for m in modes.values()) == 20 and sum(m == "test" for m in modes.values()) == 20
    # every artist (stratum) keeps works in train
    for g in set(group.values()):
        assert any(modes[a] == "train" for a in arts if group[a] == g)
    # a val/test artwork with an answer that occurs nowhere in train moves to train
    lone = triples + [(a, "belongsToGenre", f"genre_{a}") for a in arts]
    s4, adj = inductive_split(lone, arts, group, seed=1)
    assert all(m == "train" for *_, m in s4) and sum(adj.values()) == 40


def test_cp1252_and_overwrite_rules(tmp_path):
    rows = [("1", "Café", "Claude Monet (French, 1840–1926)", "1872", "Impressionism", "", "", "", ""),
            ("2", "Olympia", "Édouard Manet", "1863", "Realism", "", "", "", ""),
            ("3", "Déjeuner", "EDOUARD MANET", "1863", "Realism", "", "", "", "")]
    cat, imgs = write_catalogue(tmp_path, rows, encoding="cp1252")
    out = tmp_path / "g"
    rep = import_collection(cat, None, out)
    assert any("Windows-1252" in w for w in rep.warnings)
    ents = {e["id"]: e for e in _read(out, "entities.csv")}
    assert ents["artwork_1"]["label"] == "Café" and ents["artist_edouard-manet"]["label"] == "Édouard Manet"
    assert rep.artists == 2
    # re-import over our own output is fine
    import_collection(cat, None, out, seed=3)
    load_graph(out)
    # a user folder is never overwritten, and nothing is left behind
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("precious")
    with pytest.raises(VLKGEError, match="not written by vlkge"):
        import_collection(cat, None, user)
    assert (user / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalogue.csv", "g", "imgs", "mine"]


def test_failed_import_leaves_nothing(tmp_path):
    cat = tmp_path / "c.csv"
    cat.write_text("Title,Artist\nA,\nB,\n", encoding="utf-8")
    with pytest.raises(VLKGEError, match="no usable rows"):
        import_collection(cat, None, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]
    bad = tmp_path / "d.csv"
    bad.write_text("Foo,Bar\n1,2\n")
    with pytest.raises(VLKGEError, match="no title or image column"):
        import_collection(bad, None, tmp_path / "out")


def test_several_makers_in_one_cell(tmp_path):
    rows = [("2001.1", "Flowers in a Vase", "Peter Paul Rubens (Flemish, 1577–1640) | Workshop of Jan Brueghel",
             "1615", "", "", "", "", ""),
            ("2001.2", "Allegory", "Brueghel, Jan; Rubens, Peter Paul", "1618", "", "", "", "", ""),
            ("2001.3", "Study", "Peter Paul Rubens; Unknown", "", "", "", "", "", "")]
    cat, imgs = write_catalogue(tmp_path, rows)
    out = tmp_path / "graph"
    rep = import_collection(cat, imgs, out)
    trip = {(t["head"], t["relation"], t["tail"]) for t in _read(out, "triples.csv")}
    makers = {(h, t) for h, r, t in trip if r == "isCreatedByArtist"}
    assert makers == {("artwork_2001-1", "artist_peter-paul-rubens"), ("artwork_2001-1", "artist_jan-brueghel"),
                      ("artwork_2001-2", "artist_jan-brueghel"), ("artwork_2001-2", "artist_peter-paul-rubens"),
                      ("artwork_2001-3", "artist_peter-paul-rubens")}
    assert ("artwork_2001-1", "hasAttributionQualifier", "qualifier_workshop-of") in trip
    assert ("artist_peter-paul-rubens", "hasNationality", "nationality_flemish") in trip
    assert rep.artists == 2
    assert load_graph(out).num_entities == rep.entities


def test_cli_groups_repeated_warnings_and_keeps_every_one_in_the_report(tmp_path, capsys):
    from vlkge.cli import main
    # a large catalogue's usual mess: one unreadable date on 30 rows, 25 scans missing, one row without an id
    rows = [(f"2020.{i}", f"Print {i}", ("Katsushika Hokusai", "Utagawa Hiroshige")[i % 2],
             "Edo period" if i < 30 else "1831", "", "landscape", "", f"scan{i}.png" if i < 25 else "a1.png", "")
            for i in range(40)] + [("", "Untitled", "Utagawa Hiroshige", "1832", "", "", "", "", "")]
    cat, imgs = write_catalogue(tmp_path, rows)
    out = tmp_path / "graph"
    assert main(["import-collection", str(cat), "--images", str(imgs), "--out", str(out)]) == 0
    std = capsys.readouterr()
    assert std.out.splitlines() == [std.out.strip()] and std.out.startswith("imported 40 artworks")
    err = std.err.splitlines()
    assert len(err) <= 22 and all(line.startswith("warning: ") for line in err)
    dates = [line for line in err if "Edo period" in line]
    assert dates == [f"warning: {cat}:2: date 'Edo period' not understood; no decade "
                     "(also on 29 more rows: 3, 4, 5, 6, 7, …)"]
    assert f"warning: {cat}:42: skipped: no id" in err
    assert str(out / "import_report.txt") in err[-1]
    report = (out / "import_report.txt").read_text(encoding="utf-8").splitlines()
    assert report[0].startswith("imported 40 artworks")
    assert sum("scan" in line and "not found" in line for line in report) == 25  # every one, not the first 20
    date_line = next(line for line in report if "Edo period" in line)
    assert date_line.endswith(", ".join(str(n) for n in range(3, 32)) + ")")
    load_graph(out)  # the extra file does not disturb reading the graph


def test_catalogue_columns_reads_the_header_and_what_each_field_would_use():
    from vlkge.data.collection import catalogue_columns
    from vlkge.errors import DataError
    header, found = catalogue_columns("Objekttitel;Maker;Object Number;Date;Dated\n1;2;3;4;5\n".encode("cp1252"))
    assert header == ["Objekttitel", "Maker", "Object Number", "Date", "Dated"]
    assert found == {"artist": "Maker", "id": "Object Number", "date": "Date"}  # the first plain date column
    with pytest.raises(DataError, match="empty file"):
        catalogue_columns(b"\n\n", "export.csv")


def test_reimport_keeps_the_runs_and_audit_verdicts_made_inside_the_graph(tmp_path):
    cat, imgs = write_catalogue(tmp_path)
    out = tmp_path / "graph"
    import_collection(cat, imgs, out)
    (out / "runs" / "r1").mkdir(parents=True)
    (out / "runs" / "r1" / "config.json").write_text("{}")
    (out / "vlkge-audit.sqlite").write_bytes(b"verdicts")
    # the catalogue grows by a row; importing it again refreshes the graph and nothing else
    with open(cat, "a", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\r\n").writerow(("1985.12", "Poplars", "Claude Monet", "1891", "Impressionism",
                                                        "landscape", "", "", ""))
    rep = import_collection(cat, imgs, out)
    assert (out / "runs" / "r1" / "config.json").read_text() == "{}"
    assert (out / "vlkge-audit.sqlite").read_bytes() == b"verdicts"
    assert "artwork_1985-12" in load_graph(out).entities and rep.entities == load_graph(out).num_entities
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalogue.csv", "graph", "imgs"]  # no leftovers


def test_uploaded_catalogue_with_its_images_in_a_zip(tmp_path, monkeypatch):
    import io

    from vlkge.data.collection import import_uploaded_catalogue
    from vlkge.errors import DataError
    cat, imgs = write_catalogue(tmp_path)
    files = {f"scans/2024/{p.name}": p.read_bytes() for p in imgs.iterdir()}
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 255)).save(buf, format="PNG")
    files.update({"__MACOSX/scans/._a1.png": b"junk", "scans/notes.txt": b"not an image",
                  "../../escaped.png": buf.getvalue()})  # a member that tries to leave the folder
    data = cat.read_bytes()
    monkeypatch.setenv("VLKGE_IMPORTS", str(tmp_path / "graphs"))  # where the app may save a graph
    out = tmp_path / "graphs" / "museum"
    rep = import_uploaded_catalogue(data, "export.csv", None, out, image_archive=(zip_bytes(files), "scans.zip"))
    with_image = {e["id"]: e["image"] for e in _read(out, "entities.csv") if e["image"]}
    assert rep.images == 4 and set(with_image) == {"artwork_1985-1", "artwork_1985-2", "artwork_1985-3",
                                                   "artwork_1985-5"}
    assert (out / with_image["artwork_1985-1"]).read_bytes() == (imgs / "a1.png").read_bytes()
    assert any("image 'missing.png' not found in scans.zip;" in w for w in rep.warnings)  # not a temporary folder
    assert not list(tmp_path.rglob("escaped.png"))
    assert sorted(p.name for p in out.parent.iterdir()) == ["museum"]  # the unpacked upload is gone
    from vlkge.atomic import UMASK
    assert out.stat().st_mode & 0o777 == 0o777 & ~UMASK  # not the temp folder's private 0700
    # what cannot be used is one error naming the upload, and nothing is written
    for archive, says in [((b"PK not really", "scans.zip"), "scans.zip: not a ZIP archive"),
                          ((zip_bytes({"readme.txt": b"x"}), "empty.zip"), "empty.zip: no image files in the archive"),
                          ((zip_bytes(files)[:-200], "cut.zip"), "cut.zip: ")]:
        with pytest.raises(DataError) as e:
            import_uploaded_catalogue(data, "export.csv", None, tmp_path / "graphs" / "other", image_archive=archive)
        assert str(e.value).startswith(says), e.value
    with pytest.raises(VLKGEError, match="a folder or as a ZIP archive, not both"):
        import_uploaded_catalogue(data, "export.csv", imgs, tmp_path / "graphs" / "other",
                                  image_archive=(zip_bytes(files), "scans.zip"))
    assert sorted(p.name for p in out.parent.iterdir()) == ["museum"]


def test_an_upload_is_saved_only_inside_the_workspace_or_the_imports_folder(tmp_path, workspace, monkeypatch):
    """The app's web user names the folder: /etc, a data folder or an image root is refused in one
    line before anything is written; the workspace and $VLKGE_IMPORTS are allowed."""
    from vlkge.data.collection import import_uploaded_catalogue
    from vlkge.paths import allowed_graph_folder
    cat, imgs = write_catalogue(tmp_path)
    monkeypatch.setenv("VLKGE_IMAGE_ROOTS", str(imgs))
    monkeypatch.setenv("VLKGE_IMPORTS", str(tmp_path / "imports"))
    scans = sorted(p.name for p in imgs.iterdir())
    for out in (Path("/etc/vlkge-graph"), imgs / "graph", tmp_path / "data" / "graph", workspace / ".." / "x"):
        with pytest.raises(VLKGEError) as e:
            import_uploaded_catalogue(cat.read_bytes(), "export.csv", None, out)
        assert str(e.value).startswith(f"{out}: not a folder the app may save a graph in (allowed: inside "
                                       f"{workspace}, {tmp_path / 'imports'};") and "\n" not in str(e.value)
        assert not out.exists()
    assert sorted(p.name for p in imgs.iterdir()) == scans and not (tmp_path / "data").exists()  # nothing written
    for out in (workspace / "graphs" / "a", tmp_path / "imports" / "b"):
        assert allowed_graph_folder(out) == out.resolve()
        assert import_uploaded_catalogue(cat.read_bytes(), "export.csv", None, out).artworks > 0


def test_cli_imports_images_from_a_zip(tmp_path, capsys):
    from vlkge.cli import main
    cat, imgs = write_catalogue(tmp_path)
    (tmp_path / "scans.zip").write_bytes(zip_bytes({p.name: p.read_bytes() for p in imgs.iterdir()}))
    assert main(["import-collection", str(cat), "--images", str(tmp_path / "scans.zip"),
                 "--out", str(tmp_path / "g")]) == 0
    assert "4 images" in capsys.readouterr().out
    assert int(load_graph(tmp_path / "g").has_image.sum()) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalogue.csv", "g", "imgs", "scans.zip"]
    (tmp_path / "photo.jpg").write_bytes((imgs / "a1.png").read_bytes())
    assert main(["import-collection", str(cat), "--images", str(tmp_path / "photo.jpg"),
                 "--out", str(tmp_path / "g2")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'photo.jpg'}: not a ZIP archive"
    assert not (tmp_path / "g2").exists()


def test_excel_and_unicode_text_exports(tmp_path):
    """Catalogues as museums' software exports them: an Excel workbook (real date and number cells,
    a line break inside a cell, a second sheet) and Excel's "Unicode Text" (UTF-16, tab-separated)."""
    import datetime

    import openpyxl
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Objects"
    sheet.append(["Object Number", "Title", "Artist", "Date", "Genre"])
    sheet.append(["1985.1", "Impression,\nSunrise", "Claude Monet (French, 1840-1926)", datetime.datetime(1872, 11, 13),
                  "marina"])
    sheet.append([None, None, None, None, None])  # a blank row, kept in the numbering
    sheet.append([1986, "Water Lilies", "Claude Monet", 1905.0, "landscape"])
    sheet.append(["1987.2", "Sunset", "Berthe Morisot", "Edo period", "landscape"])
    sheet.append([None, "No number", "Claude Monet", 1880, "landscape"])
    book.create_sheet("Notes").append(["not", "read"])
    book.save(tmp_path / "export.xlsx")
    rep = import_collection(tmp_path / "export.xlsx", None, tmp_path / "g")
    ents = {e["id"]: e for e in _read(tmp_path / "g", "entities.csv")}
    assert ents["artwork_1985-1"]["label"] == "Impression, Sunrise" and ents["artwork_1985-1"]["year"] == "1872"
    assert ents["artwork_1986"]["year"] == "1905"  # a number cell, not "1905.0"
    # problems name the rows as Excel numbers them
    assert (6, "no id") in rep.skipped
    assert any(w.startswith("line 5: date 'Edo period'") for w in rep.warnings)
    assert any("2 worksheets; only the first, 'Objects', was read" in w for w in rep.warnings)
    assert rep.artworks == 3

    rows = "Object Number\tTitle\tArtist\tDate\n" + "".join(
        f"Ö.{i}\tBildnis {i}\tAlbrecht Dürer\t15{10 + i}\n" for i in range(4))
    (tmp_path / "unicode.txt").write_bytes(rows.encode("utf-16"))
    rep = import_collection(tmp_path / "unicode.txt", None, tmp_path / "g2")
    assert rep.artworks == 4 and "Albrecht Dürer" in load_graph(tmp_path / "g2").labels

    for name, data, says in [("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100, "old-style Excel file (.xls)"),
                             ("broken.xlsx", b"PK\x03\x04 not really", "not a readable Excel workbook"),
                             ("export.csv", (tmp_path / "export.xlsx").read_bytes(), "ZIP-based file")]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(VLKGEError) as e:
            import_collection(tmp_path / name, None, tmp_path / "g3")
        assert str(e.value).startswith(f"{tmp_path / name}: ") and says in str(e.value), e.value
    assert not (tmp_path / "g3").exists()


def test_imported_graphs_lists_only_catalogue_imports_newest_first(tmp_path):
    import os

    from vlkge.data.collection import imported_graphs
    assert imported_graphs(tmp_path / "graphs") == []  # no such folder yet
    cat, imgs = write_catalogue(tmp_path)
    for name in ("older", "newer"):
        import_collection(cat, imgs, tmp_path / "graphs" / name)
    os.utime(tmp_path / "graphs" / "older" / ".vlkge-graph.json", (1, 1))
    (tmp_path / "graphs" / "notes").mkdir()  # a folder of the curator's
    (tmp_path / "graphs" / "notes" / "entities.csv").write_text("id,type,label,description,image\n")
    assert [p.name for p in imported_graphs(tmp_path / "graphs")] == ["newer", "older"]
