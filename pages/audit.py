"""Audit: curators judge the most confident novel predictions; accepted links can be exported
or merged into the graph."""
import pandas as pd
import streamlit as st

from pages import _ui
from vlkge.errors import VLKGEError
from vlkge.app import (audit_queue, bulk_preview, decision_rows, escape_markdown as md, evidence, markdown_code,
                       merge_status, relations_for, review_queue, suggested)
from vlkge.app.predict import Candidate
from vlkge.app.url_state import Param, publish, seed
from vlkge.curation.audit import AuditStore, default_audit_path

c = _ui.run_page("Audit predicted links")
g, run = c.graph, c.run
qp, ss = st.query_params, st.session_state


@st.cache_resource(show_spinner=False)
def _store(path: str) -> AuditStore:
    return AuditStore(path)


store = _store(str(default_audit_path(g.root)))
a, b, cc = st.columns([3, 2, 1])
anchor_type = "artwork" if "artwork" in c.index.type_names else None
rels = relations_for(run, anchor_type) if anchor_type else list(run.relations)
rels = rels or list(run.relations)
p_rel, p_heads = Param("relation", rels[0], choices=rels), Param("sample", 30, low=10, high=200)
seed(ss, qp, "audit_rel", p_rel)
seed(ss, qp, "audit_heads", p_heads)
rel = a.selectbox("Relation", rels, key="audit_rel")
curator = b.text_input("Your name", key="audit_curator", placeholder="required to record a verdict")
heads = cc.number_input("Sample", 10, 200, step=10, key="audit_heads",
                        help="how many heads to sample; each contributes its top novel prediction")
publish(qp, p_rel, rel)
publish(qp, p_heads, int(heads))
who = curator.strip()


@st.cache_data(show_spinner="Ranking candidates…", max_entries=32)
def _queue(run_path: str, spec: str, mtime: float, rel: str, heads: int, _version: int):
    r = _ui.get_run(run_path, spec, mtime)
    return [q.as_dict() for q in audit_queue(r, rel, None, heads=heads)]


def _record(head: str, tail: str, verdict: str, key: str, score: float) -> None:
    store.record(head, rel, tail, verdict, ss["audit_curator"].strip(),
                 comment=ss.get(f"cm_{key}") or None, run_id=c.run_info.name, score=score)
    st.toast(f"Recorded: {verdict}")


def _undo() -> None:
    done = store.undo(ss["audit_curator"].strip(), 1)
    st.toast(f"Undone: {done[0].verdict} on {md(done[0].tail)}" if done else "Nothing to undo")


# sent-for-review links first, then the model's queue (cached without the store: decided links
# are dropped on every rerun)
cached = _queue(str(c.run_info.path), c.spec, c.run_info.mtime, rel, int(heads), 2)
queue = review_queue(suggested(run, rel, store), store.pending(Candidate(**q) for q in cached))
top = st.columns([3, 1], vertical_alignment="center")
top[0].caption(f"{len(queue)} undecided predictions (heads with no such link yet are sampled first). Most "
               "instructive first: links the model is least sure of (confidence near 50%) on well-connected heads, "
               "where a verdict teaches it most. "
               "Shortcuts on the first card: Alt+P plausible, Alt+W wrong, Alt+U unsure; Alt+Z undoes your last verdict.")
top[1].button("Undo my last verdict", icon=":material/undo:", key="audit_undo", on_click=_undo, disabled=not who,
              shortcut="Alt+Z", width="stretch")
size = 8
page = _ui.pager(len(queue), size, "audit_page")
adj = c.adjacency()
for n, q in enumerate(queue[(page - 1) * size: page * size]):
    t = g.entity_index[q.tail]
    h = g.entity_index.get(q.head)
    with st.container(border=True):
        cols = st.columns([1, 4, 1, 4])
        if h is not None:
            cols[0].image(_ui.thumb_for(c, h, 96), width=80)
        with cols[1]:
            if h is not None:
                _ui.entity_link(c, h, q.head_label)
                st.caption(md(g.types[h]))
            else:
                st.markdown(f"**{md(q.head_label)}** (new artwork, not in the graph yet)")
        cols[2].image(_ui.thumb_for(c, t, 96), width=80)
        with cols[3]:
            _ui.entity_link(c, t, q.tail_label)
            st.caption(md(g.types[t]))
        st.markdown(f"graph: {md(q.current or 'no link yet')} — suggested: **{md(q.tail_label)}** "
                    f"{_ui.pct(q.confidence, 'uncalibrated')} · {md(rel)}")
        if h is not None:
            ev = evidence(run, adj, h, rel, t, k=3, max_hops=2)
            similar = ", ".join(c.label(j) for j, _ in ev["similar"]) or "none"
            st.caption(f"Evidence: most similar entities with this link: {md(similar)}"
                       + (f" · path: {md(ev['path_texts'][0])}" if ev["path_texts"] else " · no path of ≤ 2 hops"))
        key = f"{q.head}|{rel}|{q.tail}"
        row = st.columns([3, 1.4, 1.4, 1.4], vertical_alignment="center")
        comment = row[0].text_input("Comment", key=f"cm_{key}", label_visibility="collapsed",
                                    placeholder="optional comment")
        for col, verdict, icon, sc in zip(row[1:], ("plausible", "wrong", "unsure"),
                                          (":material/check:", ":material/close:", ":material/help:"),
                                          ("Alt+P", "Alt+W", "Alt+U")):
            # Recorded in the click's callback, which runs even when another curator decided the
            # same link meanwhile and the rerun no longer draws this row (else the verdict is lost).
            col.button(verdict.capitalize(), icon=icon, key=f"v_{verdict}_{key}", disabled=not who,
                       width="stretch", on_click=_record, args=(q.head, q.tail, verdict, key, q.score),
                       shortcut=sc if n == 0 and page == 1 else None)
if queue and not who:
    st.caption("Enter your name above to record verdicts.")
_ui.demo_notice(c)

st.subheader("Accept in bulk")
p_thr = Param("above", 80, low=1, high=100)
seed(ss, qp, "audit_threshold", p_thr)
thr = st.slider("Accept every listed link of this relation with confidence at least (%)", 1, 100,
                key="audit_threshold")
publish(qp, p_thr, int(thr))
pick = bulk_preview(queue, thr / 100)
st.caption(f"{len(pick)} of the {len(queue)} listed links would be accepted as plausible:")
if pick:
    st.dataframe(pd.DataFrame([{"head": p.head_label, "suggested": p.tail_label, "confidence": _ui.pct(p.confidence),
                                "graph now": p.current} for p in pick]), hide_index=True, width="stretch")


def _accept_all() -> None:
    n = len(store.record_many(pick, "plausible", ss["audit_curator"].strip(), run_id=c.run_info.name,
                              comment=f"bulk: confidence ≥ {thr}%"))
    st.toast(f"Accepted {n} links")


st.button(f"Accept these {len(pick)} links", key="audit_bulk", on_click=_accept_all, disabled=not (pick and who))

st.divider()
st.subheader("Summary")
summ = store.summary()
m = st.columns(5)
for col, k in zip(m, ("plausible", "wrong", "unsure")):
    col.metric(k, summ["per_verdict"][k])
m[3].metric("links decided", summ["links"])
m[4].metric("accepted", summ["accepted"])
if summ["per_relation"]:
    st.dataframe(pd.DataFrame(summ["per_relation"]).T, width="stretch")
recent = store.current()[-20:][::-1]
if recent:
    with st.expander("Latest decisions"):
        st.dataframe(pd.DataFrame(decision_rows(g, store, recent)), hide_index=True, width="stretch")
st.caption(f"Audit database: {markdown_code(default_audit_path(g.root))}")

acc = store.accepted()
e1, e2 = st.columns(2)
e1.download_button(f"Export {len(acc)} accepted links (CSV)", store.accepted_csv(), "accepted_triples.csv",
                   "text/csv", disabled=not acc)
folder = g.root
ok, why = merge_status(g)
if ok:
    if e2.button(md(f"Merge accepted links into {folder.name}/triples.csv"), disabled=not acc):
        skipped: list[str] = []
        try:
            added = store.merge_into_graph(folder, skipped)
            st.success(f"Added {added} links as train triples (backup kept)." +
                       (f" Skipped: {md('; '.join(skipped))}" if skipped else "") +
                       " Reload the graph and retrain to use them.")
            _ui.get_graph.clear()
        except VLKGEError as e:
            st.error(md(e))
else:
    e2.caption(f"Merging into the graph is not available: {md(why)}. Use the CSV export.")
