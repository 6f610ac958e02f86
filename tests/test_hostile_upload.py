"""The hostile corpus of issue 16 through the app's own upload path: Home's import form driven in
AppTest. What the page shows about a hostile catalogue (its warnings, summary, errors, column
names) is text: quoted cells appear verbatim in plain-text elements or escaped in Markdown ones,
never as a Markdown image, link or HTML element; nothing outside the images reaches the graph."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import badinput as B  # noqa: E402
from helpers import make_app_graph, zip_bytes  # noqa: E402
from vlkge.app import escape_markdown  # noqa: E402
from vlkge.data.readers import load_graph  # noqa: E402

pytestmark = pytest.mark.slow  # Streamlit pages run through AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PASSWD = Path("/etc/passwd")
EVIL = ["![x](http://evil.invalid/x.png)", "<img src=http://evil.invalid/y.png onerror=alert(1)>",
        "[click](javascript:alert(1))", '=HYPERLINK("http://evil.invalid/","open")']
# a Markdown image or link, or an HTML tag, whose opening characters are not backslash-escaped
LIVE_MARKUP = re.compile(r"(?<!\\)!\[|(?<!\\)\]\(|(?<!\\)<[A-Za-z/!?]")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Home on a small graph (no run), imports saved under tmp_path."""
    root = make_app_graph(tmp_path / "graph")
    for k, v in {"VLKGE_DATA": root, "VLKGE_CACHE": tmp_path / "cache", "VLKGE_IMPORTS": tmp_path / "graphs"}.items():
        monkeypatch.setenv(k, str(v))
    monkeypatch.delenv("VLKGE_RUN", raising=False)
    return lambda **params: _page(**params)


def _page(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    return _ok(at.run())


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    return buf.getvalue().encode()


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="import_csv").set_value((name, data, "text/csv"))
    return _ok(at.run())


def _import(at: AppTest, dest: Path, archive: tuple[str, bytes] | None = None) -> AppTest:
    """Click Import on the catalogue uploaded (``_upload``), its images from ``archive``."""
    if archive:
        at.file_uploader(key="import_zip").set_value((*archive, "application/zip"))
    at.text_input(key="import_dest").set_value(str(dest))
    _ok(at.run())
    next(b for b in at.button if b.label == "Import").click()
    return _ok(at.run())


def _markdown_shown(at: AppTest) -> list[str]:
    """The Markdown source of every element on the page that renders its value as Markdown."""
    kinds = ("markdown", "caption", "success", "error", "warning", "info", "title", "subheader")
    shown = [e.value for k in kinds for e in getattr(at, k)]
    shown += [p.label for p in at.get("page_link")] + [p.proto.help for p in at.get("page_link") if p.proto.help]
    return shown


def _assert_inert(at: AppTest, texts: list[str]) -> None:
    """No catalogue text in ``texts`` reaches a Markdown element as typed, and no Markdown element
    holds a live image, link or tag."""
    for value in _markdown_shown(at):
        for t in texts:
            assert t not in value, (t, value)
        assert not LIVE_MARKUP.search(value), value


def test_a_hostile_catalogue_and_zip_uploaded_on_home_stay_contained(home, tmp_path, monkeypatch):
    monkeypatch.setenv("VLKGE_IMPORTS", str(tmp_path / "graphs"))  # where the app may save a graph
    cells = ["a1.png", "/etc/passwd", "../../x.png", "bomb.png", "notes.png"]
    data = _csv(["Object Number", "Title", "Artist", "Date", "Filename"],
                [[str(i + 1), f"Print {i}", "Claude Monet", "1872", c] for i, c in enumerate(cells)])
    scans = io.BytesIO()
    with zipfile.ZipFile(scans, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("scans/a1.png", B.png_bytes(1))
        z.writestr("scans/bomb.png", b"\0" * (20 << 20))  # 20 MB deflating 1000:1: never unpacked
        z.writestr("scans/notes.png", b"root:x:0:0:root:/root:/bin/bash\n")  # named as an image, is not one
        z.writestr("scans/x.png", PASSWD.read_bytes())  # what ``../../x.png`` would match by name: refused too
    at = home()
    before = at.session_state["graph_spec"]
    dest = tmp_path / "graphs" / "museum"
    at = _import(_upload(at, "hostile.csv", data), dest, ("scans.zip", scans.getvalue()))
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["graph_spec"] == str(dest.resolve()) != before  # switched to the import
    assert at.success[0].value.startswith(escape_markdown("Imported 5 artworks by 1 artists"))
    # the warnings are plain text, one line each, naming catalogue, line and cell
    notes = at.code[0].value.splitlines()
    for line in ["hostile.csv:3: image '/etc/passwd' is outside the images folder; row imported without an image",
                 "hostile.csv:4: image '../../x.png' is outside the images folder; row imported without an image",
                 "hostile.csv: archive scans.zip: 3 members refused (1 over the compression-ratio limit, "
                 "2 not decodable images)"]:
        assert line in notes, notes
    _assert_inert(at, ["/etc/passwd", "../../x.png"])
    # one image made it, the scan named in the catalogue; nothing shares /etc/passwd's inode or bytes
    g = load_graph(dest)
    assert int(g.has_image.sum()) == 1
    files = [p for p in (dest / "images").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in files] == [B.png_bytes(1)]
    secret = PASSWD.stat()
    for p in dest.rglob("*"):
        assert not p.is_symlink(), p
        if p.is_file():
            assert (p.stat().st_dev, p.stat().st_ino) != (secret.st_dev, secret.st_ino), p
            assert p.read_bytes() != PASSWD.read_bytes(), p
    assert sorted(p.name for p in dest.parent.iterdir()) == ["museum"]  # the unpacked archive is gone


def test_catalogue_text_on_the_import_form_and_its_result_is_shown_as_typed(home, tmp_path, monkeypatch):
    monkeypatch.setenv("VLKGE_IMPORTS", str(tmp_path / "graphs"))  # where the app may save a graph
    header = ["Object Number", "**Title**", "<b>Artist</b>", "Date", "Filename"]
    rows = [[str(i + 1), t, "Claude Monet" if i % 2 else t, t, EVIL[1] if i == 1 else f"a{i}.png"]
            for i, t in enumerate(EVIL)]
    scans = ("scans.zip", zip_bytes({f"a{i}.png": B.png_bytes(i) for i in range(len(EVIL))}))
    name = "![x](http:evil.invalid) <i>export<i>.csv"
    at = _upload(home(), name, _csv(header, rows))
    # the column pickers offer the header cells as typed (options are plain text); the curator
    # names the two that are not recognised by name
    pickers = {s.label: s for s in at.selectbox if s.key and s.key.startswith("import_col_")}
    assert pickers["Title"].options == ["(none)", *header]
    pickers["Title"].set_value("**Title**")
    pickers["Artist"].set_value("<b>Artist</b>")
    dest = tmp_path / "graphs" / "evil"
    at = _import(at, dest, scans)
    assert not at.error, [e.value for e in at.error]
    assert at.success[0].value.startswith(escape_markdown("Imported 4 artworks"))
    # warnings quote the cells (a date, an image) verbatim, in plain text
    notes = "\n".join(c.value for c in at.code)
    assert f"{name}:2: date {EVIL[0]!r} not understood" in notes, notes
    assert f"image {EVIL[1]!r}" in notes, notes
    _assert_inert(at, [*EVIL, *header[1:3], name])
    # the imported graph opened on Home: titles (gallery links, their tooltips) escaped too
    at = home(data=str(dest))
    assert not at.error, [e.value for e in at.error]
    assert set(load_graph(dest).labels) >= set(EVIL)
    shown = _markdown_shown(at)
    assert all(any(escape_markdown(t) in v for v in shown) for t in EVIL[::2]), shown  # the titles are there
    _assert_inert(at, EVIL)
    # a catalogue the form cannot use: its error quotes the header cells, escaped
    bad = "<img src=x onerror=alert(1)>.csv"
    at = _import(_upload(at, bad, b"**Foo**,<b>Bar</b>\n1,2\n"), tmp_path / "graphs" / "other")
    assert at.error[0].value == escape_markdown(f"Cannot import: {bad}:1: no title or image column found (columns: "
                                                "**Foo**, <b>Bar</b>); pick the Title column"), at.error[0].value
    assert not (tmp_path / "graphs" / "other").exists()
    _assert_inert(at, [bad, "**Foo**", "<b>Bar</b>"])
