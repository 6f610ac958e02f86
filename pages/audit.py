"""Audit: curators judge the most confident novel predictions; accepted links can be exported
or merged into the graph."""
import pandas as pd
import streamlit as st

from pages import _ui
from vlkge.errors import VLKGEError
from vlkge.app import audit_queue, escape_markdown as md, markdown_code, merge_status, relations_for
from vlkge.curation.audit import AuditStore, default_audit_path

c = _ui.run_page("Audit predicted links")
g, run = c.graph, c.run


@st.cache_resource(show_spinner=False)
def _store(path: str) -> AuditStore:
    return AuditStore(path)


store = _store(str(default_audit_path(g.root)))
a, b, cc = st.columns([3, 2, 1])
anchor_type = "artwork" if "artwork" in c.index.type_names else None
rels = relations_for(run, anchor_type) if anchor_type else list(run.relations)
rel = a.selectbox("Relation", rels or list(run.relations), key="audit_rel")
curator = b.text_input("Your name", key="audit_curator", placeholder="required to record a verdict")
heads = cc.number_input("Sample", 10, 200, 30, step=10, key="audit_heads",
                        help="how many heads to sample; each contributes its top novel prediction")


@st.cache_data(show_spinner="Ranking candidates…", max_entries=32)
def _queue(run_path: str, spec: str, mtime: float, rel: str, heads: int, _version: int):
    r = _ui.get_run(run_path, spec, mtime)
    return [q.as_dict() for q in audit_queue(r, rel, None, heads=heads)]


def _record(head: str, tail: str, verdict: str, key: str, score: float) -> None:
    store.record(head, rel, tail, verdict, st.session_state["audit_curator"].strip(),
                 comment=st.session_state.get(f"cm_{key}") or None, run_id=c.run_info.name, score=score)
    st.toast(f"Recorded: {verdict}")


# the queue is cached without the store; already-decided links are dropped on every rerun
queue = store.pending(_queue(str(c.run_info.path), c.spec, c.run_info.mtime, rel, int(heads), 1))
st.caption(f"{len(queue)} undecided predictions, most confident first (novel links only).")
size = 8
page = _ui.pager(len(queue), size, "audit_page")
for n, q in enumerate(queue[(page - 1) * size: page * size]):
    h, t = g.entity_index[q["head"]], g.entity_index[q["tail"]]
    with st.container(border=True):
        cols = st.columns([1, 4, 1, 4])
        cols[0].image(_ui.thumb_for(c, h, 96), width=80)
        with cols[1]:
            _ui.entity_link(c, h)
            st.caption(f"{md(g.types[h])} · **{md(rel)}** → confidence {_ui.pct(q['confidence'], 'uncalibrated')}"
                       f" · score {q['score']:.2f}")
        cols[2].image(_ui.thumb_for(c, t, 96), width=80)
        with cols[3]:
            _ui.entity_link(c, t)
            st.caption(md(g.types[t]))
        key = f"{q['head']}|{rel}|{q['tail']}"
        row = st.columns([4, 1, 1, 1], vertical_alignment="center")
        comment = row[0].text_input("Comment", key=f"cm_{key}", label_visibility="collapsed",
                                    placeholder="optional comment")
        for col, verdict, icon in zip(row[1:], ("plausible", "wrong", "unsure"),
                                      (":material/check:", ":material/close:", ":material/help:")):
            # Recorded in the click's callback, which runs even when another curator decided the
            # same link meanwhile and the rerun no longer draws this row (else the verdict is lost).
            col.button(verdict.capitalize(), icon=icon, key=f"v_{verdict}_{key}", disabled=not curator.strip(),
                       width="stretch", on_click=_record, args=(q["head"], q["tail"], verdict, key, q["score"]))
if queue and not curator.strip():
    st.caption("Enter your name above to record verdicts.")
_ui.demo_notice(c)

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
        st.dataframe(pd.DataFrame([{"head": d.head, "relation": d.relation, "tail": d.tail, "verdict": d.verdict,
                                    "curator": d.curator, "comment": d.comment, "time": d.timestamp}
                                   for d in recent]), hide_index=True, width="stretch")
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
