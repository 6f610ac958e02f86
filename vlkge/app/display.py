"""Catalogue text made inert for each renderer the app hands it to.

A title, name, description, type or relation name is data typed by whoever made the catalogue:
it must show as typed and never become markup. Streamlit renders most strings as Markdown
(``![x](http://host/x.png)`` would make the curator's browser fetch that URL), Plotly parses
a subset of HTML in trace names and hover text, and JSON written into an inline ``<script>``
can close the script. Plain-text widgets (``st.text``, ``st.code``, selectbox and radio options,
dataframes, vis-network canvas labels and tooltips, which it sets as ``innerText``) need none of this.
"""
from __future__ import annotations

import html
import json
import re
from typing import Any

# Every ASCII punctuation that starts or ends a Markdown construct in Streamlit's renderer
# (CommonMark + GFM tables and strikethrough, math ``$``, ``:colour[...]`` and ``:icon:``
# directives, HTML tags and entities). CommonMark lets a backslash escape any of them.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:])")


# GFM turns bare URLs, www. names and e-mail addresses into links by matching the *parsed* text,
# where backslash escapes are already gone: an invisible word joiner breaks each pattern.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=\bwww)(?=\.)|(?<=@)", re.I)


def escape_markdown(text: Any) -> str:
    """``text`` as a Markdown fragment that renders as ``text`` reads (bare URLs and addresses
    carry an invisible word joiner, :data:`WORD_JOINER`, so they stay text)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, str(text)))


def markdown_code(text: Any) -> str:
    """``text`` as an inline code span, whatever backticks it contains (the fence is one
    backtick longer than the longest run inside; CommonMark strips one padding space)."""
    s = str(text).replace("\n", " ")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    return f"{fence} {s} {fence}"


def plotly_text(text: Any) -> str:
    """``text`` for a Plotly trace name or hover text, which Plotly reads as HTML-like markup
    (``<a href>``, ``<b>``…) and whose entities it decodes back to the characters typed."""
    return html.escape(str(text), quote=False)


def script_json(value: Any) -> str:
    """``value`` as JSON safe inside an inline ``<script>``: ``<``, ``>`` and ``&`` are written
    as ``\\u`` escapes, so no string can close the script or open a comment, and a JSON reader
    (vis-network's labels) still gets the characters typed."""
    return (json.dumps(value, ensure_ascii=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
