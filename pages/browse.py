"""Browse: search and filter the collection; an entity's page with facts, neighbourhood and
nearest neighbours."""
import streamlit as st
import streamlit.components.v1 as components

from pages import _ui
from vlkge.app import (available_spaces, entity_neighbours, escape_markdown as md, markdown_code,
                           neighbourhood_html, paginate)
from vlkge.app.url_state import Param, publish, read, seed

c = _ui.ctx()
g = c.graph
qp, ss = st.query_params, st.session_state
eid = qp.get("entity")
i = g.entity_index.get(eid) if eid else None

if eid and i is None:
    st.warning(f"Unknown entity {markdown_code(eid)} in this graph.")

if i is None:
    st.title("Browse the collection")
    # The view lives in the URL: the search, the "related through" filter, the facet chips (entity
    # ids, not row numbers, so a link survives a re-import) and the page of results.
    p_q, p_img, p_page = Param("q", ""), Param("img", False), Param("page", 1, low=1)
    p_rel = Param("rel", "(any)", choices=["(any)", *g.relations])
    seed(ss, qp, "browse_q", p_q)
    seed(ss, qp, "browse_rel", p_rel)
    seed(ss, qp, "browse_img", p_img)
    seed(ss, qp, "browse_page", p_page)
    # names of artworks, artists, styles, genres, movements…; an artist, style or genre brings its works
    q = st.text_input("Search by name", key="browse_q",
                      placeholder="e.g. Monet, Hokusai, Impressionism, portrait, 1880s… (accents and typos are fine)")
    f2, f3, f4 = st.columns([2, 3, 1])
    rel = f2.selectbox("Related through", ["(any)"] + g.relations, key="browse_rel")
    related = None
    p_to = Param("to", "")
    if rel != "(any)":
        vals = c.index.relation_values(rel)
        if vals:
            # the option list is capped: a relation to 10k distinct entities needs search instead
            options = [v for v, _ in vals[:2000]]
            if ss.get("browse_related") not in options:
                linked = g.entity_index.get(read(qp, p_to))
                ss["browse_related"] = linked if linked in options else options[0]
            related = f3.selectbox("…to", options, key="browse_related",
                                   format_func=lambda v, d=dict(vals): f"{c.label(v)} ({d[v]:,})")
        else:
            f3.caption("No values.")
    with_img = f4.toggle("With image", key="browse_img")
    facet_keys = {f: f"browse_facet_{f}" for f in ["type", *c.index.facet_types()]}
    p_facets = {f: Param(f"f_{f}", [], many=True) for f in facet_keys}
    for f, key in facet_keys.items():
        if key not in ss:  # chips as the URL names them: type names, or ids of entities of that type
            named = read(qp, p_facets[f])
            ss[key] = ([t for t in named if t in c.index.type_names] if f == "type" else
                       [g.entity_index[e] for e in named if e in g.entity_index and g.types[g.entity_index[e]] == f])
    chosen = {f: ss.get(k) or [] for f, k in facet_keys.items()}
    found = c.index.find(q, facets=chosen, relation=None if rel == "(any)" else rel, related=related,
                         with_image=with_img)
    publish(qp, p_q, q)
    publish(qp, p_rel, rel)
    publish(qp, p_to, g.entities[related] if related is not None else "")
    publish(qp, p_img, bool(with_img))
    for f, values in chosen.items():
        publish(qp, p_facets[f], [str(v) if f == "type" else g.entities[v] for v in values])
    if found.suggestions:
        # every match of any type, each saying how many of the results below it brought
        st.caption("Best matches of any type:" if found.total else "No name has every word; closest names:")
        bcols = st.container(key="gallery_suggestions").columns(len(found.suggestions))
        for col, s in zip(bcols, found.suggestions):
            with col:
                extra = f" · {s.works:,} works" if s.works else ""
                _ui.entity_link(c, s.index, f"{c.label(s.index)} ({g.types[s.index]}){extra}")
    shown = [(f, values) for f, values in found.facets.items() if values]
    fcols = st.container(key="facets_browse").columns(3) if shown else []
    for n, (f, values) in enumerate(shown):
        counts = {v.value: v for v in values}
        # the widget's label and its chips' labels are Markdown: a type name and a value's name are catalogue text
        fcols[n % 3].pills(md(f[:1].upper() + f[1:]), list(counts), selection_mode="multi", key=facet_keys[f],
                           format_func=lambda v, d=counts: f"{md(d[v].label)} ({d[v].count:,})")
    size = 24
    st.caption(f"{found.total:,} match{'es' if found.total != 1 else ''}"
               + (" (first 5,000 shown)" if found.total > 5000 else ""))
    if not found.items:
        publish(qp, p_page, 1)
        ss["_browse_view"] = {k: qp.get_all(k) for k in qp if k != "entity"}
        st.info("Nothing matches all the filters" + (" (the closest names are listed above)"
                                                      if found.suggestions else "") + ".")
        st.stop()
    page = paginate(found.items, _ui.pager(len(found.items), size, "browse_page"), size)
    publish(qp, p_page, page.page)
    # "Back to results" on an entity page comes back to this view
    ss["_browse_view"] = {k: qp.get_all(k) for k in qp if k != "entity"}
    _ui.gallery(c, page.items, cols=6, key="browse")
    st.stop()

# ------------------------------------------------------------------ entity page
if st.button("← Back to results"):
    qp.clear()
    for k, v in ss.get("_browse_view", {}).items():
        qp[k] = v
    st.rerun()
st.title(md(c.label(i)))
st.caption(f"{md(g.types[i])} · {markdown_code(g.entities[i])}")
left, right = st.columns([1, 2])
with left:
    linked = [] if g.images[i] else c.adjacency().linked_with_images(i)
    if linked:  # an artist, style or genre: show works linked to it rather than an empty frame
        st.caption(f"No image of its own. Linked works ({len(linked):,}):")
        _ui.gallery(c, linked[:6], cols=2, key="linked")  # a third of the page: two titles a row
    else:
        st.image(_ui.thumb(c.root, g.images[i], 360 if g.images[i] else 160), width=360 if g.images[i] else 160)
        if g.images[i]:
            _ui.demo_notice(c)
    if g.descriptions[i]:
        st.text(g.descriptions[i])
    if "predictions" in c.pages and c.run is not None:
        st.page_link(c.pages["predictions"], label="Predict links for this entity", icon=":material/auto_awesome:",
                     query_params={"entity": g.entities[i]})
with right:
    adj = c.adjacency()
    facts = adj.facts(i)
    st.subheader("Known facts")
    if not facts:
        st.caption("No links.")
    cap = 30
    for key, fs in facts.items():
        with st.expander(md(f"{key} ({len(fs):,})"), expanded=len(fs) <= 5):
            for f in fs[:cap]:
                tag = "" if f.split == "train" else f" · in {f.split}"
                _ui.entity_link(c, f.other, f"{c.label(f.other)} ({g.types[f.other]}){tag}")
            if len(fs) > cap:
                st.caption(f"…and {len(fs) - cap:,} more: use Browse's “Related through” filter.")

st.subheader("Neighbourhood")
h1, h2 = st.columns([1, 3])
p_hops, p_nodes = Param("hops", 1, choices=[1, 2]), Param("nodes", 50, low=10, high=150)
seed(ss, qp, "nb_hops", p_hops)
seed(ss, qp, "nb_cap", p_nodes)
hops = h1.radio("Hops", [1, 2], horizontal=True, key="nb_hops")
cap_nodes = h1.slider("Max nodes", 10, 150, key="nb_cap")
publish(qp, p_hops, hops)
publish(qp, p_nodes, int(cap_nodes))
colours = c.colours()
# the dot's colour is ours (type_colours); the type name is escaped, as Markdown and as HTML
h1.markdown("  \n".join(f"<span style='color:{colours[t]}'>●</span> {md(t)}" for t in c.index.type_names),
            unsafe_allow_html=True)
with h2:
    nx_graph = adj.neighbourhood(i, hops=hops, max_nodes=cap_nodes)
    # artworks drawn as their pictures (small, inlined: the frame fetches nothing)
    pictures = {n: _ui.thumb(c.root, g.images[n], 64) for n in nx_graph.nodes
                if isinstance(n, int) and g.images[n]}
    page_html = neighbourhood_html(nx_graph, colours, i, height=460 if hops == 1 else 640, thumbnails=pictures)
    if hasattr(st, "iframe"):  # st.components.v1.html is deprecated in newer Streamlit
        st.iframe(page_html, height=480 if hops == 1 else 660)
    else:
        components.html(page_html, height=480 if hops == 1 else 660)
    grouped = sum(d.get("more", 0) for _, d in nx_graph.nodes(data=True))
    st.caption(f"{nx_graph.number_of_nodes()} nodes, {nx_graph.number_of_edges()} links"
               + (f" · {grouped:,} more grouped (at most 8 per relation)" if grouped else "")
               + (" (capped)" if nx_graph.number_of_nodes() >= cap_nodes else ""))

st.subheader("Nearest neighbours in embedding space")
if c.run is None:
    st.caption("Needs a trained run (Home).")
else:
    spaces = available_spaces(c.run)
    p_space = Param("space", spaces[0], choices=spaces)
    seed(ss, qp, "nb_space", p_space)
    space = st.radio("Space", spaces, horizontal=True, key="nb_space")
    publish(qp, p_space, space)
    nbrs = entity_neighbours(c.run, i, k=12, space=space)
    if nbrs:
        _ui.gallery(c, [j for j, _ in nbrs], [f"{c.label(j)} · {s:.2f}" for j, s in nbrs], key="nn",
                    notice=False)  # said once, under the entity's own picture or works
    else:
        st.caption(f"This entity has no {space} vector.")
