"""Predictions: ranked candidates with confidence and evidence; evaluation per relation."""
import pandas as pd
import streamlit as st

from pages import _ui
from vlkge.app import escape_markdown as md, evidence, metrics_table, predictions, relations_for

c = _ui.run_page("Predictions")
g, run = c.graph, c.run

direction = st.radio("Predict", ["tail", "head"], horizontal=True, key="pred_dir",
                     format_func=lambda d: {"tail": "what an entity links to (tail)",
                                            "head": "what links to an entity (head)"}[d])
pre = st.query_params.get("entity")
default = None
if pre in g.entity_index:
    default = c.label(g.entity_index[pre])
anchor = _ui.entity_picker(c, "Head" if direction == "tail" else "Tail", "pred_anchor", default=default)
if anchor is None:
    st.caption("Search for an entity to start (try an artwork's title or an artist's name).")
else:
    rels = relations_for(run, g.types[anchor], direction) or list(run.relations)
    a, b, cc = st.columns([3, 1, 1])
    rel = a.selectbox("Relation", rels, key="pred_rel")
    k = b.number_input("How many", 5, 50, 10, key="pred_k")
    filt = cc.toggle("Hide known links", value=True, key="pred_filter")
    rows = predictions(run, g.entities[anchor], rel, direction, k=int(k), filter_known=filt)
    st.caption(md(f"({c.label(anchor)}, {rel}, ?)" if direction == "tail" else f"(?, {rel}, {c.label(anchor)})"))
    adj = c.adjacency()
    for row in rows:
        cols = st.columns([1, 4, 2, 2])
        cols[0].image(_ui.thumb_for(c, row.index, 96), width=72)
        with cols[1]:
            _ui.entity_link(c, row.index, f"#{row.rank} {row.label} ({row.type})")
        cols[2].markdown(f"confidence **{_ui.pct(row.confidence, 'uncalibrated')}**  \nscore {row.score:.2f}")
        cols[3].markdown(f"**known in {md(row.known)}**" if row.known else ":material/fiber_new: novel")
    if rows:
        st.subheader("Evidence")
        pick = st.selectbox("Explain candidate", range(len(rows)), key="pred_explain",
                            format_func=lambda n: f"#{rows[n].rank} {rows[n].label}")
        row = rows[pick]
        ev = evidence(run, adj, anchor, rel, row.index, k=5, direction=direction)
        if ev["similar"]:
            st.caption("Most similar entities that have this link in training:")
            _ui.gallery(c, [j for j, _ in ev["similar"]],
                        [f"{c.label(j)} · sim {s:.2f}" for j, s in ev["similar"]], cols=5, key="ev")
        else:
            st.caption("No training entity has this link.")
        if ev["path_texts"]:
            st.caption("Short paths in the graph (≤ 3 hops):")
            st.markdown("\n".join(f"- {md(t)}" for t in ev["path_texts"]))
        else:
            st.caption("No path of ≤ 3 hops.")
    if c.is_demo:
        _ui.demo_notice(c)

st.divider()
st.subheader("Evaluation")
split = st.radio("Split", ["test", "val"], horizontal=True, key="pred_eval_split")
tab = metrics_table(run, split)
if tab:
    st.dataframe(pd.DataFrame(tab), hide_index=True, width="stretch")
    st.caption(f"Filtered ranking, protocol {(run.metrics.get(split) or {}).get('protocol', run.protocol)}.")
else:
    st.caption("This run has no stored metrics for that split.")
