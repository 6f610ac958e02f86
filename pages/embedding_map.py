"""Embedding map: every entity of a run, projected (PCA/UMAP precomputed at the end of training),
coloured by type or a relation's tail; hover for a picture, search to highlight, filter by
category, click to open, lasso or box to list, export or send to the Audit queue. The view
(space, colour, projection, search, filter, selection) lives in the URL."""
import streamlit as st

from pages import _ui
from pages._map_view import map_view as declare_map_view
from vlkge.app import (available_spaces, escape_markdown as md, map_data, map_event, map_view_folder, projection,
                       projection_cached, selection_csv, selection_links, selection_relations, start_thumbnails,
                       view_args)
from vlkge.app.url_state import MAX_ITEMS, Param, publish, read, seed
from vlkge.curation.audit import AuditStore, default_audit_path

c = _ui.run_page("Embedding map")
g, run = c.graph, c.run
qp, ss = st.query_params, st.session_state
folder = map_view_folder()
map_view = declare_map_view(folder)


@st.cache_resource(show_spinner=False, max_entries=4)
def _thumbs(spec: str) -> dict[int, str]:
    # once per graph and process; the pictures are written in the background, kept on disk
    return start_thumbnails(_ui.get_graph(spec), folder / "thumbs")[0]


# a resource, not data: the points are read-only, and unpickling 81k of them on every rerun cost time
@st.cache_resource(show_spinner=False, max_entries=16)
def _data(run_path: str, spec: str, mtime: float, space: str, method: str, colour_by: str):
    p = projection(_ui.get_run(run_path, spec, mtime), space=space, method=method)
    data = map_data(_ui.get_graph(spec), p, colour_by, _thumbs(spec))
    return data, {k: p[k] for k in ("cached", "seconds")}


spaces = available_spaces(run)
colourings = ["type"] + g.relations
p_space, p_colour = Param("space", spaces[0], choices=spaces), Param("colour", "type", choices=colourings)
seed(ss, qp, "map_space", p_space)
seed(ss, qp, "map_colour", p_colour)
a, b, cc = st.columns([2, 2, 2])
space = a.radio("Space", spaces, horizontal=True, key="map_space")
colour_by = b.selectbox("Colour by", colourings, key="map_colour",
                        help="type, or the tail of a relation (artist, style, genre…)")
umap_ready = projection_cached(run, space, "umap")
p_method = Param("proj", "umap" if umap_ready else "pca", choices=["umap", "pca"])
seed(ss, qp, f"map_method_{space}", p_method)
method = cc.radio("Projection", ["umap", "pca"], horizontal=True, key=f"map_method_{space}",
                  format_func=lambda m: {"umap": "UMAP", "pca": "PCA (instant)"}[m])
for p, v in ((p_space, space), (p_colour, colour_by), (p_method, method)):
    publish(qp, p, v)
if method == "umap" and not umap_ready:
    # runs of large graphs get UMAP at the end of training; otherwise it runs on request, once
    st.info("The UMAP projection of this space has not been computed yet (it takes up to a few "
            "minutes once, then it is stored on disk).")
    if not st.button("Compute UMAP now", type="primary", key=f"map_compute_{space}"):
        st.stop()
with st.spinner(f"Projecting with {method.upper()} (once per run and space, then stored on disk)…"):
    data, how = _data(str(c.run_info.path), c.spec, c.run_info.mtime, space, method, colour_by)

cats = list(data.colours)
p_q, p_only = Param("q", ""), Param("only", [], many=True, choices=cats)
seed(ss, qp, "map_q", p_q)
seed(ss, qp, f"map_only_{colour_by}", p_only)
f1, f2, f3 = st.columns([3, 3, 1], vertical_alignment="bottom")
q = f1.text_input("Highlight", key="map_q", placeholder="e.g. Monet, Impressionism…",
                  help="Names, and the works of a matching artist, style or genre (as on Browse), drawn on top.")
counts = data.counts
shown = f2.multiselect("Show only", cats, key=f"map_only_{colour_by}", format_func=lambda v: f"{v} ({counts[v]:,})")
p_density = Param("density", False)
seed(ss, qp, "map_density", p_density)
density = f3.toggle("Density", key="map_density", help="Shade where points crowd (all of them, beneath the markers).")
for p, v in ((p_q, q), (p_only, shown), (p_density, density)):
    publish(qp, p, v)

# The selection: the URL's the first time (a shared link), then the map's lasso, box or clear.
p_sel, sel_key = Param("sel", [], many=True), f"map_selected_{c.spec}"  # entity indices of this graph
if sel_key not in ss:
    ss[sel_key] = [g.entity_index[e] for e in read(qp, p_sel) if e in g.entity_index]
# The map's last event, read before it is drawn again so the outline follows the selection at once.
ev = map_event(ss.get("map_chart"), data)
if ev and ev[2] != ss.get("map_event_t"):
    ss["map_event_t"] = ev[2]
    if ev[0] == "open":
        st.switch_page(c.pages["browse"], query_params={"entity": g.entities[ev[1][0]]})
    ss[sel_key] = ev[1]
hits = c.index.find(q).items if q.strip() else []
map_view(**data.args, **view_args(data, shown, hits, q.strip(), ss[sel_key], density), height=640, key="map_chart",
         default=None)
picked: list[int] = ss[sel_key]
publish(qp, p_sel, [g.entities[i] for i in picked] if len(picked) <= MAX_ITEMS else [])
shown_n = sum(counts[v] for v in shown) if shown else data.points
origin = "precomputed" if how["cached"] else f"computed in {how['seconds']:.1f} s"
st.caption(f"{space} space · {method.upper()} · {shown_n:,} of {data.points:,} entities shown ({origin}) · "
           f"{len(cats)} colours · hover for a picture, click a point to open it, draw a lasso or box to list "
           "entities, double-click to clear")

if picked:
    st.subheader(f"Selection: {len(picked):,} entities")
    if len(picked) > MAX_ITEMS:
        st.caption(f"A link keeps a selection of up to {MAX_ITEMS} entities; download this one to share it.")
    st.download_button("Download selection (CSV)", selection_csv(g, picked), "selection.csv", "text/csv")
    rels = selection_relations(run, picked)
    if rels:
        with st.container(border=True):
            st.markdown("**Send to the Audit queue**: each selected entity's top novel prediction for a relation")
            s1, s2, s3 = st.columns([2, 2, 1], vertical_alignment="bottom")
            rel = s1.selectbox("Relation", rels, key="map_audit_rel")
            who = s2.text_input("Your name", key="map_curator", value=ss.get("audit_curator", ""),
                                placeholder="required to send for review").strip()
            limit = 500

            def _send() -> None:
                # read at the click: the relation and name as the curator left them
                chosen, curator = ss["map_audit_rel"], ss["map_curator"].strip()
                links = selection_links(run, ss[sel_key], chosen, limit=limit)
                store = AuditStore(default_audit_path(g.root))
                try:
                    n = store.suggest(links, curator, run_id=c.run_info.name)
                finally:
                    store.close()
                ss["map_sent"] = (n, len(links), chosen)

            s3.button("Send", key="map_send", icon=":material/fact_check:", disabled=not who, on_click=_send,
                      help=f"The top novel prediction of each selected entity that can take this relation (the "
                           f"first {limit}) waits in the Audit queue, after links sent before.")
            if "map_sent" in ss:
                n, total, sent_rel = ss.pop("map_sent")
                st.success(f"Sent {n} new links ({total - n} already queued) of {md(sent_rel)} to the Audit queue.")
                if "audit" in c.pages:
                    st.page_link(c.pages["audit"], label="Review them on Audit", icon=":material/fact_check:",
                                 query_params={"relation": sent_rel})
    if len(picked) == 1:
        _ui.entity_link(c, picked[0], f"Open {c.label(picked[0])} ({g.types[picked[0]]})")
    size = 24
    page = _ui.pager(len(picked), size, "map_sel_page")
    _ui.gallery(c, picked[(page - 1) * size: page * size], key="map_sel")
