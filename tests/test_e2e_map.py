"""The embedding map in Chromium: hovering an artwork shows its thumbnail (served by the app,
nothing from elsewhere), a point without a picture shows its label alone, a lasso lists the
selection below the map and puts it in the URL, a click opens the entity's page."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from browser import ARGS, CHROMIUM, map_frame, need_browser, settle, trained_app_server
from helpers import make_app_graph, wait_until

pytestmark = pytest.mark.slow  # a Streamlit server and Chromium

# the pixel of point k of trace c, in the component frame's coordinates
PIXEL = """([c, k]) => { const gd = document.getElementById('plot'), fl = gd._fullLayout;
  return [fl.xaxis._offset + fl.xaxis.l2p(gd.data[c].x[k]), fl.yaxis._offset + fl.yaxis.l2p(gd.data[c].y[k])]; }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need_browser()
    from vlkge.data.readers import load_graph
    base = tmp_path_factory.mktemp("e2e-map")
    data = make_app_graph(base / "graph")
    with trained_app_server(base, data) as url:
        yield url, load_graph(data), base / "cache" / "map-view" / "thumbs"


def _trace(frame, name: str) -> int:
    names = frame.evaluate("() => document.getElementById('plot').data.map(t => t.name)")
    return next(k for k, n in enumerate(names) if n.startswith(name))


def test_hover_thumbnail_lasso_and_click(server):
    from playwright.sync_api import sync_playwright
    url, g, thumbs = server
    host = urlparse(url)
    foreign: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1100})
            context.on("request", lambda r: foreign.append(r.url) if urlparse(r.url).scheme not in (
                "data", "blob", "about") and urlparse(r.url).netloc != host.netloc else None)
            page = context.new_page()
            page.goto(url)  # the app's main page first: a first request to a deep link reroutes through it
            settle(page)
            page.goto(f"{url}/map")
            settle(page)
            frame = map_frame(page)
            box = page.locator('iframe[src*="embedding_map"]').bounding_box()
            wait_until(lambda: thumbs.is_dir() and len(list(thumbs.glob("*.jpg"))) == 35, 60, "the thumbnails")

            def hover(c: int, k: int) -> None:
                frame.evaluate("() => { document.getElementById('tip').hidden = true; }")
                x, y = frame.evaluate(PIXEL, [c, k])
                page.mouse.move(box["x"] + x + 1, box["y"] + y + 1)
                page.mouse.move(box["x"] + x, box["y"] + y)
                frame.wait_for_selector("#tip:not([hidden])")

            artworks = _trace(frame, "artwork")
            for k in range(3):  # one artwork has no image file: hover until one with a picture
                hover(artworks, k)
                if frame.evaluate("() => !document.getElementById('tip-img').hidden"):
                    break
            wait_until(lambda: frame.evaluate("() => { const i = document.getElementById('tip-img');"
                                              " return i.complete && i.naturalWidth > 0; }"), 30, "the thumbnail")
            label = frame.locator("#tip-label").inner_text()
            assert frame.locator("#tip-type").inner_text() == "artwork"
            assert label in {g.labels[i] for i, t in enumerate(g.types) if t == "artwork"}
            src = urlparse(frame.evaluate("() => document.getElementById('tip-img').src"))
            assert src.netloc == host.netloc and "/thumbs/" in src.path
            shot = Path(os.environ.get("VLKGE_SCREENSHOTS", "")) if os.environ.get("VLKGE_SCREENSHOTS") else None
            if shot:
                shot.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shot / "map-hover.png"))
            # a style has no picture of its own: its label alone
            hover(_trace(frame, "style"), 0)
            assert frame.evaluate("() => document.getElementById('tip-img').hidden")
            assert frame.locator("#tip-label").inner_text() in {"Impressionism", "Baroque", "Ukiyo-e"}

            # a lasso around the whole plot selects every entity
            plot = frame.evaluate("""() => { const fl = document.getElementById('plot')._fullLayout;
                return [fl.xaxis._offset, fl.yaxis._offset, fl.xaxis._length, fl.yaxis._length]; }""")
            x0, y0, w, h = plot
            corners = [(x0 + 2, y0 + 2), (x0 + w - 2, y0 + 2), (x0 + w - 2, y0 + h - 2), (x0 + 2, y0 + h - 2),
                       (x0 + 2, y0 + 4)]
            page.mouse.move(box["x"] + corners[0][0], box["y"] + corners[0][1])
            page.mouse.down()
            for cx, cy in corners[1:]:
                page.mouse.move(box["x"] + cx, box["y"] + cy, steps=8)
            page.mouse.up()
            heading = page.get_by_text(f"Selection: {g.num_entities:,} entities")
            heading.wait_for(timeout=60_000)
            settle(page)
            assert len(parse_qs(urlparse(page.evaluate("location.href")).query).get("sel", [])) == g.num_entities
            if shot:
                page.screenshot(path=str(shot / "map-lasso.png"), full_page=True)

            # a click on a point opens its page
            frame = map_frame(page)
            box = page.locator('iframe[src*="embedding_map"]').bounding_box()
            hover(artworks, 0)
            label = frame.locator("#tip-label").inner_text()
            x, y = frame.evaluate(PIXEL, [artworks, 0])
            page.mouse.click(box["x"] + x, box["y"] + y)
            # Streamlit switches pages in the document (history API): read the address there
            wait_until(lambda: "/browse" in page.evaluate("location.href"), 60, "the entity page")
            settle(page)
            assert page.locator("h1").first.inner_text() == label
            assert parse_qs(urlparse(page.evaluate("location.href")).query)["entity"][0].startswith("artwork_")
        finally:
            browser.close()
    assert not foreign, foreign
