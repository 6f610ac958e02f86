"""Embedding map: every entity of a run, projected (PCA/UMAP precomputed at the end of training),
coloured by type or a relation's tail; search to highlight, filter by category, select to list,
open or export."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages import _ui
from vlkge.app import (attribute, available_spaces, map_categories, plotly_text, projection, projection_cached,
                       selection_csv)

c = _ui.run_page("Embedding map")
g, run = c.graph, c.run


@st.cache_data(show_spinner=False, max_entries=16)
def _proj(run_path: str, spec: str, mtime: float, space: str, method: str):
    return projection(_ui.get_run(run_path, spec, mtime), space=space, method=method)


@st.cache_data(show_spinner=False, max_entries=16)
def _attr(spec: str, relation: str) -> list[str]:
    return attribute(_ui.get_graph(spec), relation)


a, b, cc = st.columns([2, 2, 2])
space = a.radio("Space", available_spaces(run), horizontal=True, key="map_space")
colour_by = b.selectbox("Colour by", ["type"] + g.relations, key="map_colour",
                        help="type, or the tail of a relation (artist, style, genre…)")
umap_ready = projection_cached(run, space, "umap")
method = cc.radio("Projection", ["umap", "pca"], horizontal=True, key=f"map_method_{space}",
                  index=0 if umap_ready else 1,
                  format_func=lambda m: {"umap": "UMAP", "pca": "PCA (instant)"}[m])
if method == "umap" and not umap_ready:
    # runs of large graphs get UMAP at the end of training; otherwise it runs on request, once
    st.info("The UMAP projection of this space has not been computed yet (it takes up to a few "
            "minutes once, then it is stored on disk).")
    if not st.button("Compute UMAP now", type="primary", key=f"map_compute_{space}"):
        st.stop()
with st.spinner(f"Projecting with {method.upper()} (once per run and space, then stored on disk)…"):
    p = _proj(str(c.run_info.path), c.spec, c.run_info.mtime, space, method)
idx, xy = p["index"], p["xy"]
raw = np.asarray(g.types, dtype=object)[idx] if colour_by == "type" else \
    np.asarray(_attr(c.spec, colour_by), dtype=object)[idx]
values, colours = map_categories(raw)
f1, f2 = st.columns([3, 3])
q = f1.text_input("Highlight", key="map_q", placeholder="e.g. Monet, Impressionism…",
                  help="Names, and the works of a matching artist, style or genre (as on Browse), drawn on top.")
shown_cats = f2.multiselect("Show only", list(colours), key=f"map_only_{colour_by}",
                            format_func=lambda v: f"{v} ({int((values == v).sum()):,})")
keep = np.isin(values, shown_cats) if shown_cats else np.ones(len(idx), dtype=bool)
labels = np.asarray([plotly_text(c.label(i)) for i in idx], dtype=object)
types = np.asarray([plotly_text(t) for t in g.types], dtype=object)
fig = go.Figure()
size = 4 if len(idx) > 20000 else 6 if len(idx) > 3000 else 8
for val, colour in colours.items():
    sel = np.nonzero(keep & (values == val))[0]
    if len(sel) == 0:
        continue
    fig.add_trace(go.Scattergl(
        x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=plotly_text(f"{val} ({len(sel):,})"),
        marker=dict(size=size, opacity=0.8, color=colour),
        customdata=np.stack([idx[sel], types[idx[sel]]], 1),
        text=labels[sel], hovertemplate="%{text}<br>%{customdata[1]}<extra></extra>"))
hits = c.index.find(q).items if q.strip() else []
if hits:
    pos = {int(e): k for k, e in enumerate(idx)}
    sel = np.asarray([pos[h] for h in hits if h in pos and keep[pos[h]]], dtype=np.int64)
    if len(sel):
        fig.add_trace(go.Scattergl(
            x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=plotly_text(f"“{q.strip()}” ({len(sel):,})"),
            marker=dict(size=size + 7, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#000000")),
            customdata=np.stack([idx[sel], types[idx[sel]]], 1),
            text=labels[sel], hovertemplate="%{text}<br>%{customdata[1]}<extra></extra>"))
fig.update_layout(height=640, margin=dict(l=10, r=10, t=30, b=10), dragmode="lasso",
                  legend=dict(itemsizing="constant"), xaxis=dict(visible=False), yaxis=dict(visible=False))
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("box", "lasso", "points"), key="map_chart")
how = "precomputed" if p["cached"] else f"computed in {p['seconds']:.1f} s"
st.caption(f"{space} space · {method.upper()} · {int(keep.sum()):,} of {len(idx):,} entities shown ({how}) · "
           f"{len(colours)} colours · click a point to open it, draw a lasso or box to list entities")

picked: list[int] = []
sel = getattr(event, "selection", None) or (event.get("selection") if isinstance(event, dict) else None)
if sel:
    for pt in sel.get("points", []):
        cd = pt.get("customdata")
        if cd is not None:
            picked.append(int(cd[0]))
picked = list(dict.fromkeys(picked))
if len(picked) == 1:
    st.subheader("Selected")
    _ui.entity_link(c, picked[0], f"Open {c.label(picked[0])} ({g.types[picked[0]]})")
elif picked:
    st.subheader(f"Selection: {len(picked):,} entities")
    st.download_button("Download selection (CSV)", selection_csv(g, picked), "selection.csv", "text/csv")
    size = 24
    page = _ui.pager(len(picked), size, "map_sel_page")
    _ui.gallery(c, picked[(page - 1) * size: page * size], key="map_sel")
