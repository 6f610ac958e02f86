import csv
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import shared, wait_until
from vlkge.data.readers import load_graph
from vlkge.errors import VLKGEError
from vlkge.curation import audit
from vlkge.curation.audit import AuditStore, default_audit_path

REPO = Path(__file__).resolve().parents[1]


def make_graph(folder: Path, extra_entities: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ents = ["a", "b", "c", "d", *extra_entities]
    (folder / "entities.csv").write_text(
        "id,type,label,description,image\n" + "".join(f"{e},artwork,{e.upper()},,\n" for e in ents))
    (folder / "triples.csv").write_text(
        "head,relation,tail,mode\na,style,b,train\nb,style,c,val\nc,genre,d,test\n")
    return folder


@pytest.fixture
def store(tmp_path):
    with AuditStore(tmp_path / "audit.sqlite") as s:
        yield s


def test_record_validates(store):
    for bad in ("maybe", "", None, 3):
        with pytest.raises(ValueError):
            store.record("a", "r", "b", bad, "ann")
    with pytest.raises(VLKGEError):
        store.record("a", "r", "b", "yes", "ann")
    with pytest.raises(ValueError):
        store.record("a", "r", "b", "wrong", "")
    with pytest.raises(ValueError):
        store.record("", "r", "b", "wrong", "ann")
    with pytest.raises(ValueError):
        store.record("a", "r", "b", "wrong", "ann", score=float("nan"))
    assert store.decisions() == []
    store.record("a", "r", "b", " Plausible ", "ann", score=0.9, run_id="run1", comment="ok")
    (d,) = store.decisions()
    assert (d.verdict, d.score, d.run_id, d.comment) == ("plausible", 0.9, "run1", "ok")
    assert d.timestamp.endswith("+00:00")


def test_history_current_and_summary(store):
    store.record("a", "r", "b", "wrong", "ann")
    store.record("a", "r", "b", "plausible", "ann", comment="changed my mind")
    store.record("a", "r", "b", "unsure", "bob")
    store.record("c", "q", "d", "wrong", "bob")
    assert [d.verdict for d in store.decisions(head="a")] == ["wrong", "plausible", "unsure"]
    cur = {(d.head, d.curator): d.verdict for d in store.current()}
    assert cur == {("a", "ann"): "plausible", ("a", "bob"): "unsure", ("c", "bob"): "wrong"}
    assert [d.verdict for d in store.current(curator="ann")] == ["plausible"]
    s = store.summary()
    assert s["history"] == 4 and s["links"] == 2 and s["accepted"] == 1
    assert s["per_verdict"] == {"plausible": 1, "wrong": 1, "unsure": 1}
    assert s["per_relation"]["r"] == {"plausible": 1, "wrong": 0, "unsure": 1}
    assert s["per_curator"]["bob"] == {"plausible": 0, "wrong": 1, "unsure": 1}


def test_history_is_append_only(store):
    store.record("a", "r", "b", "wrong", "ann")
    for sql in ("UPDATE decisions SET verdict = 'plausible'", "DELETE FROM decisions"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store._conn.execute(sql)
    assert len(store.decisions()) == 1


def test_acceptance_rule(store):
    # latest per curator counts; plausible must strictly outnumber wrong; unsure abstains
    store.record("a", "r", "b", "plausible", "ann")                      # 1-0: accepted
    store.record("a", "r", "c", "plausible", "ann")
    store.record("a", "r", "c", "wrong", "bob")                          # 1-1 tie: not accepted
    store.record("a", "r", "d", "plausible", "ann")
    store.record("a", "r", "d", "wrong", "ann")                          # changed mind: 0-1
    store.record("b", "r", "c", "plausible", "ann")
    store.record("b", "r", "c", "unsure", "bob")                         # 1-0 + abstain
    store.record("b", "r", "d", "unsure", "ann")                         # 0-0: not accepted
    store.record("c", "r", "d", "wrong", "ann")
    store.record("c", "r", "d", "plausible", "bob")
    store.record("c", "r", "d", "plausible", "cy")                       # 2-1: accepted
    assert store.accepted() == [("a", "r", "b"), ("b", "r", "c"), ("c", "r", "d")]


def test_pending(store):
    store.record("a", "r", "b", "unsure", "ann")
    store.record("a", "r", "c", "wrong", "bob")

    class P:
        def __init__(self, h, r, t):
            self.head, self.relation, self.tail = h, r, t

    preds = [("a", "r", "b", 0.9), {"head": "a", "relation": "r", "tail": "d"},
             P("a", "r", "c"), P("b", "r", "a"), ("a", "q", "b")]
    assert store.pending(preds) == [preds[1], preds[3], preds[4]]


def test_survives_restart(tmp_path):
    path = tmp_path / "sub" / "audit.sqlite"
    with AuditStore(path) as s:
        s.record("a", "r", "b", "plausible", "ann")
        s.record("a", "r", "b", "wrong", "ann")
        before = s.decisions()
    with AuditStore(path) as s:
        assert s.decisions() == before
        assert [d.verdict for d in s.current()] == ["wrong"]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == audit.SCHEMA_VERSION
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.execute(f"PRAGMA user_version = {audit.SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(VLKGEError, match="newer"):
        AuditStore(path)


def test_export_accepted(store, tmp_path):
    store.record("a", "style", "d", "plausible", "ann", comment='has "quotes", commas')
    store.record("x,1", "style", "b", "plausible", "ann")
    store.record("c", "style", "a", "wrong", "ann")
    out = tmp_path / "out" / "accepted.csv"
    assert store.export_accepted(out) == 2
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["head", "relation", "tail", "mode"], ["a", "style", "d", "train"],
                    ["x,1", "style", "b", "train"]]
    assert not [p for p in out.parent.iterdir() if p.name != "accepted.csv"]  # no temp left
    g = load_graph(out)
    assert g.split("train").shape[0] == 2


def test_merge_into_graph(store, tmp_path):
    folder = make_graph(tmp_path / "g")
    original = (folder / "triples.csv").read_bytes()
    store.record("a", "style", "b", "plausible", "ann")   # already present: not added again
    store.record("a", "style", "d", "plausible", "ann")   # new
    store.record("d", "newrel", "a", "plausible", "bob")  # new relation
    store.record("a", "style", "zz", "plausible", "ann")  # unknown entity: skipped
    store.record("b", "style", "d", "wrong", "ann")       # rejected
    skipped: list[str] = []
    assert store.merge_into_graph(folder, skipped) == 2
    assert len(skipped) == 1 and "'zz'" in skipped[0] and "entities.csv" in skipped[0]
    (bak,) = folder.glob("triples.csv.bak-*")
    assert bak.read_bytes() == original
    assert (folder / "triples.csv").read_bytes().startswith(original)
    g = load_graph(folder)
    known = {tuple(g.entities[h] if i != 1 else g.relations[h] for i, h in enumerate(t))
             for t in g.split("train").tolist()}
    assert {("a", "style", "d"), ("d", "newrel", "a"), ("a", "style", "b")} <= known
    assert g.split("val").shape[0] == 1 and g.split("test").shape[0] == 1
    assert store.merge_into_graph(folder) == 0  # idempotent
    assert len(list(folder.glob("triples.csv.bak-*"))) == 1


def test_merge_keeps_header_order_and_missing_newline(store, tmp_path):
    folder = make_graph(tmp_path / "g")
    (folder / "triples.csv").write_bytes(b"mode,tail,relation,head\r\ntrain,b,style,a")
    store.record("c", "style", "d", "plausible", "ann")
    assert store.merge_into_graph(folder) == 1
    assert (folder / "triples.csv").read_bytes() == (
        b"mode,tail,relation,head\r\ntrain,b,style,a\r\ntrain,d,style,c\r\n")
    assert load_graph(folder).split("train").shape[0] == 2


def test_merge_refuses_read_only_graph(store, tmp_path):
    folder = make_graph(tmp_path / "g")
    store.record("a", "style", "d", "plausible", "ann")
    before = (folder / "triples.csv").read_bytes()
    folder.chmod(0o555)
    try:
        with pytest.raises(VLKGEError, match="read-only"):
            store.merge_into_graph(folder)
    finally:
        folder.chmod(0o755)
    assert (folder / "triples.csv").read_bytes() == before


# ------------------------------------------------------------ default path


def test_default_path_is_in_the_workspace_even_for_a_writable_graph(tmp_path, workspace):
    p = default_audit_path(tmp_path)
    assert p.parent == workspace / "audit" and p.suffix == ".sqlite"
    assert [p.name for p in tmp_path.iterdir()] == []


def test_default_path_read_only_graph(tmp_path, workspace):
    # chmod works as a simulation even as root: the permission bits are honoured on purpose
    ro = make_graph(tmp_path / "ro")
    ro.chmod(0o555)
    try:
        p = default_audit_path(ro)
        assert p.parent == workspace / "audit" and p.suffix == ".sqlite" and p.name.startswith("ro-")
        assert default_audit_path(ro) == p  # stable across calls
        with AuditStore(p) as s:
            s.record("a", "r", "b", "plausible", "ann")
        assert sorted(x.name for x in ro.iterdir()) == ["entities.csv", "triples.csv"]
    finally:
        ro.chmod(0o755)
    other = tmp_path / "x" / "ro"  # same folder name, different graph: different database
    other.mkdir(parents=True)
    assert default_audit_path(other) != p


def test_a_database_in_the_old_cache_is_still_used(tmp_path, monkeypatch):
    from vlkge.paths import folder_key
    monkeypatch.delenv("VLKGE_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    old = tmp_path / "home" / ".cache" / "vlkge" / "audit" / f"{folder_key(tmp_path / 'g')}.sqlite"
    old.parent.mkdir(parents=True)
    with AuditStore(old) as s:
        s.record("a", "r", "b", "plausible", "ann")
    assert default_audit_path(tmp_path / "g") == old


def test_default_path_without_workspace_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("VLKGE_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_audit_path(tmp_path / "g").parent == tmp_path / "xdg" / "vlkge" / "audit"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_audit_path(tmp_path / "g").parent == tmp_path / "home" / ".local" / "share" / "vlkge" / "audit"


def test_default_path_for_shared_read_only_data(workspace):
    assert default_audit_path(shared("wikiart-mini")).parent == workspace / "audit"


# ------------------------------------------------------------ concurrency

WORKER = """
import sys, time
from pathlib import Path
from vlkge.curation.audit import AuditStore, VERDICTS
db, cur, sync, writers = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[5])


def wait_until(cond, what):  # helpers.wait_until without importing pytest and PIL in eight processes
    deadline = time.monotonic() + 60
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def everyone_at(stage):
    (sync / f"{stage}-{cur}").touch()
    wait_until(lambda: len(list(sync.glob(f"{stage}-*"))) == writers, f"all writers at {stage}")


s = AuditStore(db)
(sync / f"ready-{cur}").touch()
wait_until(lambda: (sync / "go").exists(), "the go signal")
for i in range(200):
    if i == 100:  # every writer halfway before any goes on: their writes interleave however fast the machine
        everyone_at("half")
    s.record(f"h{i % 40}", "rel", f"t{i % 7}", VERDICTS[(i + len(cur)) % 3], cur, comment=str(i))
s.close()
"""


def test_concurrent_processes(tmp_path):
    db, out, sync = tmp_path / "audit.sqlite", tmp_path / "exp" / "accepted.csv", tmp_path / "sync"
    sync.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(db), f"cur{'x' * k}", str(sync),
                               str(REPO / "vlkge"), "8"], env=env)
             for k in range(8)]
    try:
        wait_until(lambda: len(list(sync.glob("ready-*"))) == 8 or any(p.poll() is not None for p in procs),
                   60, "the writers to open the store")
        assert all(p.poll() is None for p in procs)
        deadline = time.monotonic() + 120  # a hang guard
        s = AuditStore(db)  # opened before the writers start, so exporting overlaps their writes
        (sync / "go").touch()
        reads, errors, stop = [0], [], threading.Event()

        def reader():  # another client reading the export must never see a partial file
            while not stop.is_set():
                if out.exists():
                    text = out.read_text()
                    rows = list(csv.reader(text.splitlines()))
                    if rows[:1] != [["head", "relation", "tail", "mode"]] or not text.endswith("\n") \
                            or any(len(r) != 4 or r[3] != "train" for r in rows[1:]):
                        errors.append(text)
                    reads[0] += 1

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        with s:
            exports, writing = 0, True
            # Export at least until the writers finish and the reader has seen a file: on a fast
            # machine all eight writers can be done before the first export would otherwise run.
            while writing or exports < 3 or reads[0] == 0:
                writing = any(p.poll() is None for p in procs)
                n = s.export_accepted(out)
                with open(out, newline="") as f:
                    assert len(list(csv.reader(f))) == n + 1
                exports += 1
                assert time.monotonic() < deadline
        stop.set()
        t.join()
        assert [p.wait() for p in procs] == [0] * 8
        assert not errors and exports > 0 and reads[0] > 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    with AuditStore(db) as s:
        hist = s.decisions()
        assert len(hist) == 1600
        keys = {(d.curator, d.comment) for d in hist}
        assert keys == {(f"cur{'x' * k}", str(i)) for k in range(8) for i in range(200)}
        switches = sum(a.curator != b.curator for a, b in zip(hist, hist[1:]))
        assert switches > 7, "writers ran one after another, not concurrently"
        n = s.export_accepted(out)
        with open(out, newline="") as f:
            assert [tuple(r[:3]) for r in list(csv.reader(f))[1:]] == s.accepted()
        assert n == len(s.accepted()) > 0


def test_undo_is_an_event_that_puts_the_link_back_in_the_queue(store):
    store.record("a", "r", "b", "unsure", "ann")
    first = store.record("a", "r", "b", "wrong", "ann")
    store.record("a", "r", "c", "plausible", "ann")
    store.record("a", "r", "d", "plausible", "bob")
    undone = store.undo("ann", 2)  # the two latest of ann's, newest first
    assert [(d.tail, d.verdict) for d in undone] == [("c", "plausible"), ("b", "wrong")]
    assert store.pending([("a", "r", "c")]) == [("a", "r", "c")]  # pending again
    assert store.pending([("a", "r", "b")]) == []  # ann's earlier "unsure" on it still stands
    assert {(d.tail, d.curator): d.verdict for d in store.current()} == {("b", "ann"): "unsure", ("d", "bob"): "plausible"}
    assert store.accepted() == [("a", "r", "d")]
    # history keeps both the verdicts and their undos
    assert [d.verdict for d in store.decisions(curator="ann")] == ["unsure", "wrong", "plausible"]
    assert [u[0] for u in store.undone()] == [first + 1, first]
    # the database refuses what breaks the rule: undoing twice, another's decision, rewriting undos
    for sql, args in (("INSERT INTO undos (decision_id, curator, timestamp) VALUES (?, 'ann', 'x')", (first,)),
                      ("INSERT INTO undos (decision_id, curator, timestamp) VALUES (?, 'ann', 'x')", (first + 2,)),
                      ("INSERT INTO undos (decision_id, curator, timestamp) VALUES (999, 'ann', 'x')", ()),
                      ("DELETE FROM undos", ())):
        with pytest.raises(sqlite3.DatabaseError):
            store._conn.execute(sql, args)
    assert store.undo("cy") == []


def test_a_version_1_database_is_migrated_with_its_history(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for stmt in audit._MIGRATIONS[0]:
        conn.execute(stmt)
    conn.execute("INSERT INTO decisions (head, relation, tail, verdict, curator, timestamp)"
                 " VALUES ('a', 'r', 'b', 'wrong', 'ann', 't')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with AuditStore(path) as s:
        assert s.rejected() == [("a", "r", "b")]
        s.undo("ann")
        assert s.rejected() == [] and len(s.decisions()) == 1


def test_bulk_verdicts_rejected_links_and_proposed_entities(store):
    ids = store.record_many([("a", "r", "b"), {"head": "a", "relation": "r", "tail": "c", "score": 2.0}],
                            "plausible", "ann", run_id="run1")
    assert len(ids) == 2 and store.accepted() == [("a", "r", "b"), ("a", "r", "c")]
    assert store.decisions(tail="c")[0].score == 2.0
    with pytest.raises(ValueError):  # all or nothing
        store.record_many([("a", "r", "d"), ("a", "r", "")], "wrong", "ann")
    assert store.decisions(tail="d") == []
    store.record("a", "r", "d", "wrong", "ann")
    store.record("a", "r", "d", "wrong", "bob")
    store.record("a", "r", "d", "plausible", "cy")
    assert store.rejected() == [("a", "r", "d")]
    eid = store.propose("Water lilies", "/uploads/lilies.png", "ann")
    assert eid.startswith("proposed:") and store.propose("Water lilies", "/uploads/lilies.png", "bob") == eid
    assert store.proposed() == {eid: {"title": "Water lilies", "image": "/uploads/lilies.png", "type": "artwork"}}
    links = [{"head": eid, "relation": "hasStyle", "tail": "b", "confidence": 0.7, "score": 1.5}]
    assert store.suggest(links, "ann") == 1 and store.suggest(links, "ann") == 0
    assert [s["tail"] for s in store.pending(store.suggestions())] == ["b"]
    with pytest.raises(ValueError):
        store.propose("", None, "ann")
