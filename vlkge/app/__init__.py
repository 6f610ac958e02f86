"""Everything the curator app shows, computed outside Streamlit so it can be tested.

* ``runs``: run discovery (``runs_dir``, ``discover_runs``), run cards;
* ``training``: the app's training settings, their defaults as resolved, progress with an ETA;
* ``search``: accent/typo-tolerant entity search, a search that knows art (works through links,
  facet counts), filters, paging;
* ``facts``: facts per entity, neighbourhood graphs (networkx + pyvis), short paths;
* ``embed``: nearest neighbours, cached UMAP projections, attributes for colouring;
* ``mapview``: the embedding map's component data, hover thumbnails, its events;
* ``predict``: predictions with evidence, metrics tables, audit queue, new-artwork placement,
  search by description;
* ``images``: thumbnails contained in the graph folder, placeholder;
* ``display``: catalogue text made inert for Markdown, Plotly and inline scripts.
"""
from .embed import (MAP_PALETTE, SPACES, attribute, available_spaces, entity_neighbours, map_categories,
                    nearest, projection,
                    projection_cached, projection_dir, selection_csv, stratified_sample, unit_vectors)
from .mapview import MapData, map_data, map_event, map_view_folder, start_thumbnails, view_args
from .display import escape_markdown, markdown_code, plotly_text, script_json
from .facts import Adjacency, Fact, neighbourhood_html, path_text, type_colours
from .images import contained_path, placeholder, thumbnail, upload_preview
from .predict import (answer_text, audit_queue, bulk_preview, can_place, decision_rows, describe_mode, describe_search, evidence, graph_answers,
                      metrics_table, place_new, placement_links, placement_relations, predictions, relations_for,
                      review_priority, review_queue, selection_links, selection_relations, suggested,
                      similar_with_link)
from .runs import (RunInfo, discover_runs, encoder_notice, merge_status, new_run_path, run_card, runs_dir,
                   verdicts_text)
from .search import EntityIndex, FacetValue, Found, Hit, Page, Suggestion, normalise, paginate
from .training import (APP_SETTINGS, TrainProgress, app_setting_defaults, default_train_config, fmt_eta,
                       train_for_app)

__all__ = [n for n in dir() if not n.startswith("_")]
