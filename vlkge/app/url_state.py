"""A page's view kept in its URL: typed query parameters with defaults, so a link opened in a
fresh browser shows the same relation, direction, filters and selection.

A :class:`Param` says how one setting reads from and writes to the query string; its type is
its default's (bool, int, float, str) or, with ``many``, a list of strings. What cannot be read
(a typo, a value no longer offered, a number out of range) is the default: a stale link opens
the page, never an error. A value equal to the default is left out of the URL, so links stay
short. Nothing here imports Streamlit: ``params`` is ``st.query_params`` (or any mapping) and
``state`` is ``st.session_state``.

Seed a widget's state before drawing it (``seed``), without passing the widget a value of its
own, then ``publish`` what it holds::

    p = Param("rel", relations[0], choices=relations)
    seed(st.session_state, st.query_params, "pred_rel", p)
    rel = st.selectbox("Relation", relations, key="pred_rel")
    publish(st.query_params, p, rel)
"""
from __future__ import annotations

import math
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# A selection travels in the URL only up to this many ids: beyond it a link would exceed what
# browsers and servers accept (~8 kB), so a larger selection is exported, not linked.
MAX_ITEMS = 200


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    choices: Sequence[Any] | None = None  # the values offered; any other reads as the default
    low: float | None = None
    high: float | None = None
    many: bool = False  # a list of strings, one query parameter per item
    limit: int = MAX_ITEMS

    def parse(self, raw: str | Sequence[str] | None) -> Any:
        """The value ``raw`` (a query string value, or the list of them) stands for."""
        if self.many:
            items = [raw] if isinstance(raw, str) else list(raw or [])
            items = [s for s in dict.fromkeys(items) if s != ""]
            if self.choices is not None:
                items = [s for s in items if s in self.choices]
            return items[: self.limit] if items or raw else list(self.default)
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else None
        if raw is None:
            return self.default
        value = self._scalar(str(raw))
        if value is None or (self.choices is not None and value not in self.choices):
            return self.default
        return value

    def _scalar(self, raw: str) -> Any:
        kind = type(self.default)
        if kind is bool:
            low = raw.strip().lower()
            return True if low in TRUE else False if low in FALSE else None
        if kind in (int, float):
            try:
                value = kind(raw)
            except ValueError:
                return None
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                return None
            return value
        return raw

    def encode(self, value: Any) -> str | list[str] | None:
        """``value`` for the query string, or None when it is the default (left out)."""
        if self.many:
            items = [str(v) for v in value][: self.limit]
            return None if items == [str(v) for v in self.default] else items
        if value is None or value == self.default:
            return None
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)


def read(params: Any, p: Param) -> Any:
    """``p``'s value in ``params`` (``st.query_params`` or a plain mapping)."""
    if p.many and hasattr(params, "get_all"):
        return p.parse(params.get_all(p.name) if p.name in params else None)
    return p.parse(params.get(p.name))


def seed(state: MutableMapping, params: Any, key: str, p: Param) -> Any:
    """Give widget ``key`` the URL's value the first time it is drawn in this session (later
    runs keep what the curator chose); returns the widget's value."""
    current = state.get(key)
    if key not in state or (p.choices is not None and not p.many and current not in p.choices):
        state[key] = read(params, p)
    return state[key]


def publish(params: MutableMapping, p: Param, value: Any) -> None:
    """Write ``value`` into the URL (remove the parameter when it is the default)."""
    encoded = p.encode(value)
    if encoded is None:
        if p.name in params:
            del params[p.name]
    elif params.get(p.name) != encoded or p.many:
        params[p.name] = encoded
