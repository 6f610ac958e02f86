"""Curators' verdicts on predicted links, kept in SQLite beside the graph.

History is append-only (triggers refuse UPDATE/DELETE) so a curator changing their mind never
erases what they said before; "current" is each curator's latest decision per link.

Acceptance rule (``accepted``, ``export_accepted``, ``merge_into_graph``): every curator's
*latest* verdict on a link counts once; a link is accepted when its "plausible" votes strictly
outnumber its "wrong" votes. "unsure" abstains, and ties (e.g. one plausible vs one wrong) are
not accepted: a disputed link stays out of the graph until someone breaks the tie. A link is
rejected (``rejected``, the negatives the next training run learns from) by the mirror rule:
its "wrong" votes strictly outnumber its "plausible" ones.

Undo rule (``undo``): an undo is an event of its own that withdraws one decision, made by the
curator who made it, at most once (the database refuses anything else). A withdrawn decision
stays in the history but no longer counts: the curator's current verdict on the link is their
latest decision still standing, and a link none of whose decisions stands is pending again.

Proposed entities (``propose``): a new artwork placed on New artwork is not in the graph; it is
recorded here under a ``proposed:`` id with its title and image path, and its predicted links
are suggestions (``suggest``) that wait in the queue like the model's. Links naming a proposed
entity are judged like any other but cannot become training triples until the artwork is added
to the catalogue (``merge_into_graph`` and the training run skip them, saying why).
"""
from __future__ import annotations

import csv
import fcntl
import hashlib
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
SCHEMA_VERSION = 2
_BUSY_MS = 10_000
_RETRIES = 40
PROPOSED_PREFIX = "proposed:"
log = logging.getLogger(__name__)
T = TypeVar("T")

_STANDING = "decisions WHERE id NOT IN (SELECT decision_id FROM undos)"
# Statements that bring a database from version i to i + 1.
_MIGRATIONS: list[tuple[str, ...]] = [(
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
), (
    """CREATE TABLE undos (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  decision_id INTEGER NOT NULL UNIQUE REFERENCES decisions (id),
  curator TEXT NOT NULL, timestamp TEXT NOT NULL)""",
    """CREATE TRIGGER undos_own_decision BEFORE INSERT ON undos
  WHEN (SELECT curator FROM decisions WHERE id = NEW.decision_id) IS NOT NEW.curator
  BEGIN SELECT RAISE(ABORT, 'a curator undoes only their own decisions'); END""",
    "DROP VIEW current_decisions",
    f"""CREATE VIEW current_decisions AS SELECT * FROM decisions WHERE id IN
  (SELECT MAX(id) FROM {_STANDING} GROUP BY head, relation, tail, curator)""",
    """CREATE TABLE proposed_entities (
  id TEXT PRIMARY KEY CHECK (id LIKE 'proposed:%'), title TEXT, image TEXT, type TEXT NOT NULL,
  curator TEXT NOT NULL, timestamp TEXT NOT NULL)""",
    """CREATE TABLE suggestions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  head TEXT NOT NULL, relation TEXT NOT NULL, tail TEXT NOT NULL, confidence REAL, score REAL,
  run_id TEXT, curator TEXT NOT NULL, timestamp TEXT NOT NULL, UNIQUE (head, relation, tail))""",
    *(f"""CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
  BEGIN SELECT RAISE(ABORT, 'audit history is append-only'); END"""
      for table in ("undos", "proposed_entities", "suggestions") for op in ("UPDATE", "DELETE")),
)]
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
            self._conn.execute("PRAGMA foreign_keys = ON")  # an undo names a decision that exists
            self._write(self._migrate)
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self, c: sqlite3.Connection) -> None:
        v = c.execute("PRAGMA user_version").fetchone()[0]
        if v > SCHEMA_VERSION:
            raise VLKGEError(f"{self.path}: audit schema v{v} is newer than this vlkge "
                             f"(v{SCHEMA_VERSION}); upgrade vlkge")
        for step in _MIGRATIONS[v:]:
            for stmt in step:
                c.execute(stmt)
        if v < SCHEMA_VERSION:
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
        row = self._row(head, relation, tail, verdict, curator, comment, run_id, score, timestamp)
        return self._write(lambda c: c.execute(_INSERT, row).lastrowid)

    @staticmethod
    def _row(head: str, relation: str, tail: str, verdict: str, curator: str, comment: str | None,
             run_id: str | None, score: float | None, timestamp: str | None) -> tuple:
        for name, val in (("head", head), ("relation", relation), ("tail", tail), ("curator", curator)):
            _required(name, val)
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
        return (head.strip(), relation.strip(), tail.strip(), v, comment or None,
                curator.strip(), timestamp or _now(), run_id, score)

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
        """The predictions no curator has decided on yet (any standing verdict, "unsure" included,
        takes a link out of the queue; an undone one puts it back). Accepts (head, relation, tail, ...) sequences, mappings or
        objects with head/relation/tail attributes; order is kept."""
        done = set(self._query(f"SELECT DISTINCT head, relation, tail FROM {_STANDING}"))
        return [p for p in predictions if _key(p) not in done]

    def accepted(self) -> list[tuple[str, str, str]]:
        """Links accepted under the module's rule, sorted."""
        return self._query(
            "SELECT head, relation, tail FROM current_decisions GROUP BY head, relation, tail"
            " HAVING SUM(verdict = 'plausible') > SUM(verdict = 'wrong')"
            " ORDER BY head, relation, tail")

    def rejected(self) -> list[tuple[str, str, str]]:
        """Links rejected under the module's rule (wrong strictly outnumbers plausible), sorted."""
        return self._query(
            "SELECT head, relation, tail FROM current_decisions GROUP BY head, relation, tail"
            " HAVING SUM(verdict = 'wrong') > SUM(verdict = 'plausible')"
            " ORDER BY head, relation, tail")

    def record_many(self, links: Iterable[Any], verdict: str, curator: str, *, run_id: str | None = None,
                    comment: str | None = None) -> list[int]:
        """One verdict on many links (e.g. "accept all above 80%"), all recorded or none.
        ``links`` as for :meth:`pending`; a ``score`` attribute or key is kept."""
        rows = []
        for p in links:
            h, r, t = _key(p)
            score = p.get("score") if isinstance(p, Mapping) else getattr(p, "score", None)
            rows.append(self._row(h, r, t, verdict, curator, comment, run_id, score, None))
        return self._write(lambda c: [c.execute(_INSERT, row).lastrowid for row in rows])

    # ------------------------------------------------------------ undo
    def undo(self, curator: str, n: int = 1) -> list[Decision]:
        """Withdraw ``curator``'s ``n`` latest standing decisions (newest first); returns them."""
        curator = _required("curator", curator)

        def go(c: sqlite3.Connection) -> list[Decision]:
            rows = c.execute(f"SELECT {_COLS} FROM {_STANDING} AND curator = ? ORDER BY id DESC LIMIT ?",
                             (curator, int(n))).fetchall()
            ts = _now()
            for r in rows:
                c.execute("INSERT INTO undos (decision_id, curator, timestamp) VALUES (?, ?, ?)", (r[0], curator, ts))
            return [Decision(*r) for r in rows]
        return self._write(go)

    def undone(self) -> list[tuple[int, str, str]]:
        """(decision id, curator, time) of every undo, oldest first."""
        return self._query("SELECT decision_id, curator, timestamp FROM undos ORDER BY id")

    # ------------------------------------------------------------ proposed entities
    def propose(self, title: str | None, image: str | None, curator: str, entity_type: str = "artwork") -> str:
        """Record a new artwork not yet in the graph; returns its ``proposed:`` id (the same
        title and image give the same id, recorded once)."""
        curator = _required("curator", curator)
        if not (title or "").strip() and not (image or "").strip():
            raise AuditInputError("a proposed entity needs a title or an image")
        digest = hashlib.sha256(f"{title or ''}\0{image or ''}".encode()).hexdigest()[:12]
        eid = f"{PROPOSED_PREFIX}{digest}"
        self._write(lambda c: c.execute(
            "INSERT OR IGNORE INTO proposed_entities (id, title, image, type, curator, timestamp)"
            " VALUES (?, ?, ?, ?, ?, ?)", (eid, (title or "").strip() or None, image or None, entity_type,
                                           curator, _now())))
        return eid

    def proposed(self) -> dict[str, dict[str, Any]]:
        """Proposed entities by id: title, image, type."""
        return {i: {"title": t, "image": im, "type": ty}
                for i, t, im, ty in self._query("SELECT id, title, image, type FROM proposed_entities ORDER BY timestamp")}

    def suggest(self, links: Iterable[Any], curator: str, run_id: str | None = None) -> int:
        """Put links (head, relation, tail with ``confidence``/``score``) in the review queue;
        a link suggested before is kept once. Returns how many were new."""
        curator = _required("curator", curator)
        rows = []
        for p in links:
            h, r, t = _key(p)
            get = p.get if isinstance(p, Mapping) else lambda k, p=p: getattr(p, k, None)
            rows.append((h, r, t, get("confidence"), get("score"), run_id, curator, _now()))

        def go(c: sqlite3.Connection) -> int:
            before = c.total_changes
            c.executemany("INSERT OR IGNORE INTO suggestions (head, relation, tail, confidence, score, run_id,"
                          " curator, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            return c.total_changes - before
        return self._write(go)

    def suggestions(self, relation: str | None = None) -> list[dict[str, Any]]:
        """Suggested links, oldest first (decided ones included: filter with :meth:`pending`)."""
        sql = "SELECT head, relation, tail, confidence, score, run_id FROM suggestions"
        rows = self._query(sql + (" WHERE relation = ?" if relation else "") + " ORDER BY id",
                           (relation,) if relation else ())
        return [dict(zip(("head", "relation", "tail", "confidence", "score", "run_id"), r)) for r in rows]

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


_INSERT = ("INSERT INTO decisions (head, relation, tail, verdict, comment, curator, timestamp, run_id, score)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _required(name: str, val: Any) -> str:
    if not isinstance(val, str) or not val.strip():
        raise AuditInputError(f"{name} must be a non-empty string, got {val!r}")
    return val.strip()


def _links_csv(links: Iterable[tuple[str, str, str]]) -> bytes:
    return spreadsheet_csv(("head", "relation", "tail", "mode"), ((h, r, t, "train") for h, r, t in links))
