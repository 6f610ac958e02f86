"""Predictions: ranked candidates with confidence and evidence; evaluation per relation."""
import pandas as pd
import streamlit as st

from pages import _ui
from vlkge.app import (answer_text, escape_markdown as md, evidence, graph_answers, metrics_table, predictions,
                       relations_for)
from vlkge.app.url_state import Param, publish, seed

c = _ui.run_page("Predictions")
g, run = c.graph, c.run
qp, ss = st.query_params, st.session_state

DIRECTIONS = ["tail", "head"]
p_dir = Param("direction", "tail", choices=DIRECTIONS)
seed(ss, qp, "pred_dir", p_dir)
direction = st.radio("Predict", DIRECTIONS, horizontal=True, key="pred_dir",
                     format_func=lambda d: {"tail": "what an entity links to (tail)",
                                            "head": "what links to an entity (head)"}[d])
publish(qp, p_dir, direction)
pre = qp.get("entity")
default = None
if pre in g.entity_index:
    default = c.label(g.entity_index[pre])
    # several artworks share a title: the linked one, not the first namesake, is the anchor
    if "pred_anchor_sel" not in ss and g.entity_index[pre] in {h.index for h in c.index.search(default, limit=30)}:
        ss["pred_anchor_sel"] = g.entity_index[pre]
anchor = _ui.entity_picker(c, "Head" if direction == "tail" else "Tail", "pred_anchor", default=default)
rels = relations_for(run, g.types[anchor], direction) if anchor is not None else []
if anchor is None:
    st.caption("Search for an entity to start (try an artwork's title or an artist's name).")
elif not rels:
    qp["entity"] = g.entities[anchor]
    position = "head" if direction == "tail" else "tail"
    st.info(md(f"No relation of this graph takes a {g.types[anchor]} as its {position}, so there is nothing "
               f"to predict for {c.label(anchor)} in this direction."))
else:
    qp["entity"] = g.entities[anchor]
    a, b, cc = st.columns([3, 1, 1])
    p_rel, p_k, p_known = (Param("relation", rels[0], choices=rels), Param("k", 10, low=5, high=50),
                           Param("known", False))
    seed(ss, qp, "pred_rel", p_rel)
    seed(ss, qp, "pred_k", p_k)
    # the URL says whether known links are shown; the toggle hides them
    if "pred_filter" not in ss:
        ss["pred_filter"] = not p_known.parse(qp.get(p_known.name))
    rel = a.selectbox("Relation", rels, key="pred_rel")
    k = b.number_input("How many", 5, 50, key="pred_k")
    filt = cc.toggle("Hide known links", key="pred_filter")
    for p, v in ((p_rel, rel), (p_k, int(k)), (p_known, not filt)):
        publish(qp, p, v)
    rows = predictions(run, g.entities[anchor], rel, direction, k=int(k), filter_known=filt)
    current = graph_answers(run, g.entities[anchor], rel, direction)
    st.caption(md(f"({c.label(anchor)}, {rel}, ?)" if direction == "tail" else f"(?, {rel}, {c.label(anchor)})"))
    st.markdown(f"**In the graph now:** {md(answer_text(current))}")
    st.caption("Confidence is computed once over every candidate of this relation (calibrated), so it does not "
               "change when known links are hidden or shown.")
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
        p_explain = Param("explain", 0, choices=range(len(rows)))
        seed(ss, qp, "pred_explain", p_explain)
        pick = st.selectbox("Explain candidate", range(len(rows)), key="pred_explain",
                            format_func=lambda n: f"#{rows[n].rank} {rows[n].label}")
        publish(qp, p_explain, pick)
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
p_split = Param("split", "test", choices=["test", "val"])
seed(ss, qp, "pred_eval_split", p_split)
split = st.radio("Split", ["test", "val"], horizontal=True, key="pred_eval_split")
publish(qp, p_split, split)
tab = metrics_table(run, split)
if tab:
    st.dataframe(pd.DataFrame(tab), hide_index=True, width="stretch")
    st.caption(f"Filtered ranking, protocol {(run.metrics.get(split) or {}).get('protocol', run.protocol)}.")
else:
    st.caption("This run has no stored metrics for that split.")
