"""Home: the collection at a glance, the selected run's card, training a run in the background."""
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from pages import _ui
from vlkge.data.collection import (FIELD_LABELS, FIELDS, IMPORT_REPORT, TITLE_HINT, catalogue_columns, column_table,
                                   import_uploaded_catalogue, imports_dir, slug)
from vlkge.errors import VLKGEError
from vlkge.paths import graph_roots, image_roots
from vlkge.app import escape_markdown as md, markdown_code, run_card, verdicts_text
from vlkge.app.training import APP_SETTINGS, app_setting_defaults
from vlkge.app.jobs import TrainingJob, current_job, start_training
from vlkge.models.scorers import SCORERS
from vlkge.training.config import TrainConfig
from vlkge.training.config import available_modalities

c = _ui.ctx()
g = c.graph
st.title("Collection at a glance")
st.caption(f"Graph: {markdown_code(g.source or c.spec)}")
_ui.encoder_banner(c)


NO_COLUMN = "(none)"


def import_catalogue() -> None:
    """The Import button's callback: it runs before the page, so it may switch the sidebar's graph."""
    up, images = st.session_state.get("import_csv"), st.session_state.get("import_images", "").strip()
    archive = st.session_state.get("import_zip")
    dest = Path(st.session_state.get("import_dest", "").strip() or default_import_folder()).expanduser().resolve()
    mapping, skip = picked_columns(up)
    try:
        report = import_uploaded_catalogue(up.getvalue(), up.name, Path(images).expanduser() if images else None, dest,
                                           mapping=mapping, skip=skip,
                                           image_archive=(archive.getvalue(), archive.name) if archive else None)
    except (VLKGEError, OSError) as e:
        st.session_state["import_result"] = {"error": f"Cannot import: {e}"}  # e names the file (and line)
        return
    _ui.forget_graph()
    st.session_state["graph_spec"] = str(dest)
    st.session_state["import_result"] = {"summary": report.summary(), "problems": report.problems(up.name, 5),
                                         "report": str(dest / IMPORT_REPORT), "images": bool(images or archive)}


def picked_columns(upload) -> tuple[dict[str, str], list[str]]:
    """The column pickers as shown: the fields changed from what was recognised (a field set to
    (none) is left out even where a column is named plainly), and the columns left out."""
    _, detected = catalogue_columns(upload.getvalue(), upload.name)
    picked = {f: st.session_state.get(column_key(upload, f), detected.get(f, NO_COLUMN)) for f in FIELDS}
    mapping = {f: "" if col == NO_COLUMN else col for f, col in picked.items() if col != detected.get(f, NO_COLUMN)}
    return mapping, list(st.session_state.get(column_key(upload, "skip"), []))


def column_key(upload, field: str) -> str:
    """The column picker of ``field`` for this upload (a new file starts from its own header)."""
    return f"import_col_{upload.file_id}_{field}"


def default_import_folder() -> str:
    up = st.session_state.get("import_csv")
    return str(imports_dir() / ((slug(Path(up.name).stem) if up is not None else "") or "collection"))


result = st.session_state.pop("import_result", None)
if result and "error" in result:
    st.error(md(result["error"]))
elif result:
    st.success(md(f"{result['summary'][:1].upper()}{result['summary'][1:]}.") + " This is now the graph in use.")
    if not result["images"]:
        st.caption("No images were given: the artworks were imported without pictures.")
    if result["problems"]:
        # plain text: the lines quote catalogue cells, which markdown would reinterpret
        st.caption(f"Skipped rows and warnings (every one is listed in {markdown_code(result['report'])}):")
        st.code("\n".join(result["problems"][:20]), language=None, wrap_lines=True)
with st.expander("Import your own catalogue (a CSV, Excel or JSON export, one row per artwork)", expanded=bool(result)):
    up = st.file_uploader("Catalogue (CSV, Excel or JSON)", type=["csv", "tsv", "txt", "xlsx", "json", "jsonl", "ndjson"],
                          key="import_csv",
                          help="Columns are recognised by plain names (Title, Artist/Maker, Date, Style, Genre, "
                               "Medium, Object Number, Image/Filename); messy artist and date strings are parsed.")
    if up is not None:
        try:
            header, detected = catalogue_columns(up.getvalue(), up.name)
        except VLKGEError as e:
            st.error(md(e))
            st.stop()
        st.caption("Columns: what was recognised by name; correct any that is wrong "
                   "(German, French, in-house names …).")
        cols = st.columns(3)
        for n, f in enumerate(FIELDS):
            options = [NO_COLUMN, *header]
            cols[n % 3].selectbox(FIELD_LABELS.get(f, f.capitalize()), options,
                                  index=options.index(detected.get(f, NO_COLUMN)), key=column_key(up, f))
        st.multiselect("Leave out these columns", header, key=column_key(up, "skip"),
                       help="A column that names categories (Subjects, Tags, Culture …) otherwise becomes a relation.")
        try:
            uses = column_table(up.getvalue(), up.name, *picked_columns(up))
        except VLKGEError as e:  # e.g. no title column yet: the curator picks one above
            st.warning(md(str(e).replace(TITLE_HINT, "pick the Title column")))
        else:
            st.caption("What each column will become:")
            st.dataframe(pd.DataFrame([{"column": u.column, "becomes": u.becomes, "as / why": u.detail}
                                       for u in uses]), hide_index=True, width="stretch")
    a, b = st.columns(2)
    a.text_input("Its images: a folder on this machine (optional)", key="import_images",
                 help="Matched by the image/filename column, or by object number. Only folders inside "
                      + md(", ".join(str(r) for r in image_roots()))
                      + " can be read (the workspace, and those listed in $VLKGE_IMAGE_ROOTS).")
    b.file_uploader("… or a ZIP of the image files", type=["zip"], key="import_zip",
                    help="Matched as from a folder; other files in the archive are ignored.")
    st.text_input("Save the graph in", key="import_dest", placeholder=default_import_folder(),
                  help="A new folder, or one written by an earlier import (its graph is replaced, its runs and "
                       "audit verdicts kept); never a folder of yours. Only folders inside "
                       + md(", ".join(str(r) for r in graph_roots())) + " (the workspace) can be written.")
    st.button("Import", disabled=up is None, on_click=import_catalogue, type="primary")

s = g.summary()
m = st.container(key="metrics_home").columns(5)
m[0].metric("Entities", f"{s['entities']:,}")
m[1].metric("Relations", s["relations"])
tps = s["triples_per_split"]
m[2].metric("Triples", f"{sum(tps.values()):,}", " / ".join(f"{k} {v:,}" for k, v in tps.items()),
            delta_color="off", delta_arrow="off")
m[3].metric("With image", f"{s['with_image']:,}", f"{100 * s['with_image'] / max(1, s['entities']):.0f}% of entities",
            delta_color="off", delta_arrow="off")
m[4].metric("With description", f"{s['with_description']:,}",
            f"{100 * s['with_description'] / max(1, s['entities']):.0f}% of entities", delta_color="off",
            delta_arrow="off")

left, right = st.columns(2)
with left:
    st.subheader("Entities per type")
    st.bar_chart(pd.Series(s["entities_per_type"], name="entities"), horizontal=True, height=260)
with right:
    st.subheader("Relations")
    per_relation = pd.DataFrame([{"relation": r, **v} for r, v in s["triples_per_relation"].items()])
    # as tall as the chart beside it, or as its rows when fewer (no blank rows under them)
    st.dataframe(per_relation, hide_index=True, height=min(260, 38 + 35 * len(per_relation)), width="stretch")

st.subheader("Trained run")
job = current_job(g)
if "trained_message" in st.session_state:
    st.success(st.session_state.pop("trained_message"))


@st.fragment(run_every=1.0)
def training_progress(folder: str) -> None:
    s = TrainingJob(Path(folder)).status()
    if s["state"] == "running":
        st.progress(min(1.0, float(s["fraction"])), text=s["message"])
        st.caption("Training runs in the background: switch pages or close this tab as you like; "
                   "the run appears in the sidebar when it is done.")
    else:
        st.rerun(scope="app")


SETTING_LABELS = {"dim": "Dimension", "negatives": "Negatives per triple", "lr": "Learning rate",
                  "batch_size": "Batch size", "seed": "Seed"}


def training_form(label: str) -> None:
    epochs = st.number_input("Epochs (early stopping may end sooner)", 5, 500, 60, step=5)
    a, b = st.columns(2)
    default = TrainConfig().model
    model = a.selectbox("Scorer", [default] + [m for m in SCORERS if m != default],
                        help=f"{default} (the default) measured best on every graph here; each scorer trains "
                             "with its own measured defaults")
    have = available_modalities(g)
    mods = b.multiselect("Modalities", have, default=have, help="structural is always used")
    settings = {}
    if st.toggle("Set hyperparameters by hand", help="Left empty, a setting keeps the scorer's measured default "
                                                     "(shown greyed). The command line sets every other one."):
        cols = st.columns(len(APP_SETTINGS))
        for col, (name, value) in zip(cols, app_setting_defaults(g, model).items()):
            whole = APP_SETTINGS[name] is int
            lowest = (0 if name == "seed" else 1) if whole else 0.0
            settings[name] = col.number_input(SETTING_LABELS[name], min_value=lowest, value=None,
                                              step=1 if whole else 0.001, format=None if whole else "%g",
                                              placeholder=f"{value:g}", key=f"train_{name}")
    if st.button(label, type="primary"):
        try:
            start_training(g, c.spec, int(epochs), modalities=sorted(set(mods) | {"structural"}), model=model,
                           settings=settings)
        except VLKGEError as e:
            st.error(md(f"Cannot start training: {e}"))
            st.stop()
        st.rerun()


status = job.status() if job is not None else None
if status and status["state"] == "running":
    training_progress(str(job.folder))
elif status and status["state"] == "done":
    job.dismiss()
    st.session_state["trained_message"] = f"Training finished: {md(status['message'])}. Saved in {markdown_code(status['run'])}."
    st.query_params["run"] = Path(status["run"]).name
    st.rerun()
elif status and status["state"] == "failed":
    st.error(md(f"Training failed: {status['error']}"))
    if st.button("Dismiss"):
        job.dismiss()
        st.rerun()

if c.run is not None:
    card = run_card(c.run)
    test = card["overall"].get("test", {})
    st.markdown(
        f"| Scorer | Encoder actually used | Modalities | Test MRR | Hits@1 | Hits@10 |\n"
        f"|---|---|---|---|---|---|\n"
        f"| {md(card['scorer'])} (d={card['dim']}) | {md(card['encoder'])} | {md(', '.join(card['modalities'])) or '–'} | "
        f"{test.get('mrr', 0):.3f} | {_ui.pct(test.get('hits@1'))} | {_ui.pct(test.get('hits@10'))} |")
    calib = (f"calibration temperature {card['temperature']:.2f}" if card["temperature"] is not None
             else "not calibrated (stored temperature is not a number): confidences are not shown")
    st.caption(f"Run {markdown_code(card['path'])} · protocol {md(card['protocol'])} · {calib}")
    if card["verdicts"]:
        st.caption(md(verdicts_text(card["verdicts"])))
    with st.expander("Metrics overall and per relation (test)"):
        if card["overall"]:
            st.dataframe(pd.DataFrame(card["overall"]).T, width="stretch")
        if card["per_relation"]:
            st.dataframe(pd.DataFrame(card["per_relation"]), hide_index=True, width="stretch")
    if job is None and g.root is not None:
        with st.expander("Train a new run (e.g. after the graph changed)"):
            training_form("Train a new run")
elif c.run_error:
    st.error(md(c.run_error))
    if job is None and g.root is not None:  # e.g. the graph was re-imported since: train one that fits it
        training_form("Train a new run")
elif job is None:
    from vlkge.app import runs_dir
    st.info("No trained run for this graph yet. Train one with default settings "
            f"(saved in {markdown_code(runs_dir(g.root))}).")
    training_form("Train a run now")

st.subheader("From the collection")
withimg = np.nonzero(g.has_image.numpy())[0]
imgs = withimg[np.linspace(0, len(withimg) - 1, min(12, len(withimg))).astype(int)].tolist() if len(withimg) else []
if imgs:
    _ui.gallery(c, imgs, cols=6, key="home")
else:
    st.caption("This graph has no images.")
