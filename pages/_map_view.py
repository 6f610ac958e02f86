"""The embedding map's component, declared from a module of its own: Streamlit names a component
after the module that declares it, and a page script run by st.navigation is not one."""
from __future__ import annotations

from pathlib import Path

import streamlit.components.v1 as components


def map_view(folder: Path):
    """The map component served from ``folder`` (``vlkge.app.map_view_folder``), declared on each
    run: the folder follows $VLKGE_CACHE, which a test or a new session may change."""
    return components.declare_component("embedding_map", path=str(folder))
