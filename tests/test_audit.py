import csv
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

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


@pytest.mark.skipif(not Path("/work/shared/data/wikiart-mini").is_dir(), reason="no shared data")
def test_default_path_for_shared_read_only_data(workspace):
    assert default_audit_path(Path("/work/shared/data/wikiart-mini")).parent == workspace / "audit"


# ------------------------------------------------------------ concurrency

WORKER = """
import sys, time
from pathlib import Path
from vlkge.curation.audit import AuditStore, VERDICTS
db, cur, ready, go = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
s = AuditStore(Path(db))
ready.touch()
while not go.exists():
    time.sleep(0.005)
for i in range(200):
    s.record(f"h{i % 40}", "rel", f"t{i % 7}", VERDICTS[(i + len(cur)) % 3], cur, comment=str(i))
    if i % 20 == 19:
        time.sleep(0.002)  # a curator pauses: on an idle machine a writer could otherwise finish in one time slice
s.close()
"""


def test_concurrent_processes(tmp_path):
    db, out, go = tmp_path / "audit.sqlite", tmp_path / "exp" / "accepted.csv", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(db), f"cur{'x' * k}",
                               str(tmp_path / f"ready{k}"), str(go)], env=env)
             for k in range(8)]
    try:
        deadline = time.time() + 60
        while sum((tmp_path / f"ready{k}").exists() for k in range(8)) < 8:
            assert time.time() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.02)
        s = AuditStore(db)  # opened before the writers start, so exporting overlaps their writes
        go.touch()
        t0 = time.time()
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

        t = threading.Thread(target=reader)
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
                assert time.time() < deadline + 60
        stop.set()
        t.join()
        assert [p.wait() for p in procs] == [0] * 8
        assert not errors and exports > 0 and reads[0] > 0
        print(f"writes {time.time() - t0:.2f}s, exports {exports}, reads {reads[0]}")
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
