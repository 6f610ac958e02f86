"""Search by description: free text → artworks (VLM text→image when the run has a joint space)."""
import streamlit as st

from pages import _ui
from vlkge.app import describe_mode, describe_search, escape_markdown as md
from vlkge.app.url_state import Param, publish, seed

c = _ui.ctx()
st.title("Search by description")
_ui.encoder_banner(c)
mode, why = describe_mode(c.run)
if mode == "joint":
    st.success(f"Ranking artworks by {md(why)}.")
else:
    st.info(f"No joint text–image space here: {md(why)}.")
p_q = Param("q", "")
seed(st.session_state, st.query_params, "desc_q", p_q)
q = st.text_input("Describe what you are looking for", key="desc_q", placeholder="a stormy sea at night")
publish(st.query_params, p_q, q.strip())
etype = "artwork" if "artwork" in c.index.type_names else None
if q.strip():
    with st.spinner("Encoding the description (the text encoder loads once, then it is quick)…"):
        used, hits = describe_search(c.run, c.index, q, k=24, entity_type=etype)
    if used != mode:
        st.caption(f"Fell back to {used} matching.")
    if hits:
        _ui.gallery(c, [i for i, _ in hits], [f"{c.label(i)} · {s:.2f}" for i, s in hits], key="desc")
    else:
        st.caption("No match.")
