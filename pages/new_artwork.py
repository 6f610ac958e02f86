"""New artwork: place an uploaded image (+ title/description) in the collection."""
import streamlit as st

from pages import _ui
from vlkge.errors import VLKGEError
from vlkge.app import can_place, escape_markdown as md, place_new, placement_links, placement_relations, upload_preview
from vlkge.curation.audit import AuditStore, default_audit_path

c = _ui.run_page("Place a new artwork")
g, run = c.graph, c.run
ok, why = can_place(run)
if not ok:
    st.warning(f"Placement needs a run with visual/textual modalities: {md(why)}.")
    st.stop()
etype = "artwork" if "artwork" in c.index.type_names else g.types[0]
rels = placement_relations(run, etype)
mods = run.model.entity.modalities
st.caption(f"The run uses {', '.join(mods)}; predictions for: {md(', '.join(rels[:6])) or 'no relation'}.")

left, right = st.columns([1, 2])
with left:
    up = st.file_uploader("Image", type=["jpg", "jpeg", "png", "webp", "bmp"], key="new_img")
    title = st.text_input("Title (optional)", key="new_title")
    desc = st.text_area("Description (optional)", key="new_desc", height=80)
    data = up.getvalue() if up is not None else None
    if data is not None:
        prev, problem = upload_preview(data)
        if prev is None:
            st.error(f"Cannot use this image: {md(problem)}")
            data = None
        else:
            st.image(prev, caption="uploaded", width=300)
    if "visual" not in mods and data is not None:
        st.info("This run has no visual modality: only the title/description are used.")
text = ": ".join(x for x in (title.strip(), desc.strip()) if x) or None
with right:
    if data is None and not text:
        st.info("Upload an image and/or give a title or description.")
        st.stop()


@st.cache_data(show_spinner="Encoding and ranking…", max_entries=16)
def _place(run_path: str, spec: str, mtime: float, data: bytes | None, text: str | None, rels: tuple):
    r = _ui.get_run(run_path, spec, mtime)
    res = place_new(r, image=data, text=text, relations=list(rels), k=5, entity_type=etype)
    return {"predictions": {k: [{"entity": p.entity, "label": p.label, "confidence": p.confidence, "score": p.score}
                                for p in v]
                            for k, v in res["predictions"].items()}, "neighbours": res["neighbours"]}


with right:
    try:
        res = _place(str(c.run_info.path), c.spec, c.run_info.mtime, data, text, tuple(rels[:4]))
    except VLKGEError as e:
        st.error(md(e))
        st.stop()
    for n, (rel, preds) in enumerate(res["predictions"].items()):
        st.markdown(f"**{md(rel)}**")
        cols = st.container(key=f"gallery_place_{n}").columns(5)
        for col, p in zip(cols, preds):
            j = g.entity_index[p["entity"]]
            with col:
                st.image(_ui.thumb_for(c, j, 96), width=72)
                _ui.entity_link(c, j, p["label"])
                st.caption(f"confidence {_ui.pct(p['confidence'], 'uncalibrated')}")


@st.cache_resource(show_spinner=False)
def _store(path: str) -> AuditStore:
    return AuditStore(path)


def _send(title: str | None, image_name: str | None, who: str) -> None:
    """Record the artwork as a proposed entity and its top prediction per relation as pending
    suggestions in the Audit queue."""
    store = _store(str(default_audit_path(g.root)))
    eid = store.propose(title, image_name, who, etype)
    n = store.suggest(placement_links(eid, res["predictions"]), who, run_id=c.run_info.name)
    st.session_state["new_sent"] = f"Sent {n} links of {title or image_name} to the Audit queue."


with right:
    st.divider()
    s1, s2 = st.columns([2, 1], vertical_alignment="bottom")
    who = s1.text_input("Your name", key="new_curator", value=st.session_state.get("audit_curator", ""),
                        placeholder="required to send for review")
    s2.button("Send to the Audit queue", key="new_send", icon=":material/fact_check:", disabled=not who.strip(),
              on_click=_send, args=(title.strip() or None, up.name if up is not None else None, who.strip()),
              help="The artwork is recorded as a proposed entity (its title and image file name) and its top "
                   "prediction for each relation waits in the Audit queue.")
    if "new_sent" in st.session_state:
        st.success(md(st.session_state.pop("new_sent")))

st.subheader(f"Nearest {md(etype)}s in the collection")
_ui.gallery(c, [j for j, _ in res["neighbours"]], [f"{c.label(j)} · {s:.2f}" for j, s in res["neighbours"]],
            key="new_nn")
