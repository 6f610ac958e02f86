"""The curator app through streamlit.testing.v1.AppTest: every page renders on a small graph
with a tiny structural run; search, selection, prediction and audit flows work."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from helpers import make_app_graph, train_tiny, wait_until, write_catalogue, zip_bytes  # noqa: E402
from vlkge.app import escape_markdown  # noqa: E402
from vlkge.training.config import TrainConfig, resolve  # noqa: E402

pytestmark = pytest.mark.slow  # every page run through Streamlit, runs trained in background jobs

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ["home", "browse", "embedding_map", "predictions", "audit", "new_artwork", "describe"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from vlkge.data.readers import load_graph
    base = tmp_path_factory.mktemp("app")
    root = make_app_graph(base / "graph")
    run = train_tiny(load_graph(root), base / "run", epochs=4)
    saved = {k: os.environ.get(k) for k in ("VLKGE_DATA", "VLKGE_RUN", "VLKGE_CACHE")}
    os.environ.update(VLKGE_DATA=str(root), VLKGE_RUN=str(run), VLKGE_CACHE=str(base / "cache"))
    yield {"root": root, "run": run}
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def app(page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()  # st.navigation pages resolve only after the main script has run once
    if page and page != "home":
        at.switch_page(f"pages/{page}.py")
        at.run()
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(env, page):
    at = ok(app(page))
    assert at.title, f"{page}: no title"


def test_home_shows_run_card(env):
    at = ok(app("home"))
    labels = [m.label for m in at.metric]
    assert "Entities" in labels
    card = " ".join(m.value for m in at.markdown)
    assert "Encoder actually used" in card and escape_markdown("none (structure only)") in card


def test_browse_search_filter_and_entity_page(env):
    at = ok(app("browse"))
    at.text_input(key="browse_q").input("monnet").run()
    ok(at)
    links = [p.label for p in at.main.get("page_link")]
    assert links[0] == escape_markdown("Claude Monet (artist) · 6 works"), links  # best match of any type
    assert "Claude Monet" in links[1:], links  # the grid: the artist, then his works
    at.pills(key="browse_facet_type").set_value(["artist"]).run()
    assert [p.label for p in ok(at).main.get("page_link")][1:] == ["Claude Monet"]
    # the entity page (deep link) lists facts as links and nearest neighbours
    at = ok(app("browse", entity="artist_claude-monet"))
    assert at.title[0].value == "Claude Monet"
    labels = [p.label for p in at.get("page_link")]
    assert any(lbl.startswith("Stormy sea at night") for lbl in labels)
    assert any("Nearest neighbours" in s.value for s in at.subheader)


def _results(at: AppTest) -> int:
    import re
    cap = next(c.value for c in at.caption if re.match(r"[\d,]+ match(es)?\b", c.value))
    return int(cap.split()[0].replace(",", ""))


def test_searching_an_artist_on_the_demo_finds_his_works(env):
    from vlkge.data.demo import demo_graph_path
    from vlkge.data.readers import load_graph
    demo = load_graph(str(demo_graph_path()))
    monet = demo.entity_index["artist_claude-monet"] if "artist_claude-monet" in demo.entity_index else \
        next(i for i, lbl in enumerate(demo.labels) if lbl == "Claude Monet")
    works = {h for h, r, t in demo.all_triples().tolist() if t == monet and demo.types[h] == "artwork"}
    at = ok(app("browse", data=str(demo_graph_path())))
    at.text_input(key="browse_q").input("Monet").run()
    ok(at)
    links = [p.label for p in at.main.get("page_link")]
    assert links[0] == escape_markdown(f"Claude Monet (artist) · {len(works)} works"), links
    assert _results(at) >= len(works) + 1 > 1  # was "0 matches" beside a suggestion


def test_searching_an_artist_on_wikiart_mini_gives_his_works_and_facets(env):
    from helpers import shared
    from vlkge.data.readers import load_graph
    data = shared("wikiart-mini")
    g = load_graph(data)
    monet = next(i for i, lbl in enumerate(g.labels) if lbl == "Claude Monet")
    by = g.relation_index["isCreatedByArtist"]
    works = {h for h, r, t in g.all_triples().tolist() if r == by and t == monet}
    at = ok(app("browse", data=str(data)))
    at.text_input(key="browse_q").input("Monet").run()
    ok(at)
    links = [p.label for p in at.main.get("page_link")]
    assert links[0] == escape_markdown(f"Claude Monet (artist) · {len(works)} works")
    assert _results(at) == len(works) + 1  # the artist and his works, no unrelated "Beachmont"
    assert not any("Beachmont" in x or "Balmont" in x for x in links)
    # a genre chip counts his landscapes, and choosing it shows exactly those
    landscape = next(o for o in at.pills(key="browse_facet_genre").options if o.startswith("Landscape"))
    n = int(landscape.split("(")[1].rstrip(")"))
    genre = g.relation_index["belongsToGenre"]
    value = next(i for i, lbl in enumerate(g.labels) if lbl == "Landscape" and g.types[i] == "genre")
    assert n == len({h for h, r, t in g.all_triples().tolist() if r == genre and t == value and h in works})
    at.pills(key="browse_facet_genre").set_value([value]).run()
    assert _results(ok(at)) == n < len(works)


def test_browse_related_filter(env):
    at = ok(app("browse"))
    at.selectbox(key="browse_rel").set_value("isCreatedByArtist").run()
    ok(at)
    opts = at.selectbox(key="browse_related").options
    assert any("Rembrandt" in o for o in opts)
    at.selectbox(key="browse_related").select_index(
        next(n for n, o in enumerate(opts) if "Rembrandt" in o)).run()
    ok(at)
    assert "6 matches" in " ".join(c.value for c in at.caption)


def test_browse_view_reopens_from_its_url(env):
    """A link to a Browse view (search, facet chips, "related through", with image, page) opens
    the same grid in a fresh browser, and what the curator changes is written back."""
    from vlkge.data.readers import load_graph
    g = load_graph(env["root"])
    landscape = g.entity_index["genre_landscape"]
    at = ok(app("browse", q="Monet", f_genre="genre_landscape", img="1"))
    assert at.text_input(key="browse_q").value == "Monet"
    assert at.pills(key="browse_facet_genre").value == [landscape]
    assert at.toggle(key="browse_img").value is True
    by = g.relation_index["isCreatedByArtist"]
    genre = g.relation_index["belongsToGenre"]
    trip = g.all_triples().tolist()
    monet = {h for h, r, t in trip if r == by and t == g.entity_index["artist_claude-monet"]}
    want = {h for h, r, t in trip if r == genre and t == landscape and h in monet and g.images[h]}
    assert _results(at) == len(want) > 0
    at.text_input(key="browse_q").input("Rembrandt").run()
    at.pills(key="browse_facet_genre").set_value([]).run()
    at.toggle(key="browse_img").set_value(False).run()
    ok(at)
    assert at.query_params["q"] == "Rembrandt"
    assert "f_genre" not in at.query_params and "img" not in at.query_params  # defaults stay out
    again = ok(app("browse", **dict(at.query_params)))
    assert again.text_input(key="browse_q").value == "Rembrandt" and _results(again) == _results(at)
    # "related through" names the entity by id; a stale or unknown value opens the default view
    at = ok(app("browse", rel="isCreatedByArtist", to="artist_rembrandt"))
    assert at.selectbox(key="browse_rel").value == "isCreatedByArtist"
    assert at.selectbox(key="browse_related").value == g.entity_index["artist_rembrandt"]
    assert _results(at) == 6
    at = ok(app("browse", q="Monet", f_genre=["genre_nowhere", "artist_rembrandt"], rel="nope"))
    assert at.pills(key="browse_facet_genre").value == [] and at.selectbox(key="browse_rel").value == "(any)"
    # an entity page keeps its neighbourhood settings, and "Back to results" returns to the search
    at = ok(app("browse", q="Monet", f_genre="genre_landscape"))
    at.query_params["entity"] = "artist_claude-monet"
    ok(at.run())
    assert at.title[0].value == "Claude Monet"
    at.radio(key="nb_hops").set_value(2).run()
    at.slider(key="nb_cap").set_value(80).run()
    assert ok(at).query_params["hops"] == "2" and at.query_params["nodes"] == "80"
    page = ok(app("browse", **dict(at.query_params)))
    assert page.radio(key="nb_hops").value == 2 and page.slider(key="nb_cap").value == 80
    next(b for b in at.button if b.label == "← Back to results").click().run()
    assert ok(at).text_input(key="browse_q").value == "Monet"
    assert at.pills(key="browse_facet_genre").value == [landscape]


def test_predictions_flow(env):
    at = ok(app("predictions", entity="artwork_rembrandt_2"))
    assert at.selectbox(key="pred_anchor_sel").value is not None
    at.selectbox(key="pred_rel").set_value("hasStyle").run()
    ok(at)
    labels = [p.label for p in at.get("page_link")]
    assert any(lbl.startswith(escape_markdown("#1 ")) for lbl in labels)
    assert "style_baroque" not in " ".join(labels)  # known link filtered
    at.toggle(key="pred_filter").set_value(False).run()
    ok(at)
    assert any("known in train" in m.value for m in at.markdown)
    assert any("Evidence" in s.value for s in at.subheader)
    assert at.dataframe  # evaluation table


def test_audit_records_verdict(env):
    from vlkge.curation.audit import AuditStore, default_audit_path
    at = ok(app("audit"))
    at.text_input(key="audit_curator").input("Ada").run()
    ok(at)
    btn = next(b for b in at.button if b.key and b.key.startswith("v_plausible_"))
    _, rel, _ = btn.key[len("v_plausible_"):].split("|")
    btn.click().run()
    ok(at)
    store = AuditStore(default_audit_path(env["root"]))
    ds = store.decisions()
    assert len(ds) == 1 and ds[0].verdict == "plausible" and ds[0].curator == "Ada" and ds[0].relation == rel
    assert any(m.label == "plausible" and m.value == "1" for m in at.metric)
    assert store.pending([(ds[0].head, rel, ds[0].tail)]) == []


def _map(at: AppTest) -> dict:
    """The map component's JSON arguments (its binary arrays are special args)."""
    import json
    drawn = at.get("component_instance")
    assert drawn, "no map drawn"
    return json.loads(drawn[0].proto.json_args)


def test_map_pca_and_selection_gallery(env):
    at = ok(app("embedding_map"))
    assert any("not been computed" in i.value for i in at.info) or at.get("component_instance")
    at.radio(key="map_method_fused").set_value("pca").run()
    ok(at)
    assert _map(at)["n"] > 0


def test_map_draws_every_entity_in_distinct_colours_and_highlights_a_search(env):
    from vlkge.data.readers import load_graph
    g = load_graph(env["root"])
    at = ok(app("embedding_map"))
    at.radio(key="map_method_fused").set_value("pca").run()
    at.selectbox(key="map_colour").set_value("belongsToGenre").run()
    a = _map(ok(at))
    assert a["n"] == g.num_entities and a["shown"] is None  # every entity, no sample
    assert len(set(a["colours"])) == len(a["colours"]) == len(a["legend"])  # one colour per category
    at.text_input(key="map_q").input("Monet").run()
    a = _map(ok(at))
    assert a["highlight_name"] == "Monet" and len(a["highlight"]) == 7  # the artist and his 6 works
    at.multiselect(key="map_only_belongsToGenre").set_value(["(none)"]).run()
    a = _map(ok(at))
    assert [a["legend"][k].split(" (")[0] for k in a["shown"]] == ["(none)"]
    assert len(a["highlight"]) == 1  # only the artist has no genre


def test_map_figure_is_built_once_per_run_space_and_colour(env, monkeypatch):
    # an 81k-point map rebuilt on every rerun took seconds: highlights, filters and selections
    # reuse the points, only a new colouring (or space, projection) packs them again
    import vlkge.app
    built = []
    real = vlkge.app.map_data
    monkeypatch.setattr(vlkge.app, "map_data", lambda *a, **k: built.append(a[2]) or real(*a, **k))
    at = ok(app("embedding_map"))
    at.selectbox(key="map_colour").set_value("isCreatedInDecade").run()
    n = len(built)
    at.text_input(key="map_q").input("Monet").run()
    at.multiselect(key="map_only_isCreatedInDecade").set_value(["1870s"]).run()
    ok(at).run()
    assert len(built) == n and built[-1] == "isCreatedInDecade"
    at.selectbox(key="map_colour").set_value("hasStyle").run()
    assert built[-1] == "hasStyle" and len(built) == n + 1


def test_map_hover_thumbnails_for_entities_with_images(env):
    from vlkge.data.readers import load_graph
    import numpy as np
    g = load_graph(env["root"])
    at = ok(app("embedding_map"))
    a = _map(at)
    ents = np.frombuffer(next(x.bytes for x in at.get("component_instance")[0].proto.special_args
                              if x.key == "entity"), dtype="<i4")
    imaged = {i for i, rel in enumerate(g.images) if rel and (Path(env["root"]) / rel).is_file()}
    assert {int(ents[int(k)]) for k in a["thumbs"]} == imaged  # artworks with a picture, nothing else
    thumbs = Path(os.environ["VLKGE_CACHE"]) / "map-view" / "thumbs"
    wait_until(lambda: all((thumbs / n).is_file() for n in a["thumbs"].values()), 60, "the hover thumbnails")
    assert (Path(os.environ["VLKGE_CACHE"]) / "map-view" / "plotly.min.js").is_file()


def test_map_view_reopens_from_its_url(env):
    from vlkge.data.readers import load_graph
    g = load_graph(env["root"])
    sel = ["artwork_claude-monet_0", "artwork_rembrandt_1"]
    at = ok(app("embedding_map", colour="hasStyle", proj="pca", q="Monet", only="Impressionism", density="1", sel=sel))
    assert at.selectbox(key="map_colour").value == "hasStyle" and at.toggle(key="map_density").value
    assert at.radio(key="map_method_fused").value == "pca"
    assert at.text_input(key="map_q").value == "Monet"
    assert at.multiselect(key="map_only_hasStyle").value == ["Impressionism"]
    a = _map(at)
    assert [a["legend"][k].split(" (")[0] for k in a["shown"]] == ["Impressionism"]
    assert len(a["highlight"]) == 6 and len(a["selected"]) == 2 and a["density"]  # Monet's works (the artist has no style)
    assert any(h.value == "Selection: 2 entities" for h in at.subheader)
    # what the curator changes goes back into the URL; a lasso on the map replaces the selection
    at.selectbox(key="map_colour").set_value("belongsToGenre").run()
    assert ok(at).query_params["colour"] == "belongsToGenre" and "only" not in at.query_params
    works = [g.entity_index[f"artwork_frans-hals_{k}"] for k in range(3)]
    at.session_state["map_chart"] = {"kind": "select", "entities": works, "t": 1}
    at.run()
    assert any(h.value == "Selection: 3 entities" for h in ok(at).subheader)
    assert at.query_params["sel"] == [g.entities[i] for i in works]
    assert len(_map(at)["selected"]) == 3
    # a click opens the entity's page
    at.session_state["map_chart"] = {"kind": "open", "entities": [g.entity_index["artist_claude-monet"]], "t": 2}
    at.run()
    assert ok(at).title[0].value == "Claude Monet"


def test_map_selection_sent_to_the_audit_queue(env):
    from vlkge.curation.audit import AuditStore, default_audit_path
    works = [f"artwork_claude-monet_{k}" for k in range(3)]
    at = ok(app("embedding_map", sel=works + ["artist_claude-monet"]))
    assert "hasNationality" in at.selectbox(key="map_audit_rel").options  # the artist's relations too
    at.selectbox(key="map_audit_rel").set_value("hasStyle")
    at.text_input(key="map_curator").input("Ada").run()
    at.button(key="map_send").click().run()
    assert any("Sent 3 new links" in s.value for s in ok(at).success)
    with AuditStore(default_audit_path(env["root"])) as store:
        assert [s["head"] for s in store.suggestions("hasStyle")] == works  # the artist takes no hasStyle
    at = ok(app("audit", relation="hasStyle"))
    heads = [p.label for p in at.main.get("page_link")][0:6:2]  # each card links its head, then its tail
    assert heads == [escape_markdown(t) for t in ("Harbour at dawn", "Portrait of a woman", "Stormy sea at night")]


def test_structural_run_new_artwork_and_describe(env):
    at = ok(app("new_artwork"))
    assert any("visual/textual" in w.value for w in at.warning)
    at = ok(app("describe"))
    at.text_input(key="desc_q").input("stormy sea").run()
    ok(at)
    assert any(p.label.startswith("Stormy sea at night") for p in at.get("page_link"))


@pytest.fixture(scope="module")
def text_run(env, tmp_path_factory):
    """A run of the app's graph with text features (the offline encoder's packaged MiniLM), so
    New artwork can place an artwork from its title."""
    from vlkge.data.readers import load_graph
    from vlkge.pipeline import train_run
    cfg = TrainConfig(dim=16, epochs=2, eval_every=2, modalities=["structural", "textual"], encoder="offline",
                      device="cpu", batch_size=256, negatives=16)
    out = tmp_path_factory.mktemp("text-run") / "run"
    train_run(load_graph(env["root"]), cfg, out, progress=False)
    return out


def test_a_placement_sent_from_new_artwork_waits_first_in_the_audit_queue(env, text_run, monkeypatch):
    from vlkge.curation.audit import AuditStore, default_audit_path
    from vlkge.data.readers import load_graph
    g = load_graph(env["root"])
    monkeypatch.setenv("VLKGE_RUN", str(text_run))
    at = ok(app("new_artwork"))
    assert not any("visual/textual" in w.value for w in at.warning)  # a run with text features can place
    at.text_input(key="new_title").input("Stormy harbour at dawn").run()
    shown = {p.label for p in ok(at).main.get("page_link")}  # the predictions and nearest artworks
    assert at.button(key="new_send").disabled  # a name first
    at.text_input(key="new_curator").input("Dora").run()
    at.button(key="new_send").click().run()
    sent = ok(at).success[0].value
    store = AuditStore(default_audit_path(env["root"]))
    links = store.suggestions()
    assert sent == escape_markdown(f"Sent {len(links)} links of Stormy harbour at dawn to the Audit queue.")
    assert {x["relation"] for x in links} == {"isCreatedByArtist", "hasStyle", "belongsToGenre", "isCreatedInDecade"}
    style = next(x for x in links if x["relation"] == "hasStyle")
    tail = g.labels[g.entity_index[style["tail"]]]
    assert escape_markdown(tail) in shown  # the link sent is the one the page showed
    # the Audit queue: the proposed artwork's card first, by its title, against "not in the graph yet"
    audit = ok(app("audit", relation="hasStyle"))
    heads = [m.value for m in audit.markdown if "new artwork, not in the graph yet" in m.value]
    cards = [m.value for m in audit.markdown if m.value.startswith("graph: ")]
    assert heads[0] == f"**{escape_markdown('Stormy harbour at dawn')}** (new artwork, not in the graph yet)"
    assert cards[0].startswith(f"graph: not in the graph yet — suggested: **{escape_markdown(tail)}**")
    audit.text_input(key="audit_curator").input("Eli").run()
    ok(audit).button(key=f"v_plausible_{style['head']}|hasStyle|{style['tail']}").click().run()
    ok(audit)
    assert [(d.head, d.tail, d.verdict) for d in store.decisions(curator="Eli")] == [
        (style["head"], style["tail"], "plausible")]
    assert not any("new artwork, not in the graph yet" in m.value for m in audit.markdown)  # decided: off the queue


def test_no_run_offers_training(env, tmp_path, monkeypatch):
    import shutil
    g = tmp_path / "g"
    shutil.copytree(env["root"], g, ignore=shutil.ignore_patterns("runs", "*.sqlite*"))
    monkeypatch.setenv("VLKGE_DATA", str(g))
    monkeypatch.delenv("VLKGE_RUN")
    at = ok(app("home"))
    assert any(b.label == "Train a run now" for b in at.button)
    at2 = ok(app("predictions"))
    assert any("needs a trained run" in i.value for i in at2.info)
    # training runs in the background: the page comes back at once with its progress
    from vlkge.data.readers import load_graph
    from vlkge.app.jobs import current_job
    at.number_input[0].set_value(5)
    next(b for b in at.button if b.label == "Train a run now").click()
    ok(at.run())
    assert any("Training runs in the background" in x.value for x in at.caption)
    job = current_job(load_graph(g))
    wait_until(lambda: job.status()["state"] != "running", 180, "the background training to end", every=0.2)
    assert job.status()["state"] == "done", job.status()
    at = ok(app("home"))  # whoever opens Home next learns it finished; the new run is picked
    assert any(x.value.startswith("Training finished: test MRR") for x in at.success)
    assert current_job(load_graph(g)) is None
    assert any("| Test MRR |" in m.value for m in at.markdown)
    # a second run beside it, with another scorer and structure only
    form = at.main.expander[-1]
    assert "Train a new run" in form.label
    next(s for s in at.selectbox if s.label == "Scorer").set_value("complex")
    next(m for m in at.multiselect if m.label == "Modalities").set_value(["structural"])
    at.number_input[0].set_value(5)
    next(t for t in at.toggle if t.label == "Set hyperparameters by hand").set_value(True)
    ok(at.run())
    dim = next(n for n in at.number_input if n.label == "Dimension")
    complex_dim = resolve(TrainConfig(model="complex"), load_graph(g)).dim
    assert dim.value is None and dim.proto.placeholder == str(complex_dim)  # shown, not set
    dim.set_value(24)
    next(n for n in at.number_input if n.label == "Seed").set_value(3)
    next(b for b in at.button if b.label == "Train a new run").click()
    ok(at.run())
    job = current_job(load_graph(g))
    wait_until(lambda: job.status()["state"] != "running", 180, "the background training to end", every=0.2)
    s = job.status()
    assert s["state"] == "done" and "-complex-" in Path(s["run"]).name  # graph-scorer-time, s
    import json
    cfg = json.loads((Path(s["run"]) / "config.json").read_text())
    assert cfg["train"]["model"] == "complex" and cfg["modalities_used"] == ["structural"]
    # what was set by hand, and the defaults for what was left empty
    assert (cfg["train"]["dim"], cfg["train"]["seed"]) == (24, 3)
    assert (cfg["train"]["lr"], cfg["train"]["batch_size"]) == (resolve(TrainConfig(model="complex"), load_graph(g)).lr,
                                                                TrainConfig().batch_size)


def test_failed_background_training_is_shown_until_dismissed(env, tmp_path, monkeypatch):
    import json
    import shutil

    from vlkge.data.readers import load_graph
    from vlkge.app import runs_dir
    from vlkge.app.jobs import current_job
    g = tmp_path / "g"
    shutil.copytree(env["root"], g, ignore=shutil.ignore_patterns("runs", "*.sqlite*"))
    monkeypatch.setenv("VLKGE_DATA", str(g))
    monkeypatch.delenv("VLKGE_RUN")
    job = runs_dir(g) / ".training"
    job.mkdir(parents=True)
    (job / "status.json").write_text(json.dumps({"job": "x", "state": "failed", "pid": 1,
                                                 "error": "triples.csv:7: unknown entity 'nope'"}))
    at = ok(app("home"))
    # the Markdown sent renders as the message (escaped: it may quote catalogue text)
    assert any(escape_markdown("Training failed: triples.csv:7: unknown entity 'nope'") in e.value for e in at.error)
    assert not any(b.label == "Train a run now" for b in at.button)  # one job at a time, even a failed one
    next(b for b in at.button if b.label == "Dismiss").click()
    ok(at.run())
    assert current_job(load_graph(g)) is None
    at = ok(app("home"))
    assert any(b.label == "Train a run now" for b in at.button) and not at.error


def test_import_a_catalogue_from_home_switches_to_it(env, tmp_path, monkeypatch, workspace):
    import csv

    from PIL import Image
    monkeypatch.setenv("VLKGE_IMAGE_ROOTS", str(tmp_path / "scans"))
    scans = tmp_path / "scans"
    scans.mkdir()
    rows = [("Object Number", "Title", "Artist", "Date", "Genre", "Filename")]
    for i in range(24):
        if i % 2:
            Image.new("RGB", (16, 16), (10 * i, 90, 40)).save(scans / f"p{i}.png")
        maker = ("Hokusai, Katsushika", "Utagawa Hiroshige (Japanese, 1797–1858)")[i % 2]
        rows.append((f"1921.{i}", f"Print {i}", maker, "Edo period" if i < 5 else f"18{30 + i}",
                     ("landscape", "portrait")[i % 3 == 0], f"p{i}.png"))
    rows.append(("", "No number", "Utagawa Hiroshige", "1840", "", ""))
    buf = __import__("io").StringIO()
    csv.writer(buf).writerows(rows)
    dest = workspace / "graphs" / "museum"  # a web user saves graphs in the workspace only
    at = ok(app("home"))
    before = at.session_state["graph_spec"]
    at.file_uploader(key="import_csv").set_value(("our export.csv", buf.getvalue().encode(), "text/csv"))
    at.text_input(key="import_images").set_value(str(scans))
    at.text_input(key="import_dest").set_value(str(dest))
    ok(at.run())
    next(b for b in at.button if b.label == "Import").click()
    ok(at.run())
    assert at.session_state["graph_spec"] == str(dest.resolve()) != before
    assert at.success[0].value.startswith("Imported 24 artworks by 2 artists")
    notes = at.code[0].value.splitlines()
    assert any("our export.csv:26: skipped: no id" in x for x in notes)
    assert any("date 'Edo period' not understood" in x and "also on 4 more rows" in x for x in notes)
    # the sidebar's graph is now the import (AppTest reruns only the page, so the switch itself is
    # checked in Chromium, tests/test_e2e_app.py); opened there, it is the catalogue's graph
    from vlkge.data.readers import load_graph
    g = load_graph(dest)
    assert int(g.has_image.sum()) == 12 and g.source.endswith(str(dest.resolve()))
    assert (dest / "import_report.txt").is_file()
    home = ok(app("home", data=str(dest)))
    assert next(m for m in home.metric if m.label == "Entities").value == f"{g.num_entities:,}"
    assert any(b.label == "Train a run now" for b in home.button)  # no run for the new graph yet
    # a catalogue it cannot use is one error line; the graph in use stays
    at.file_uploader(key="import_csv").set_value(("bad.csv", b"Foo,Bar\n1,2\n", "text/csv"))
    at.text_input(key="import_dest").set_value(str(workspace / "other"))
    ok(at.run())
    next(b for b in at.button if b.label == "Import").click()
    ok(at.run())
    # named as uploaded (not the temporary copy), with what to do in the app (not a command-line flag)
    assert at.error[0].value == escape_markdown("Cannot import: bad.csv:1: no title or image column found "
                                                "(columns: Foo, Bar); pick the Title column")
    assert not (workspace / "other").exists()


def test_the_images_folder_of_an_import_must_be_inside_an_allowed_root(env, tmp_path, monkeypatch, workspace):
    """A web user names a folder on the server: /etc, or any folder outside the workspace and
    $VLKGE_IMAGE_ROOTS, is refused in one line and nothing is imported from it."""
    monkeypatch.setenv("VLKGE_IMAGE_ROOTS", str(tmp_path / "scans"))
    (tmp_path / "scans").mkdir()
    at = ok(app("home"))
    assert "VLKGE_IMAGE_ROOTS" in at.text_input(key="import_images").help
    for folder in ("/etc", str(tmp_path / "scans" / ".." / "elsewhere")):
        at.file_uploader(key="import_csv").set_value(("c.csv", b"Title,Filename\nA,passwd\n", "text/csv"))
        at.text_input(key="import_images").set_value(folder)
        at.text_input(key="import_dest").set_value(str(workspace / "g"))
        ok(at.run())
        next(b for b in at.button if b.label == "Import").click()
        ok(at.run())
        assert "not a folder the app may read images from" in at.error[0].value, folder
        assert not (workspace / "g").exists()


def test_an_import_is_saved_only_inside_the_workspace(env, tmp_path, workspace, monkeypatch):
    """"Save the graph in" is a folder on the server a web user names: /etc, a data folder (the
    graph in use, an image root) or anywhere outside the workspace is refused in one line and
    nothing is written there."""
    monkeypatch.setenv("VLKGE_IMAGE_ROOTS", str(tmp_path / "scans"))  # readable, not writable
    (tmp_path / "scans").mkdir()
    at = ok(app("home"))
    assert escape_markdown(str(workspace)) in at.text_input(key="import_dest").help
    catalogue = ("Title,Artist,Year\n" + "".join(f"Study {i},{('Hilma af Klint', 'Edvard Munch')[i % 2]},{1900 + i}\n"
                                                 for i in range(8))).encode()
    refused = ["/etc/vlkge-import", str(env["root"] / "imported"), str(tmp_path / "scans" / "graph"),
               str(workspace / ".." / "elsewhere"), "/"]
    for dest in refused:
        at.file_uploader(key="import_csv").set_value(("c.csv", catalogue, "text/csv"))
        at.text_input(key="import_dest").set_value(dest)
        ok(at.run())
        next(b for b in at.button if b.label == "Import").click()
        ok(at.run())
        assert len(at.error) == 1 and "\n" not in at.error[0].value, dest
        assert escape_markdown(f"{Path(dest).resolve()}: not a folder the app may save a graph in") in at.error[0].value, dest
        assert dest == "/" or not Path(dest).exists(), dest
    assert sorted(p.name for p in env["root"].iterdir()) == ["entities.csv", "images", "triples.csv"]
    at.text_input(key="import_dest").set_value(str(workspace / "graphs" / "mine"))
    ok(at.run())
    next(b for b in at.button if b.label == "Import").click()
    ok(at.run())
    assert not at.error and at.success[0].value.startswith("Imported 8 artworks by 2 artists")


def test_import_a_catalogue_with_its_images_uploaded_as_a_zip(env, tmp_path, workspace):
    cat, imgs = write_catalogue(tmp_path)
    at = ok(app("home"))
    at.file_uploader(key="import_csv").set_value(("export.csv", cat.read_bytes(), "text/csv"))
    at.file_uploader(key="import_zip").set_value(
        ("scans.zip", zip_bytes({f"scans/{p.name}": p.read_bytes() for p in imgs.iterdir()}), "application/zip"))
    at.text_input(key="import_dest").set_value(str(workspace / "museum"))
    ok(at.run())
    next(b for b in at.button if b.label == "Import").click()
    ok(at.run())
    assert "4 images" in at.success[0].value, [e.value for e in at.error]
    assert not any("without pictures" in x.value for x in at.caption)
    from vlkge.data.readers import load_graph
    assert int(load_graph(workspace / "museum").has_image.sum()) == 4


def test_import_an_excel_workbook(env, tmp_path, workspace):
    import io

    import openpyxl
    book = openpyxl.Workbook()
    book.active.append(["Accession Number", "Title", "Maker", "Year"])
    for i in range(8):
        book.active.append([f"X.{i}", f"Study {i}", ("Hilma af Klint", "Edvard Munch")[i % 2], 1900 + i])
    buf = io.BytesIO()
    book.save(buf)
    at = ok(app("home"))
    at.file_uploader(key="import_csv").set_value(("objects.xlsx", buf.getvalue(),
                                                  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    ok(at.run())
    pick = {s.label: s.value for s in at.selectbox if s.key and s.key.startswith("import_col_")}
    assert (pick["Object number"], pick["Artist"], pick["Date"]) == ("Accession Number", "Maker", "Year")
    at.text_input(key="import_dest").set_value(str(workspace / "xl"))
    next(b for b in at.button if b.label == "Import").click()
    ok(at.run())
    assert at.success[0].value.startswith("Imported 8 artworks by 2 artists"), [e.value for e in at.error]


def test_catalogues_imported_here_are_offered_in_the_sidebar(env, tmp_path, monkeypatch, workspace):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VLKGE_IMPORTS", raising=False)  # the app saves imports in the workspace
    at = ok(app("home"))
    assert not at.sidebar.get("button_group")  # nothing imported here yet
    cat, _ = write_catalogue(tmp_path)
    at.file_uploader(key="import_csv").set_value(("Sammlung.csv", cat.read_bytes(), "text/csv"))
    ok(at.run())
    next(b for b in at.button if b.label == "Import").click()
    ok(at.run())
    dest = str((workspace / "graphs" / "sammlung").resolve())
    assert at.session_state["graph_spec"] == dest and not (tmp_path / "graphs").exists()
    # another session (a new tab, the next day) starts on the default graph and offers the import
    later = ok(app("home"))
    assert later.session_state["graph_spec"] != dest
    pills = later.sidebar.get("button_group")
    assert len(pills) == 1 and list(pills[0].options) == ["sammlung"]
    assert pills[0].value is None  # not the graph in use
    pills[0].set_value("sammlung")
    ok(later.run())
    assert later.session_state["graph_spec"] == dest  # (the sidebar itself after the switch: Chromium, below)


def test_import_with_columns_named_in_another_language(env, tmp_path, workspace):
    rows = "Inventarnummer;Objekttitel;Künstler;Datierung;Gattung\n" + "".join(
        f"G {i};Bildnis {i};{('Albrecht Dürer', 'Lucas Cranach der Ältere')[i % 2]};um 15{10 + i};Porträt\n"
        for i in range(10))
    at = ok(app("home"))
    at.file_uploader(key="import_csv").set_value(("bestand.csv", rows.encode("cp1252"), "text/csv"))
    ok(at.run())
    pick = {s.label: s for s in at.selectbox if s.key and s.key.startswith("import_col_")}
    assert set(pick) == {"Object number", "Title", "Artist", "Date", "Style", "Genre", "Medium", "Image", "Description",
                         "Artist id", "Artist bio", "Artist nationality", "Artist born", "Artist died", "Artist role",
                         "Year (number)"}
    assert all(s.value == "(none)" for s in pick.values())  # nothing is named plainly: the curator maps
    for label, col in {"Object number": "Inventarnummer", "Title": "Objekttitel", "Artist": "Künstler",
                       "Date": "Datierung", "Genre": "Gattung"}.items():
        pick[label].set_value(col)
    at.text_input(key="import_dest").set_value(str(workspace / "bestand"))
    ok(at.run())
    next(b for b in at.button if b.label == "Import").click()
    ok(at.run())
    assert at.success[0].value.startswith("Imported 10 artworks by 2 artists"), [e.value for e in at.error]
    from vlkge.data.readers import load_graph
    g = load_graph(workspace / "bestand")
    assert "Albrecht Dürer" in g.labels and "artwork_g-3" in g.entities and "genre_portrat" in g.entities
    assert {"isCreatedByArtist", "isCreatedInDecade", "belongsToGenre"} <= set(g.relations)


def test_import_form_shows_what_each_column_becomes_and_can_leave_one_out(env, tmp_path, workspace):
    """A Met Open Access export, uploaded as is: the column table shows the recognised mapping
    before importing (the same table the import writes), and a column left out is left out."""
    from helpers import MUSEUMS
    from vlkge.data.collection import import_collection
    from vlkge.data.readers import load_graph
    data = (MUSEUMS / "met.csv").read_bytes()
    at = ok(app("home"))
    at.file_uploader(key="import_csv").set_value(("met.csv", data, "text/csv"))
    ok(at.run())
    pick = {s.label: s.value for s in at.selectbox if s.key and s.key.startswith("import_col_")}
    assert (pick["Artist"], pick["Artist nationality"], pick["Artist born"], pick["Date"]) == (
        "Artist Display Name", "Artist Nationality", "Artist Begin Date", "Object Date")
    table = at.dataframe[0].value
    shown = {r["column"]: (r["becomes"], r["as / why"]) for r in table.to_dict("records")}
    expected = import_collection(MUSEUMS / "met.csv", None, tmp_path / "cli").column_uses
    assert shown == {u.column: (u.becomes, u.detail) for u in expected}
    assert shown["Tags"] == ("relation", "hasTag") and shown["Credit Line"][0] == "ignored"
    next(m for m in at.multiselect if m.label == "Leave out these columns").set_value(["Tags"])
    ok(at.run())
    shown = {r["column"]: r["as / why"] for r in at.dataframe[0].value.to_dict("records")}
    assert shown["Tags"] == "skipped (--skip)"
    at.text_input(key="import_dest").set_value(str(workspace / "met"))
    next(b for b in at.button if b.label == "Import").click()
    ok(at.run())
    assert at.success[0].value.startswith("Imported 30 artworks by 6 artists"), [e.value for e in at.error]
    g = load_graph(workspace / "met")
    assert "hasTag" not in g.relations and "hasCulture" in g.relations
    assert "John Doyle (1797–1868)" in g.labels and "John Doyle (born 1928)" in g.labels
    # an API's JSON ({"data": [...]}) is uploaded the same way
    at.file_uploader(key="import_csv").set_value(("aic.json", (MUSEUMS / "aic.json").read_bytes(), "application/json"))
    ok(at.run())
    shown = {r["column"]: r["as / why"] for r in at.dataframe[0].value.to_dict("records")}
    assert shown["subject_titles"] == "hasSubject" and shown["artist_display"] == "artist"


def test_after_a_reimport_the_old_run_is_kept_but_not_offered_and_a_broken_run_offers_training(env, tmp_path):

    from vlkge.data.collection import import_collection
    from vlkge.data.readers import load_graph
    cat, imgs = write_catalogue(tmp_path)
    g = tmp_path / "graph"
    import_collection(cat, imgs, g)
    train_tiny(load_graph(g), g / "runs" / "before", epochs=2)
    with open(cat, "a", encoding="utf-8") as f:
        f.write("1985.12,Poplars,Claude Monet,1891,Impressionism,landscape,,,\r\n")
    import_collection(cat, imgs, g)  # the catalogue grew: the run no longer fits the graph
    assert (g / "runs" / "before" / "model.safetensors").is_file()
    at = ok(app("home", data=str(g)))
    assert any(b.label == "Train a run now" for b in at.button)
    # a run that fits the graph but cannot be read: said so, and a new one can be trained from Home
    train_tiny(load_graph(g), g / "runs" / "after", epochs=2)
    (g / "runs" / "after" / "model.safetensors").write_bytes(b"not a model")
    at = ok(app("home", data=str(g)))
    assert any("after" in e.value for e in at.error)
    assert any(b.label == "Train a new run" for b in at.button)


def shown_confidences(at: AppTest) -> dict[str, str]:
    """Each listed prediction's label and the confidence shown beside it."""
    links = [escape_markdown_free(p.label) for p in at.get("page_link")]
    labels = [lbl.split(" ", 1)[1] for lbl in links if lbl.startswith("#")]
    confs = [m.value.split("**")[1] for m in at.markdown if m.value.startswith("confidence")]
    return dict(zip(labels, confs))


def test_predictions_confidence_does_not_move_with_the_known_links_toggle(env):
    at = ok(app("predictions", entity="artwork_rembrandt_2"))
    at.selectbox(key="pred_rel").set_value("hasStyle").run()
    hidden = shown_confidences(ok(at))
    at.toggle(key="pred_filter").set_value(False).run()
    shown = shown_confidences(ok(at))
    assert hidden and len(shown) > len(hidden)
    assert all(shown[label] == conf for label, conf in hidden.items()), (hidden, shown)
    # the graph's current answer beside the suggestions, with its own confidence
    now = next(m.value for m in at.markdown if m.value.startswith("**In the graph now:**"))
    assert "Baroque (train) · " in escape_markdown_free(now) and shown["Baroque (style)"] in escape_markdown_free(now)


def escape_markdown_free(s: str) -> str:
    return s.replace("\\", "")


def test_predictions_offer_only_relations_the_entity_takes(env):
    at = ok(app("predictions", entity="nationality_dutch"))
    assert not [s for s in at.selectbox if s.key == "pred_rel"]  # no fallback to every relation
    assert any("No relation of this graph takes a nationality as its head" in i.value for i in at.info)
    at = ok(app("predictions", entity="artist_rembrandt"))
    assert set(at.selectbox(key="pred_rel").options) == {"hasNationality", "isAssociatedWithArtMovement"}
    at.radio(key="pred_dir").set_value("head").run()
    assert ok(at).selectbox(key="pred_rel").options == ["isCreatedByArtist"]


def test_predictions_view_reopens_from_its_url(env):
    at = ok(app("predictions", entity="artwork_rembrandt_2", relation="belongsToGenre", k="7", known="1",
                split="val"))
    assert at.radio(key="pred_dir").value == "tail"
    assert at.selectbox(key="pred_rel").value == "belongsToGenre"
    assert at.number_input(key="pred_k").value == 7
    assert at.toggle(key="pred_filter").value is False  # known links shown
    assert at.radio(key="pred_eval_split").value == "val"
    # what the curator changes is written back, so the address bar is a link to this view
    at.selectbox(key="pred_rel").set_value("hasStyle").run()
    at.number_input(key="pred_k").set_value(12).run()
    ok(at)
    assert at.query_params["relation"] == "hasStyle" and at.query_params["k"] == "12"
    assert at.query_params["entity"] == "artwork_rembrandt_2" and at.query_params["known"] == "1"
    again = ok(app("predictions", **dict(at.query_params)))
    assert again.selectbox(key="pred_rel").value == "hasStyle" and again.number_input(key="pred_k").value == 12


def test_audit_cards_show_the_graph_answer_and_evidence_and_undo_restores_pending(env):
    from vlkge.curation.audit import AuditStore, default_audit_path
    at = ok(app("audit", relation="hasStyle", sample="20"))
    assert at.selectbox(key="audit_rel").value == "hasStyle" and at.number_input(key="audit_heads").value == 20
    cards = [m.value for m in at.markdown if m.value.startswith("graph: ")]
    assert cards and all(" — suggested: " in v for v in cards)
    assert any(v.startswith("Evidence: ") for v in (x.value for x in at.caption))
    at.text_input(key="audit_curator").input("Ben").run()
    first = next(b for b in ok(at).button if b.key and b.key.startswith("v_wrong_"))
    head, rel, tail = first.key[len("v_wrong_"):].split("|")
    first.click().run()
    store = AuditStore(default_audit_path(env["root"]))
    assert store.pending([(head, rel, tail)]) == []
    assert f"v_wrong_{head}|{rel}|{tail}" not in {b.key for b in ok(at).button}
    # latest decisions by title
    latest = at.dataframe[-1].value if at.dataframe else None
    assert latest is not None and env_label(env, head) in set(latest["head"]) and head not in set(latest["head"])
    at.button(key="audit_undo").click().run()
    ok(at)
    assert store.pending([(head, rel, tail)]) == [(head, rel, tail)]  # back in the queue
    assert f"v_wrong_{head}|{rel}|{tail}" in {b.key for b in at.button}
    assert [d.verdict for d in store.decisions(head=head, tail=tail)] == ["wrong"] and store.undone()


def env_label(env, entity: str) -> str:
    from vlkge.data.readers import load_graph
    g = load_graph(env["root"])
    return g.labels[g.entity_index[entity]]


def test_audit_bulk_accept_previews_then_records_every_link_above_the_threshold(env):
    from vlkge.curation.audit import AuditStore, default_audit_path
    at = ok(app("audit", relation="belongsToGenre", above="1"))
    assert at.slider(key="audit_threshold").value == 1
    at.text_input(key="audit_curator").input("Cy").run()
    caption = next(x.value for x in ok(at).caption if "would be accepted" in x.value)
    n = int(caption.split(" ")[0])
    assert n > 0
    at.button(key="audit_bulk").click().run()
    ok(at)
    store = AuditStore(default_audit_path(env["root"]))
    mine = [d for d in store.decisions(curator="Cy")]
    assert len(mine) == n and all(d.verdict == "plausible" and d.relation == "belongsToGenre" for d in mine)
    assert at.query_params["above"] == "1" and at.query_params["relation"] == "belongsToGenre"


def test_the_demo_artwork_page_says_once_that_pictures_are_illustrations(env, tmp_path, monkeypatch):
    from vlkge.data.demo import DEMO_IMAGE_NOTICE, demo_graph_path
    from vlkge.data.readers import load_graph
    demo = load_graph(str(demo_graph_path()))
    run = train_tiny(demo, tmp_path / "demo-run", epochs=1)
    monkeypatch.setenv("VLKGE_RUN", str(run))
    art = next(e for e, t, img in zip(demo.entities, demo.types, demo.images) if t == "artwork" and img)
    at = ok(app("browse", data=str(demo_graph_path()), entity=art))
    assert any("Nearest neighbours" in s.value for s in at.subheader) and at.main.get("page_link")
    notices = [c.value for c in at.caption if DEMO_IMAGE_NOTICE in c.value]
    assert len(notices) == 1, notices  # the picture and the neighbours' gallery said it twice


def test_the_sidebar_lists_the_apps_pages_not_the_pages_folder(env):
    at = ok(app("home"))
    assert [p.label for p in at.sidebar.get("page_link")][:7] == [
        "Home", "Browse", "Embedding map", "Predictions", "Audit", "New artwork", "Search by description"]


def test_a_run_elsewhere_opens_by_path_in_the_sidebar(env, monkeypatch):
    monkeypatch.delenv("VLKGE_RUN")
    at = ok(app("home"))
    assert any("No trained run" in i.value for i in at.sidebar.info)  # trained with --out elsewhere: not found
    for typed, shown in ((str(env["run"]), True), (str(env["root"]), False)):
        at = AppTest.from_file(APP, default_timeout=120)
        at.session_state["run_path"] = typed  # the sidebar's field (AppTest reruns only pages)
        ok(at.run())
        runs = [s.value for s in at.sidebar.selectbox if s.label == "Trained run"]
        if shown:
            assert runs == [Path(env["run"]).name]
        else:
            assert runs == [] and any("not a run of this graph" in w.value for w in at.sidebar.warning)
