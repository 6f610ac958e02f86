"""Catalogue text stays text in every renderer the app hands it to (vlkge.app.display and
the neighbourhood graph's page)."""
from __future__ import annotations

import html
import json
import re

import networkx as nx
import pytest

from vlkge.app.display import WORD_JOINER
from vlkge.app import (escape_markdown, markdown_code, neighbourhood_html, plotly_text,
                           script_json)

HOSTILE = ["![x](http://evil.invalid/x.png)", "<img src=http://evil.invalid/y.png onerror=alert(1)>",
           "<script>alert(1)</script>", "[click](javascript:alert(1))", "*not italic* _nor_ **bold**",
           "# not a heading", "1. not a list", "- nor this", "a | b | c", "~~struck~~", "$x^2$",
           ":red[not red] :material/home: <u>under</u>", "`code` ``two``", "back\\slash \\*",
           "&lt;entity&gt; &amp;", "=HYPERLINK(\"http://evil.invalid\")", "> quote", "Monet < Manet * 2 # 3",
           "see http://evil.invalid/x, WWW.evil.invalid or curator@evil.invalid"]


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_markdown_renders_as_typed(text):
    mdit = pytest.importorskip("markdown_it")
    out = mdit.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(escape_markdown(text))
    # one paragraph of text: no element made from the text, and its characters shown as typed
    assert re.fullmatch(r"<p>(.*)</p>\n", out, re.S), out
    assert html.unescape(out[3:-5]).replace(WORD_JOINER, "") == text
    # GFM's autolinks match the parsed text: the joiner keeps URLs, www. names and addresses text
    assert not re.search(r"://|www\.|@\w", html.unescape(out), re.I)


@pytest.mark.parametrize("text", ["plain", "a`b", "``x``", "`", "$HOME/*.csv"])
def test_markdown_code_span_holds_any_backticks(text):
    mdit = pytest.importorskip("markdown_it")
    out = mdit.MarkdownIt("commonmark").render(markdown_code(text))
    assert out == f"<p><code>{html.escape(text, quote=False)}</code></p>\n"


def test_plotly_text_and_script_json_keep_the_characters():
    for s in HOSTILE:
        assert "<" not in plotly_text(s) and html.unescape(plotly_text(s)) == s
    value = {"label": "</script><script>alert(1)</script> & <!--", "n": [1, -2.5]}
    js = script_json(value)
    assert not re.search(r"[<>&]", js) and json.loads(js) == value


def test_neighbourhood_page_is_self_contained_and_shows_labels_as_typed():
    g = nx.MultiDiGraph()
    g.add_node(0, label="</script><img src=http://evil.invalid/a.png>", type="<u>type</u>", hop=0)
    g.add_node(1, label="<u>x</u> & *y*", type="artist", hop=1)
    g.add_edge(0, 1, relation="<b>by</b>")
    page = neighbourhood_html(g, {"artist": "#123456"}, 0)
    head, body = page.split("<body>", 1)
    # the inlined library is the only code, then the graph's data: no element made from graph
    # text, no src/href anywhere outside the library, and a CSP that forbids any other request
    assert not re.search(r"<(?:img|u|b)\b", body) and "evil.invalid" not in head
    assert not re.search(r"""<[a-z][^<>]*\s(?:src|href)\s*=""", head.split("<script>", 1)[0] + body, re.I)
    assert "Content-Security-Policy" in head and "default-src 'none'" in head
    assert body.count("<script>") == 1 and "</script></body>" in body
    # the data vis-network gets: labels and tooltips as typed (canvas text and innerText), not &lt;u&gt;
    nodes = json.loads(re.search(r"nodes: new vis\.DataSet\((\[.*?\])\)", body).group(1))
    edges = json.loads(re.search(r"edges: new vis\.DataSet\((\[.*?\])\)", body).group(1))
    assert nodes[1]["label"] == "<u>x</u> & *y*" and nodes[0]["title"].endswith("(<u>type</u>)")
    assert nodes[0]["color"] == "#999999" and nodes[1]["color"] == "#123456"
    assert edges == [{"from": 0, "to": 1, "title": "<b>by</b>", "arrows": "to", "color": "#bbbbbb"}]
