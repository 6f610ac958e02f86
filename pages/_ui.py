"""Shared state and small widgets for the curator app's pages (layout only; the logic lives
in vlkge.app)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from vlkge.data.collection import imported_graphs, imports_dir
from vlkge.data.demo import DEMO_IMAGE_NOTICE, default_data, is_demo_folder
from vlkge.data.graph import Graph
from vlkge.data.readers import load_graph
from vlkge.errors import VLKGEError
from vlkge.paths import workspace
from vlkge.app import (Adjacency, EntityIndex, RunInfo, discover_runs, encoder_notice,
                       escape_markdown as md, thumbnail,
                       type_colours)
from vlkge.app.jobs import current_job

THUMB = 160


# ------------------------------------------------------------------ cached resources
@st.cache_resource(show_spinner="Loading graph…", max_entries=4)
def get_graph(spec: str) -> Graph:
    return load_graph(spec)


@st.cache_resource(show_spinner="Indexing names…", max_entries=4)
def get_index(spec: str) -> EntityIndex:
    return EntityIndex(get_graph(spec))


@st.cache_resource(show_spinner="Indexing links…", max_entries=4)
def get_adjacency(spec: str) -> Adjacency:
    return Adjacency(get_graph(spec))


def forget_graph() -> None:
    """Drop the cached graphs and their indexes (a graph folder was just rewritten)."""
    for cached in (get_graph, get_index, get_adjacency):
        cached.clear()


@st.cache_resource(show_spinner="Loading run…", max_entries=4)
def get_run(run_path: str, spec: str, _mtime: float) -> Any:
    from vlkge.prediction.run import load_run
    return load_run(run_path, graph=get_graph(spec))


@st.cache_data(max_entries=20000, show_spinner=False)
def thumb(root: str, rel: str, size: int = THUMB) -> bytes:
    return thumbnail(root, rel, size)[0]


# ------------------------------------------------------------------ context
@dataclass
class Ctx:
    spec: str
    graph: Graph
    index: EntityIndex
    runs: list[RunInfo]
    run_info: RunInfo | None
    run: Any | None
    is_demo: bool
    pages: dict[str, Any] = field(default_factory=dict)
    run_error: str = ""

    @property
    def root(self) -> str:
        return str(self.graph.root) if self.graph.root is not None else ""

    def adjacency(self) -> Adjacency:
        return get_adjacency(self.spec)

    def label(self, i: int) -> str:
        return self.graph.labels[i] or self.graph.entities[i]

    def colours(self) -> dict[str, str]:
        return type_colours(self.index.type_names)


def _default_spec() -> str:
    return str(default_data())


def sidebar_context(pages: dict[str, Any]) -> Ctx:
    """The sidebar: graph and run pickers (seeded from ?data= / ?run= deep links)."""
    qp = st.query_params
    if "graph_spec" not in st.session_state:
        st.session_state.graph_spec = qp.get("data") or _default_spec()
    with st.sidebar:
        st.caption("Collection")
        spec = st.text_input("Graph folder", key="graph_spec",
                             help="A graph folder (entities.csv + triples.csv), e.g. "
                                  "/work/shared/data/wikiart-mini. Empty: $VLKGE_DATA or the demo graph.")
        imported = {f.name: f for f in imported_graphs()}
        if imported:
            def open_imported() -> None:
                if st.session_state["graph_imported"] is not None:  # None: the open one clicked again
                    st.session_state["graph_spec"] = str(imported[st.session_state["graph_imported"]])

            # the pill of the graph in use is the selected one, however it was opened
            in_use = Path(spec.strip() or _default_spec()).expanduser().resolve()
            st.session_state["graph_imported"] = next((n for n, f in imported.items() if f == in_use), None)
            st.pills("Catalogues imported here", list(imported), key="graph_imported", on_change=open_imported,
                     format_func=md,  # option labels are Markdown; a folder name is typed by the curator
                     help=f"Graphs imported on Home, saved in {imports_dir().resolve()}; pick one to open it.")
        spec = spec.strip() or _default_spec()
        try:
            graph = get_graph(spec)
        except (VLKGEError, OSError) as e:
            st.error(md(f"Cannot load {spec}: {e}"))
            spec = _default_spec()
            graph = get_graph(spec)
        if spec != _default_spec():
            qp["data"] = spec
        elif "data" in qp:
            del qp["data"]
        run_path = st.expander("Open a run by path").text_input("Run folder", key="run_path",
                                 help="A run folder outside the workspace (e.g. one trained with --out). "
                                      "Runs trained in the app or by `vlkge train` without --out are listed "
                                      f"by themselves, from {md(workspace())}; $VLKGE_RUN names one too.").strip()
        runs = discover_runs(graph, extra=[run_path] if run_path else None)
        opened = next((r.name for r in runs if run_path and r.path == Path(run_path).expanduser().resolve()), None)
        if run_path and opened is None:
            st.warning(md(f"{run_path}: not a run of this graph (a run folder holds config.json and "
                          "model.safetensors, trained on the graph shown)."))
        job = current_job(graph)
        training = job is not None and job.status()
        run_info, run, err = None, None, ""
        if runs:
            by_name = {r.name: r for r in runs}
            key = f"run_pick_{spec}"
            # ?run= wins when it changed since we last wrote it (a deep link, or Home picking a
            # run it just trained); otherwise the widget keeps the curator's choice.
            want = qp.get("run")
            want = next((r.name for r in runs if want in (r.name, str(r.path))), None) if want else None
            if want and want != st.session_state.get("_run_synced"):
                st.session_state[key] = want
            if opened and st.session_state.get("_run_path_seen") != run_path:  # a path just typed
                st.session_state["_run_path_seen"] = st.session_state[key] = opened
            if st.session_state.get(key) not in by_name:
                st.session_state[key] = want or runs[0].name
            choice = st.selectbox("Trained run", list(by_name), key=key,
                                  format_func=lambda n: f"{n} ({by_name[n].source})")
            run_info = by_name[choice]
            qp["run"] = st.session_state["_run_synced"] = run_info.name
            try:
                run = get_run(str(run_info.path), spec, run_info.mtime)
            except VLKGEError as e:
                err = str(e)
                st.error(md(f"Cannot load run: {e}"))
        else:
            qp.pop("run", None)  # a run of the graph shown before
        if not runs and not (training and training["state"] == "running"):
            st.info("No trained run for this graph yet: train one on Home.")
        if training and training["state"] == "running":
            st.caption("A run is training in the background (progress on Home).")
        st.caption(f"{graph.num_entities:,} entities · {graph.num_relations} relations")
    return Ctx(spec, graph, get_index(spec), runs, run_info, run, is_demo_folder(graph.root),
               pages, err)


def ctx() -> Ctx:
    if "_ctx" not in st.session_state:
        _enter_through_app()
    return st.session_state["_ctx"]


def _enter_through_app() -> None:
    """A deep link opened before app.py ever ran in this server makes Streamlit run the page file
    directly (it then still routes through the pages/ folder): go through app.py, which sets up
    the navigation and sidebar, and let it switch back to this page with its query parameters."""
    import inspect
    here = Path(__file__).resolve().parent
    page = next((Path(f.filename).name for f in inspect.stack()
                 if Path(f.filename).resolve().parent == here and Path(f.filename).name != "_ui.py"), None)
    st.session_state["_deeplink"] = (page, st.query_params.to_dict())
    st.switch_page(str(here.parent / "app.py"))


# ------------------------------------------------------------------ widgets
def encoder_banner(c: Ctx) -> None:
    notice = encoder_notice(c.run) if c.run is not None else None
    if notice:
        st.warning(notice, icon=":material/warning:")


def thumb_for(c: Ctx, i: int, size: int = THUMB) -> bytes:
    """The entity's thumbnail, or one of a linked artwork's (artists, styles have no image of
    their own), or the placeholder."""
    j = c.adjacency().representative(i)
    return thumb(c.root, c.graph.images[j] if j is not None else "", size)


def run_page(title: str) -> Ctx:
    """Title and encoder banner of a page that shows a run's results; stops the page (saying
    what is missing) when no run is loaded."""
    c = ctx()
    st.title(title)
    encoder_banner(c)
    if not need_run(c):
        st.stop()
    return c


def need_run(c: Ctx) -> bool:
    """Tell the curator what is missing; True when a run is loaded."""
    if c.run is None:
        st.info("This page needs a trained run for the selected graph: train one on Home.")
        if "home" in c.pages:
            st.page_link(c.pages["home"], label="Go to Home")
        return False
    return True


def demo_notice(c: Ctx) -> None:
    """The demo's "pictures are illustrations" notice (once per page: a page with several galleries
    tells the others ``notice=False``)."""
    if c.is_demo:
        st.caption(f":material/brush: {DEMO_IMAGE_NOTICE}")


# Our own constant stylesheet (why: see its header): captions, metric labels and facet chips wrap
APP_CSS = Path(__file__).resolve().parents[1] / "assets" / "app.css"


def wrap_css() -> None:
    st.html(f"<style>{_app_css()}</style>")


@st.cache_resource
def _app_css() -> str:
    return APP_CSS.read_text(encoding="utf-8")


def gallery(c: Ctx, items: list[int], captions: list[str] | None = None, cols: int = 6,
            key: str = "g", link: bool = True, notice: bool = True) -> None:
    """A grid of thumbnails, each with a link to its entity page; captions wrap (whole, score
    included) and the full name and type show on hover. ``notice``: say under it that the demo's
    pictures are illustrations."""
    if not items:
        st.caption("Nothing to show.")
        return
    adj = c.adjacency()
    box = st.container(key=f"gallery_{key}")
    if not any(adj.representative(i) is not None for i in items):
        # a graph without images: a compact list, not a wall of placeholders
        columns = box.columns(3)
        for n, i in enumerate(items):
            with columns[n % 3]:
                cap = captions[n] if captions else f"{c.label(i)} ({c.graph.types[i]})"
                if link and "browse" in c.pages:
                    st.page_link(c.pages["browse"], label=md(_short(cap, 200)),
                                 query_params={"entity": c.graph.entities[i]}, help=md(cap))
                else:
                    st.caption(md(cap))
        return
    for n, i in enumerate(items):
        if n % cols == 0:  # a row at a time: wrapped captions keep the next row's pictures aligned
            columns = box.columns(cols)
        with columns[n % cols]:
            st.image(thumb_for(c, i), width=THUMB)
            cap = captions[n] if captions else c.label(i)
            if link and "browse" in c.pages:
                st.page_link(c.pages["browse"], label=md(_short(cap, 200)),
                             query_params={"entity": c.graph.entities[i]},
                             help=md(f"{cap} ({c.graph.types[i]})"))
            else:
                st.caption(md(cap))
    if notice:
        demo_notice(c)


def entity_link(c: Ctx, i: int, label: str | None = None) -> None:
    text = label or c.label(i)  # whole (the link wraps); an absurdly long one ends in "…", all of it on hover
    st.page_link(c.pages["browse"], label=md(_short(text, 200)), help=md(text),
                 query_params={"entity": c.graph.entities[i]})


def pager(total: int, size: int, key: str) -> int:
    """A compact page picker; returns the 1-based page."""
    pages = max(1, -(-total // size))
    if pages == 1:
        return 1
    if st.session_state.get(key, 1) > pages:  # a page of a longer result list (or of a link)
        st.session_state[key] = pages
    return int(st.number_input(f"Page (of {pages:,})", 1, pages, key=key))


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def pct(x: Any, none: str = "–") -> str:
    return none if x is None else f"{100 * float(x):.1f}%"


def entity_picker(c: Ctx, label: str, key: str, types: list[str] | None = None,
                  default: str | None = None) -> int | None:
    """Search box + selectbox over the best matches: never a widget with 81k options."""
    q = st.text_input(f"{label}: search", key=f"{key}_q", value=default or "",
                      placeholder="type a name (accents and typos are fine)")
    if not q.strip():
        return None
    hits = c.index.search(q, types=types, limit=30)
    if not hits:
        st.caption("No match.")
        return None
    opts = [h.index for h in hits]
    # namesakes (many artworks are "Self-portrait") are told apart by their id
    seen = Counter(c.label(i) for i in opts)
    return st.selectbox(label, opts, key=f"{key}_sel",
                        format_func=lambda i: f"{c.label(i)} ({c.graph.types[i]}"
                                              + (f" · {c.graph.entities[i]})" if seen[c.label(i)] > 1 else ")"))
