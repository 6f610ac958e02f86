"""A hostile catalogue and a hostile ZIP of scans, imported through the CLI and through the app's
upload path (issue 16): nothing outside the images folder is ever linked or copied into the graph,
archives unpack within their limits, every refusal is one warning line, catalogue text stays data."""
from __future__ import annotations

import csv
import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

import badinput as B
from vlkge.data import collection as C
from vlkge.data import graph_folder
from vlkge.data import image_archive as A
from vlkge.data.collection import import_uploaded_catalogue
from vlkge.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
PASSWD = Path("/etc/passwd")

# Titles a browser, Markdown renderer or spreadsheet would act on: imported as typed.
TITLES = ["![x](http://host/x.png)", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
          '=HYPERLINK("http://host/","open")', "+1+1", "@SUM(A1:A9)", "-2+3", "# Heading *bold* <u>u</u>"]


def _catalogue(path: Path, cells: list[str]) -> list[str]:
    """One artwork per image cell (ids 1, 2, ...), by one artist; returns the titles used."""
    titles = [TITLES[i % len(TITLES)] + f" {i}" for i in range(len(cells))]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Object Number", "Title", "Artist", "Date", "Filename"])
        w.writerows([str(i + 1), t, "Claude Monet", "1872", c] for i, (t, c) in enumerate(zip(titles, cells)))
    return titles


def _entities(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "entities.csv", encoding="utf-8", newline="") as f:
        return {e["id"]: e for e in csv.DictReader(f)}


def _outside_files(outside: Path) -> list[Path]:
    return [p for p in [*outside.iterdir(), PASSWD] if p.is_file() and not p.is_symlink()]


def _assert_nothing_from_outside(out: Path, outside: Path) -> None:
    """No file of the graph shares an inode or the bytes of a file outside the images folder."""
    forbidden = _outside_files(outside)
    inodes = {(p.stat().st_dev, p.stat().st_ino) for p in forbidden}
    contents = {p.read_bytes() for p in forbidden}
    for p in out.rglob("*"):
        assert not p.is_symlink(), p
        if p.is_file():
            assert (p.stat().st_dev, p.stat().st_ino) not in inodes, p
            assert p.read_bytes() not in contents, p


# ---------------------------------------------------------------- image cells from a folder


# image cell -> the warning it gets ("" when the image is used)
OUT = "is outside the images folder; row imported without an image"
NOT_FILE = "is not a regular file (a folder, FIFO or device?); row imported without an image"


@pytest.fixture
def hostile_folder(tmp_path):
    """coll/catalogue.csv + coll/imgs (good files, a symlink out, a FIFO, a folder, a symlinked
    folder) and, beside them, outside/ holding a real PNG that must never be imported."""
    outside, imgs = tmp_path / "outside", tmp_path / "coll" / "imgs"
    outside.mkdir()
    imgs.mkdir(parents=True)
    (outside / "secret.png").write_bytes(B.png_bytes(999))  # decodes: only containment can stop it
    (imgs / "good1.png").write_bytes(B.png_bytes(1))
    (imgs / "good2.png").write_bytes(B.png_bytes(2))
    os.symlink(outside / "secret.png", imgs / "link_out.png")
    os.symlink("good1.png", imgs / "link_in.png")
    os.symlink(outside, imgs / "dirlink")
    os.mkfifo(imgs / "fifo.png")
    (imgs / "adir.png").mkdir()
    cases = {
        "good1.png": "",
        "/etc/passwd": OUT,
        "../../../../etc/passwd": OUT,
        str(outside / "secret.png"): OUT,
        "../../outside/secret.png": OUT,
        "link_out.png": OUT,
        "dirlink/secret.png": OUT,
        "secret.png": "not found in",  # the symlinked folder is not searched
        "fifo.png": NOT_FILE,
        "adir.png": NOT_FILE,
        "link_in.png": "",  # a symlink that stays inside is fine
        "/Volumes/Scans/good2.png": "",  # the exporting machine's path: matched by file name
    }
    cat = tmp_path / "coll" / "catalogue.csv"
    titles = _catalogue(cat, list(cases))
    return {"cat": cat, "imgs": imgs, "outside": outside, "cases": cases, "titles": titles}


def _assert_folder_outcome(out: Path, h: dict, problems: list[str], catalogue: str) -> None:
    ents = _entities(out)
    arts = [ents[f"artwork_{i + 1}"] for i in range(len(h["cases"]))]  # every row kept
    used = {cell: e["image"] for cell, e in zip(h["cases"], arts)}
    assert {c for c, img in used.items() if img} == {c for c, w in h["cases"].items() if not w}
    assert (out / used["good1.png"]).read_bytes() == (h["imgs"] / "good1.png").read_bytes()
    assert (out / used["/Volumes/Scans/good2.png"]).read_bytes() == (h["imgs"] / "good2.png").read_bytes()
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(Path(i).name for i in used.values() if i)
    for line, (cell, says) in enumerate(h["cases"].items(), start=2):
        mine = [p for p in problems if p.startswith(f"{catalogue}:{line}: ")]
        if says:
            assert mine == [f"{catalogue}:{line}: image {cell!r} {says}" + ("" if "not found" not in says else
                            f" {mine[0].split(' not found in ')[1]}")], (cell, mine)
        else:
            assert not mine, (cell, mine)
    assert [e["label"] for e in arts] == h["titles"]  # verbatim: data, not markup or formulas
    _assert_nothing_from_outside(out, h["outside"])
    report = (out / C.IMPORT_REPORT).read_text(encoding="utf-8")
    assert "(0.0 MB new on disk)" in report.splitlines()[0]  # hard links: the same filesystem
    assert all(p.split(":", 2)[2].strip() in report for p in problems)


def test_cli_imports_a_hostile_catalogue_contained(hostile_folder, tmp_path):
    h, out = hostile_folder, tmp_path / "g"
    p = subprocess.run([sys.executable, "-m", "vlkge", "import-collection", str(h["cat"]), "--images",
                        str(h["imgs"]), "--out", str(out)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "imported 12 artworks by 1 artists" in p.stdout and "3 images (0.0 MB new on disk)" in p.stdout
    problems = [x.removeprefix("warning: ") for x in p.stderr.splitlines() if x.startswith("warning: ")
                and "the full list" not in x]
    _assert_folder_outcome(out, h, problems, str(h["cat"]))


def test_upload_imports_a_hostile_catalogue_contained(hostile_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("VLKGE_IMPORTS", str(tmp_path / "graphs"))  # where the app may save a graph
    h, out = hostile_folder, tmp_path / "graphs" / "museum"
    monkeypatch.setenv("VLKGE_IMAGE_ROOTS", str(h["imgs"]))
    rep = import_uploaded_catalogue(h["cat"].read_bytes(), "hostile.csv", h["imgs"], out)
    assert rep.images == 3 and rep.artworks == 12 and rep.new_image_bytes == 0
    _assert_folder_outcome(out, h, rep.problems("hostile.csv"), "hostile.csv")


def test_without_images_folder_the_catalogues_own_folder_is_the_root(hostile_folder, tmp_path, capsys):
    from vlkge.cli import main
    h = hostile_folder
    cat = h["imgs"] / "catalogue.csv"  # beside the images: they are found without --images
    _catalogue(cat, ["good1.png", "/etc/passwd", "../outside/secret.png"])
    assert main(["import-collection", str(cat), "--out", str(tmp_path / "g")]) == 0
    err = capsys.readouterr().err
    assert f"{cat}:3: image '/etc/passwd' {OUT}" in err and f"{cat}:4: image '../outside/secret.png' {OUT}" in err
    assert [bool(e["image"]) for e in _entities(tmp_path / "g").values() if e["type"] == "artwork"] == [True, False, False]
    _assert_nothing_from_outside(tmp_path / "g", h["outside"])


def test_a_file_swapped_for_a_symlink_after_the_check_is_not_linked(hostile_folder, tmp_path):
    """The check at link time (TOCTOU): an image found inside the folder when the catalogue was
    read, then replaced by a symlink out (or a FIFO) before it is placed, is refused; nothing is written."""
    h = hostile_folder
    good = h["imgs"] / "good1.png"
    good.unlink()
    os.symlink(h["outside"] / "secret.png", good)
    for swapped, says in [(good, "changed while importing"), (h["imgs"] / "fifo.png", "changed while importing")]:
        with pytest.raises(DataError, match=says):
            graph_folder.write_graph_folder(tmp_path / "g", [{"id": "a", "type": "t", "label": "A", "image": "images/a.png"}],
                                 [("a", "r", "a", "train")], files={"images/a.png": swapped}, image_root=h["imgs"])
        assert not (tmp_path / "g").exists() and [p.name for p in tmp_path.iterdir()] == ["coll", "outside"]


# ---------------------------------------------------------------- a hostile ZIP of scans


def _liar(name: str, real_bytes: int, claimed: int) -> bytes:
    """A one-member ZIP whose headers claim ``claimed`` unpacked bytes (with the matching CRC of
    that many zeros) while the deflated stream holds ``real_bytes`` zeros."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, b"\0" * real_bytes)
    data = bytearray(buf.getvalue())
    crc = zlib.crc32(b"\0" * claimed)
    for sig, crc_at, size_at in ((b"PK\x03\x04", 14, 22), (b"PK\x01\x02", 16, 24)):
        at = data.index(sig)
        struct.pack_into("<I", data, at + crc_at, crc)
        struct.pack_into("<I", data, at + size_at, claimed)
    return bytes(data)


@pytest.fixture(scope="module")
def hostile_zip(tmp_path_factory):
    """scans.zip: good scans (one with ``..`` in its name, one absolute), a blank BMP that deflates
    1000:1 but is small, a ratio bomb, a huge member, a text file and a 400-megapixel PNG named as
    images, and a symlink member; liar.zip: a header that lies about its size."""
    from PIL import Image
    work = tmp_path_factory.mktemp("zip")
    blank = io.BytesIO()
    Image.new("RGB", (400, 400), (255, 255, 255)).save(blank, "BMP")
    path = work / "scans.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("scans/a1.png", B.png_bytes(1))
        z.writestr("../../escaped.png", B.png_bytes(2))
        z.writestr("/abs/evil.png", B.png_bytes(3))
        z.writestr("scans/blank.bmp", blank.getvalue())
        z.writestr("scans/bomb.png", b"\0" * (20 << 20))  # 20 MB deflating 1000:1
        z.writestr("scans/huge.tif", b"\0" * (A.ARCHIVE_MAX_FILE_BYTES + 1))
        z.writestr("scans/notes.png", b"this is not an image\n")
        z.writestr("scans/bomb400.png", B.bomb_png())
        link = zipfile.ZipInfo("scans/link.png")
        link.external_attr = (0o120777 << 16)  # a symlink member: never created as a link
        z.writestr(link, "/etc/passwd")
    (work / "liar.zip").write_bytes(_liar("scans/liar.png", 30 << 20, 1000))
    assert path.stat().st_size < 2 << 20  # the whole corpus stays small on disk
    cells = ["a1.png", "escaped.png", "evil.png", "blank.bmp", "bomb.png", "huge.tif", "notes.png", "bomb400.png",
             "link.png", "/etc/passwd"]
    cat = work / "catalogue.csv"
    titles = _catalogue(cat, cells)
    return {"zip": path, "liar": work / "liar.zip", "cat": cat, "cells": cells, "titles": titles, "work": work}


ZIP_WARNING = ("archive scans.zip: 5 members refused (1 over the compression-ratio limit, 1 over the per-file "
               "limit, 3 not decodable images)")


def _assert_zip_outcome(out: Path, h: dict, rep_summary: str, problems: list[str], catalogue: str) -> None:
    ents = _entities(out)
    arts = [ents[f"artwork_{i + 1}"] for i in range(len(h["cells"]))]
    assert [e["label"] for e in arts] == h["titles"]
    used = {c: e["image"] for c, e in zip(h["cells"], arts)}
    assert {c for c, i in used.items() if i} == {"a1.png", "evil.png", "blank.bmp"}
    assert (out / used["evil.png"]).read_bytes() == B.png_bytes(3)  # an absolute name unpacks inside
    assert f"{catalogue}: {ZIP_WARNING}" in problems
    for line, cell in enumerate(h["cells"], start=2):
        if cell in ("escaped.png", "bomb.png", "huge.tif", "notes.png", "bomb400.png", "link.png"):
            assert f"{catalogue}:{line}: image {cell!r} not found in scans.zip; artwork has no image" in problems
    assert f"{catalogue}:11: image '/etc/passwd' {OUT}" in problems
    _assert_nothing_from_outside(out, h["work"])
    # disk: what the summary says is what the graph's images hold, and nothing else was left behind
    images = sum(p.stat().st_size for p in (out / "images").iterdir())
    assert f"3 images ({images / 1e6:.1f} MB new on disk)" in rep_summary
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 1 << 20
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # the unpacked members are gone
    assert all(out in p.parents for p in out.parent.parent.rglob("*.png"))  # ``..`` is left out (as hidden)
    assert not Path("/abs").exists()


def test_cli_unpacks_a_hostile_zip_within_its_limits(hostile_zip, tmp_path):
    h, out = hostile_zip, tmp_path / "graphs" / "g"
    p = subprocess.run([sys.executable, "-m", "vlkge", "import-collection", str(h["cat"]), "--images",
                        str(h["zip"]), "--out", str(out)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    problems = [x.removeprefix("warning: ") for x in p.stderr.splitlines() if x.startswith("warning: ")]
    _assert_zip_outcome(out, h, p.stdout, problems, str(h["cat"]))
    assert ZIP_WARNING in (out / C.IMPORT_REPORT).read_text(encoding="utf-8")


def test_upload_unpacks_a_hostile_zip_within_its_limits(hostile_zip, tmp_path, monkeypatch):
    monkeypatch.setenv("VLKGE_IMPORTS", str(tmp_path / "graphs"))  # where the app may save a graph
    h, out = hostile_zip, tmp_path / "graphs" / "museum"
    rep = import_uploaded_catalogue(h["cat"].read_bytes(), "hostile.csv", None, out,
                                    image_archive=(h["zip"].read_bytes(), "scans.zip"))
    _assert_zip_outcome(out, h, rep.summary(), rep.problems("hostile.csv"), "hostile.csv")


def test_a_zip_header_that_lies_about_its_size_leaves_no_big_file(hostile_zip, tmp_path, monkeypatch):
    """30 MB of zeros behind a header claiming 1000 bytes (and their CRC): zipfile stops at the
    claimed size, the byte counter would stop at the limits; 1000 zero bytes do not decode."""
    monkeypatch.setenv("VLKGE_IMPORTS", str(tmp_path / "graphs"))  # where the app may save a graph
    h = hostile_zip
    with pytest.raises(DataError) as e:
        import_uploaded_catalogue(h["cat"].read_bytes(), "hostile.csv", None, tmp_path / "graphs" / "g",
                                  image_archive=(h["liar"].read_bytes(), "liar.zip"))
    assert str(e.value) == "liar.zip: no usable image files in the archive: 1 member refused (1 not a decodable image)"
    assert not list((tmp_path / "graphs").iterdir())


def test_the_byte_counter_stops_a_member_that_unpacks_past_its_limit(tmp_path, monkeypatch):
    """With the limits lowered under what the headers declare, the stream copy is what refuses."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok.png", B.png_bytes(1))
        z.writestr("big.png", B.png_bytes(5, size=400))  # ~480 KB of noise: deflates ~1:1
    (tmp_path / "s.zip").write_bytes(buf.getvalue())
    monkeypatch.setattr(A, "_header_refusal", lambda m, room: "")  # as if every header lied
    monkeypatch.setattr(A, "ARCHIVE_MAX_FILE_BYTES", 100_000)
    got = A.extract_image_archive(tmp_path / "s.zip", tmp_path / "into")
    assert (got.kept, got.refused) == (1, {"file": 1})
    assert sorted(p.name for p in (tmp_path / "into").iterdir()) == ["ok.png"]
    monkeypatch.setattr(A, "ARCHIVE_MAX_FILE_BYTES", 10 << 20)
    monkeypatch.setattr(A, "ARCHIVE_MAX_TOTAL_BYTES", 100_000)
    got = A.extract_image_archive(tmp_path / "s.zip", tmp_path / "into2")
    assert (got.kept, got.refused, got.bytes) == (1, {"total": 1}, len(B.png_bytes(1)))


def test_too_many_members_is_refused_before_anything_is_unpacked(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VLKGE_IMPORTS", str(tmp_path / "graphs"))  # where the app may save a graph
    from vlkge.cli import main
    cat, imgs = tmp_path / "catalogue.csv", tmp_path / "many.zip"
    _catalogue(cat, ["a.png"])
    with zipfile.ZipFile(imgs, "w") as z:
        for i in range(A.ARCHIVE_MAX_MEMBERS + 1):
            z.writestr(f"t/{i}.png", b"")
    assert main(["import-collection", str(cat), "--images", str(imgs), "--out", str(tmp_path / "g")]) == 1
    assert capsys.readouterr().err.strip() == (f"error: {imgs}: {A.ARCHIVE_MAX_MEMBERS + 1:,} entries; at most "
                                               f"{A.ARCHIVE_MAX_MEMBERS:,} are unpacked (split the archive)")
    with pytest.raises(DataError, match=r"^many\.zip: 100,001 entries"):
        import_uploaded_catalogue(cat.read_bytes(), "c.csv", None, tmp_path / "graphs" / "g",
                                  image_archive=(imgs.read_bytes(), "many.zip"))
    assert not (tmp_path / "g").exists() and not list((tmp_path / "graphs").iterdir())
