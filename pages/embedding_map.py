"""Embedding map: a cached UMAP projection of a run's entities; select points to list them."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages import _ui
from vlkge.app import attribute, available_spaces, plotly_text, projection, projection_cached, selection_csv

c = _ui.run_page("Embedding map")
g, run = c.graph, c.run


@st.cache_data(show_spinner=False, max_entries=16)
def _proj(run_path: str, spec: str, mtime: float, space: str, method: str, max_points: int):
    r = _ui.get_run(run_path, spec, mtime)
    return projection(r, space=space, method=method, max_points=max_points)


@st.cache_data(show_spinner=False, max_entries=16)
def _attr(spec: str, relation: str) -> list[str]:
    return attribute(_ui.get_graph(spec), relation)


a, b, cc, d = st.columns([2, 2, 2, 1])
space = a.radio("Space", available_spaces(run), horizontal=True, key="map_space")
colour_by = b.selectbox("Colour by", ["type"] + g.relations, key="map_colour",
                        help="type, or the tail of a relation (artist, style, genre…)")
max_points = 20000
umap_ready = projection_cached(run, space, "umap", max_points)
method = cc.radio("Projection", ["umap", "pca"], horizontal=True, key=f"map_method_{space}",
                  index=0 if umap_ready else 1,
                  format_func=lambda m: {"umap": "UMAP", "pca": "PCA (instant)"}[m])
if method == "umap" and not umap_ready:
    # UMAP takes from seconds to minutes (plus numba's one-off compilation): run it on request
    # so the page never blocks; the result is stored on disk for everyone afterwards.
    st.info("The UMAP projection of this space has not been computed yet (it takes up to a few "
            "minutes once, then it is cached on disk).")
    if not st.button("Compute UMAP now", type="primary", key=f"map_compute_{space}"):
        st.stop()
with st.spinner(f"Projecting with {method.upper()} (computed once per run and space, then cached on disk)…"):
    p = _proj(str(c.run_info.path), c.spec, c.run_info.mtime, space, method, max_points)
idx, xy = p["index"], p["xy"]
if p["sampled"]:
    st.info(f"Showing a stratified sample of {len(idx):,} of {p['total']:,} entities (every type kept).")
labels = np.asarray([plotly_text(c.label(i)) for i in idx], dtype=object)
values = np.asarray(g.types, dtype=object)[idx] if colour_by == "type" else \
    np.asarray(_attr(c.spec, colour_by), dtype=object)[idx]
values = np.where(values == "", "(none)", values)
cats, counts = np.unique(values, return_counts=True)
order = np.argsort(-counts)
top = set(cats[order[:20]])  # more than 20 colours is unreadable; the rest are grouped
values = np.where(np.isin(values, list(top)), values, "(other)")
fig = go.Figure()
for val in [v for v in cats[order] if v in top] + (["(other)"] if len(cats) > 20 else []):
    sel = np.nonzero(values == val)[0]
    if len(sel) == 0:
        continue
    fig.add_trace(go.Scattergl(
        x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=plotly_text(f"{val} ({len(sel):,})"),
        marker=dict(size=5 if len(idx) > 5000 else 7, opacity=0.8),
        customdata=np.stack([idx[sel], np.asarray([plotly_text(g.types[j]) for j in idx[sel]], dtype=object)], 1),
        text=labels[sel], hovertemplate="%{text}<br>%{customdata[1]}<extra></extra>"))
fig.update_layout(height=620, margin=dict(l=10, r=10, t=30, b=10), dragmode="lasso",
                  legend=dict(itemsizing="constant"), xaxis=dict(visible=False), yaxis=dict(visible=False))
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("box", "lasso", "points"), key="map_chart")
how = "cached" if p["cached"] else f"computed in {p['seconds']:.1f} s"
st.caption(f"{space} space · {method.upper()} · {how} · draw a lasso or box to list entities")

picked: list[int] = []
sel = getattr(event, "selection", None) or (event.get("selection") if isinstance(event, dict) else None)
if sel:
    for pt in sel.get("points", []):
        cd = pt.get("customdata")
        if cd is not None:
            picked.append(int(cd[0]))
picked = list(dict.fromkeys(picked))
if picked:
    st.subheader(f"Selection: {len(picked):,} entities")
    st.download_button("Download selection (CSV)", selection_csv(g, picked), "selection.csv", "text/csv")
    size = 24
    page = _ui.pager(len(picked), size, "map_sel_page")
    _ui.gallery(c, picked[(page - 1) * size: page * size], key="map_sel")
