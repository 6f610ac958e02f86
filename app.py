"""VL-KGE curator app: `streamlit run app.py` (graph: $VLKGE_DATA or the demo; run: $VLKGE_RUN
or one found next to the graph)."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # pages import pages/_ui.py; AppTest does not add the folder
    sys.path.insert(0, str(HERE))

import streamlit as st  # noqa: E402

# An emoji favicon is drawn by the curator's browser from a data: URL; a :material/…: one is
# fetched from fonts.gstatic.com, and the app contacts no host but its own.
st.set_page_config(page_title="VL-KGE · collection explorer", page_icon="🏛️", layout="wide")

from pages import _ui  # noqa: E402

PAGES = [
    # Material icons ship with Streamlit; emoji need a system font that servers often lack.
    ("home", "Home", ":material/museum:", "home.py"),
    ("browse", "Browse", ":material/search:", "browse.py"),
    ("map", "Embedding map", ":material/scatter_plot:", "embedding_map.py"),
    ("predictions", "Predictions", ":material/auto_awesome:", "predictions.py"),
    ("audit", "Audit", ":material/fact_check:", "audit.py"),
    ("new", "New artwork", ":material/add_photo_alternate:", "new_artwork.py"),
    ("describe", "Search by description", ":material/chat:", "describe.py"),
]
pages = {key: st.Page(str(HERE / "pages" / f), title=t, icon=i, url_path=key, default=(key == "home"))
         for key, t, i, f in PAGES}
# Our own links, not Streamlit's sidebar menu: with client.showSidebarNavigation off (config.toml)
# the browser never draws the menu Streamlit builds from the pages/ folder on a server's first
# load (it listed _ui, the shared helper, until st.navigation replaced it).
nav = st.navigation(list(pages.values()), position="hidden")
with st.sidebar:
    for page in pages.values():
        st.page_link(page)
    st.divider()
_ui.wrap_css()  # links, captions, metrics wrap on every page (assets/app.css)
st.session_state["_ctx"] = _ui.sidebar_context(pages)
link = st.session_state.pop("_deeplink", None)  # see _ui._enter_through_app
if link:
    target = next((pages[key] for key, _, _, f in PAGES if f == link[0]), None)
    if target is not None:
        st.switch_page(target, query_params=link[1])
nav.run()
