"""Curators' verdicts on predicted links, kept in SQLite beside the graph.

History is append-only (triggers refuse UPDATE/DELETE) so a curator changing their mind never
erases what they said before; "current" is each curator's latest decision per link.

Acceptance rule (``accepted``, ``export_accepted``, ``merge_into_graph``): every curator's
*latest* verdict on a link counts once; a link is accepted when its "plausible" votes strictly
outnumber its "wrong" votes. "unsure" abstains, and ties (e.g. one plausible vs one wrong) are
not accepted: a disputed link stays out of the graph until someone breaks the tie.
"""
from __future__ import annotations

import csv
import fcntl
import io
import logging
import math
import random
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from ..atomic import atomic_write_bytes
from ..errors import VLKGEError
from ..paths import AUDIT_FILENAME, audit_path, writable_dir  # noqa: F401 (AUDIT_FILENAME re-exported)
from ..spreadsheet import spreadsheet_csv

VERDICTS = ("plausible", "wrong", "unsure")
SCHEMA_VERSION = 1
_BUSY_MS = 10_000
_RETRIES = 40
log = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  head TEXT NOT NULL, relation TEXT NOT NULL, tail TEXT NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN ('plausible', 'wrong', 'unsure')),
  comment TEXT, curator TEXT NOT NULL, timestamp TEXT NOT NULL, run_id TEXT, score REAL)""",
    "CREATE INDEX IF NOT EXISTS decisions_link ON decisions (head, relation, tail, curator, id)",
    # "Latest" is by id, not timestamp: clocks of different curators' machines may disagree.
    """CREATE VIEW IF NOT EXISTS current_decisions AS SELECT * FROM decisions WHERE id IN
  (SELECT MAX(id) FROM decisions GROUP BY head, relation, tail, curator)""",
    """CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
  BEGIN SELECT RAISE(ABORT, 'audit history is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
  BEGIN SELECT RAISE(ABORT, 'audit history is append-only'); END""",
)
_COLS = "id, head, relation, tail, verdict, comment, curator, timestamp, run_id, score"


class AuditInputError(VLKGEError, ValueError):
    """A bad decision (unknown verdict, empty id, ...); both a VLKGEError and a ValueError."""


@dataclass(frozen=True)
class Decision:
    id: int
    head: str
    relation: str
    tail: str
    verdict: str
    comment: str | None
    curator: str
    timestamp: str
    run_id: str | None
    score: float | None


def default_audit_path(graph_root: Path) -> Path:
    """The graph's audit database in the workspace (see :func:`vlkge.paths.audit_path`)."""
    return audit_path(graph_root)


def _key(p: Any) -> tuple[str, str, str]:
    if isinstance(p, Mapping):
        return str(p["head"]), str(p["relation"]), str(p["tail"])
    if all(hasattr(p, a) for a in ("head", "relation", "tail")):
        return str(p.head), str(p.relation), str(p.tail)
    h, r, t = list(p)[:3]
    return str(h), str(r), str(t)


class AuditStore:
    """The audit database at ``path`` (created, with its folder, if absent)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared across Streamlit's script threads, serialised by our own lock.
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, timeout=_BUSY_MS / 1000, isolation_level=None,
                                     check_same_thread=False)
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            self._retry(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))
            self._conn.execute("PRAGMA synchronous = FULL")  # a verdict survives power loss
            self._write(self._migrate)
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self, c: sqlite3.Connection) -> None:
        v = c.execute("PRAGMA user_version").fetchone()[0]
        if v > SCHEMA_VERSION:
            raise VLKGEError(f"{self.path}: audit schema v{v} is newer than this vlkge "
                             f"(v{SCHEMA_VERSION}); upgrade vlkge")
        if v < SCHEMA_VERSION:
            for stmt in _SCHEMA:
                c.execute(stmt)
            c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _retry(self, fn: Callable[[], T]) -> T:
        # busy_timeout covers most contention, but SQLite returns SQLITE_BUSY at once when
        # waiting could deadlock (and during WAL recovery), so back off and try again.
        delay = 0.005
        for attempt in range(_RETRIES):
            try:
                return fn()
            except sqlite3.OperationalError as e:
                msg = str(e)
                if ("locked" not in msg and "busy" not in msg) or attempt == _RETRIES - 1:
                    raise
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.25)
        raise AssertionError("unreachable")

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def attempt() -> T:
            with self._lock:
                # IMMEDIATE takes the write lock up front, so a transaction never fails half-way
                # on lock upgrade.
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    out = fn(self._conn)
                    self._conn.execute("COMMIT")
                    return out
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
        return self._retry(attempt)

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._retry(lambda: self._conn.execute(sql, args).fetchall())

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ decisions

    def record(self, head: str, relation: str, tail: str, verdict: str, curator: str, *,
               comment: str | None = None, run_id: str | None = None,
               score: float | None = None, timestamp: str | None = None) -> int:
        """Append one decision; returns its history id."""
        for name, val in (("head", head), ("relation", relation), ("tail", tail),
                          ("curator", curator)):
            if not isinstance(val, str) or not val.strip():
                raise AuditInputError(f"{name} must be a non-empty string, got {val!r}")
        v = verdict.strip().lower() if isinstance(verdict, str) else verdict
        if v not in VERDICTS:
            raise AuditInputError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        if score is not None:
            try:
                score = float(score)
            except (TypeError, ValueError):
                raise AuditInputError(f"score must be a number, got {score!r}") from None
            if not math.isfinite(score):
                raise AuditInputError(f"score must be finite, got {score!r}")
        ts = timestamp or datetime.now(timezone.utc).isoformat(timespec="microseconds")
        row = (head.strip(), relation.strip(), tail.strip(), v, comment or None,
               curator.strip(), ts, run_id, score)
        return self._write(lambda c: c.execute(
            "INSERT INTO decisions (head, relation, tail, verdict, comment, curator, timestamp,"
            " run_id, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row).lastrowid)

    def _select(self, table: str, filters: dict[str, str | None]) -> list[Decision]:
        where = [(f"{k} = ?", v) for k, v in filters.items() if v is not None]
        sql = f"SELECT {_COLS} FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(w for w, _ in where)
        rows = self._query(sql + " ORDER BY id", tuple(v for _, v in where))
        return [Decision(*r) for r in rows]

    def decisions(self, head: str | None = None, relation: str | None = None,
                  tail: str | None = None, curator: str | None = None) -> list[Decision]:
        """Full history, oldest first, optionally filtered."""
        return self._select("decisions", dict(head=head, relation=relation, tail=tail,
                                              curator=curator))

    def current(self, head: str | None = None, relation: str | None = None,
                tail: str | None = None, curator: str | None = None) -> list[Decision]:
        """Each curator's latest decision per link, optionally filtered."""
        return self._select("current_decisions", dict(head=head, relation=relation, tail=tail,
                                                      curator=curator))

    def summary(self) -> dict[str, Any]:
        """Counts over current decisions: per verdict, per relation and per curator (each a
        {verdict: n} dict), plus history size, decided links and accepted links."""
        out: dict[str, Any] = {"history": self._query("SELECT COUNT(*) FROM decisions")[0][0],
                               "per_verdict": dict.fromkeys(VERDICTS, 0),
                               "per_relation": {}, "per_curator": {}}
        for d in self.current():
            out["per_verdict"][d.verdict] += 1
            for key, val in (("per_relation", d.relation), ("per_curator", d.curator)):
                out[key].setdefault(val, dict.fromkeys(VERDICTS, 0))[d.verdict] += 1
        out["links"] = self._query("SELECT COUNT(*) FROM (SELECT DISTINCT head, relation, tail"
                                   " FROM decisions)")[0][0]
        out["accepted"] = len(self.accepted())
        return out

    def pending(self, predictions: Iterable[T]) -> list[T]:
        """The predictions no curator has decided on yet (any verdict, "unsure" included, takes a
        link out of the queue). Accepts (head, relation, tail, ...) sequences, mappings or
        objects with head/relation/tail attributes; order is kept."""
        done = set(self._query("SELECT DISTINCT head, relation, tail FROM decisions"))
        return [p for p in predictions if _key(p) not in done]

    def accepted(self) -> list[tuple[str, str, str]]:
        """Links accepted under the module's rule, sorted."""
        return self._query(
            "SELECT head, relation, tail FROM current_decisions GROUP BY head, relation, tail"
            " HAVING SUM(verdict = 'plausible') > SUM(verdict = 'wrong')"
            " ORDER BY head, relation, tail")

    # ------------------------------------------------------------ export

    def accepted_csv(self) -> bytes:
        """Accepted links as a ``head,relation,tail,mode`` CSV (mode=train) for a spreadsheet:
        an id that starts like a formula is written with a leading ``'`` (vlkge.spreadsheet)."""
        return _links_csv(self.accepted())

    def export_accepted(self, out: Path) -> int:
        """Write :meth:`accepted_csv` to ``out`` atomically; returns how many links."""
        links = self.accepted()
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, _links_csv(links))
        return len(links)

    def merge_into_graph(self, graph_folder: Path, skipped: list[str] | None = None) -> int:
        """Append accepted links missing from the graph's ``triples.csv`` as train triples;
        returns how many were added. Links naming entities absent from ``entities.csv`` are left
        out, each with a reason appended to ``skipped`` (and logged). The original file is kept
        as ``triples.csv.bak-<UTC time>``."""
        # Imported here so recording decisions never pulls in torch (via the graph readers).
        from ..data.tables import find_file, read_rows

        folder = Path(graph_folder)
        tpath = folder / "triples.csv"
        if not tpath.is_file():
            gz = " (gzipped graphs cannot be merged into)" if find_file(folder, "triples.csv") else ""
            raise VLKGEError(f"{tpath}: no such file{gz}")
        if not writable_dir(folder):
            raise VLKGEError(f"{folder}: graph folder is read-only; use export_accepted instead")
        skipped = [] if skipped is None else skipped
        # Serialise merges: two concurrent read-modify-writes would drop each other's rows.
        with open(folder / ".triples.csv.lock", "w") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            epath = find_file(folder, "entities.csv")
            known = {row["id"] for _, row in read_rows(epath, ("id",))} if epath else None
            with open(tpath, encoding="utf-8-sig", newline="") as f:
                header = [c.strip().lower() for c in next(csv.reader([f.readline()]))]
            present = {(r["head"], r["relation"], r["tail"])
                       for _, r in read_rows(tpath, ("head", "relation", "tail"))}
            new = []
            for h, r, t in self.accepted():
                missing = [e for e in (h, t) if known is not None and e not in known]
                if missing:
                    reason = (f"{h} {r} {t}: skipped, entity {', '.join(map(repr, missing))}"
                              f" not in {epath.name}")
                    skipped.append(reason)
                    log.warning(reason)
                elif (h, r, t) not in present:
                    new.append({"head": h, "relation": r, "tail": t, "mode": "train"})
            if not new:
                return 0
            raw = tpath.read_bytes()  # kept byte for byte: we only ever append
            eol = "\r\n" if b"\r\n" in raw.split(b"\n", 1)[0] + b"\n" else "\n"
            buf = io.StringIO()
            if raw and not raw.endswith(b"\n"):
                buf.write(eol)
            csv.writer(buf, lineterminator=eol).writerows(
                [row.get(c, "") for c in header] for row in new)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            shutil.copy2(tpath, folder / f"triples.csv.bak-{stamp}")
            atomic_write_bytes(tpath, raw + buf.getvalue().encode("utf-8"))
            return len(new)


def _links_csv(links: Iterable[tuple[str, str, str]]) -> bytes:
    return spreadsheet_csv(("head", "relation", "tail", "mode"), ((h, r, t, "train") for h, r, t in links))
