"""The curator app in a real browser: `streamlit run app.py` on 127.0.0.1 against a small
graph, every page opened in headless Chromium, no exception box, screenshots saved."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser import ARGS, CHROMIUM, act, app_env, app_server, need_browser, settle
from helpers import make_app_graph, train_tiny, wait_until

pytestmark = pytest.mark.slow  # a Streamlit server and Chromium

# (screenshot name, url path, optional interaction: ("fill", label, text) or ("upload", None, None))
# The first request to the fresh server is a deep link: Streamlit then runs the page file before
# app.py has ever set up st.navigation, which must still work.
PAGES = [("08-entity", "browse?entity=artist_claude-monet", None),
         ("01-home", "", None), ("02-browse", "browse", ("fill", "Search by name", "bridge")),
         ("03-map", "map", None), ("04-predictions", "predictions?entity=artist_claude-monet", None),
         ("05-audit", "audit", None), ("06-new-artwork", "new", ("upload", None, None)),
         ("07-describe", "describe", ("fill", "Describe what you are looking for", "a stormy sea at night"))]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need_browser()
    from vlkge.data.readers import load_graph
    base = tmp_path_factory.mktemp("e2e")
    if os.environ.get("VLKGE_E2E_DATA"):  # screenshots of a real collection
        data, run = os.environ["VLKGE_E2E_DATA"], os.environ.get("VLKGE_E2E_RUN", "")
    else:
        data = str(make_app_graph(base / "graph"))
        run = str(train_tiny(load_graph(data), base / "run", epochs=4))
    env = app_env(base, data, run)
    if os.environ.get("VLKGE_E2E_CACHE"):
        env["VLKGE_CACHE"] = os.environ["VLKGE_E2E_CACHE"]
    with app_server(base, env) as url:
        yield url


def _painted(page) -> None:
    """Wait until every image on the page and in its iframes has loaded (before a screenshot)."""
    every_image_loaded = "() => [...document.images].every(i => i.complete || i.loading === 'lazy')"

    def loaded() -> bool:
        for frame in page.frames:
            try:
                if not frame.evaluate(every_image_loaded):
                    return False
            except Exception:  # a frame navigated or went away meanwhile: ask again
                return False
        return True

    wait_until(loaded, 30, "the page's images to load", every=0.2)


def test_every_page_in_chromium(server, tmp_path):
    from playwright.sync_api import sync_playwright
    shots = [tmp_path]
    if os.environ.get("VLKGE_SCREENSHOTS"):
        shots.append(Path(os.environ["VLKGE_SCREENSHOTS"]))
        shots[-1].mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # every page menu the browser ever draws, from the very first paint of a fresh server
            # (Streamlit's own menu of the pages/ folder listed "ui", the shared helper)
            page.add_init_script("""window.__menus = [];
                new MutationObserver(() => document.querySelectorAll('[data-testid="stSidebarNav"]')
                  .forEach(n => window.__menus.push(n.innerText))).observe(document, {childList: true, subtree: true});""")
            upload = tmp_path / "upload.png"
            from PIL import Image
            Image.new("RGB", (120, 90), (70, 110, 160)).save(upload)
            for name, path, action in PAGES:
                page.goto(f"{server}/{path}")
                settle(page)
                if action and action[0] == "fill":
                    box = page.get_by_role("textbox", name=action[1], exact=True)
                    box.fill(action[2])
                    act(page, lambda: box.press("Enter"))
                elif action and page.locator('input[type="file"]').count():
                    act(page, lambda: page.locator('input[type="file"]').set_input_files(str(upload)))
                _painted(page)
                for d in shots:
                    page.screenshot(path=str(d / f"{name}.png"), full_page=True)
                errors = page.locator('[data-testid="stException"]')
                assert errors.count() == 0, f"{path}: {errors.first.inner_text()[:500]}"
                assert page.locator("h1").count() >= 1, f"{path}: no title"
                assert page.evaluate("window.__menus") == [], path  # only the app's own page links
                sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
                assert "Embedding map" in sidebar and "_ui" not in sidebar and "\nui\n" not in sidebar
        finally:
            browser.close()
    assert len(list(tmp_path.glob("0*.png"))) == len(PAGES)


def test_import_a_catalogue_in_chromium(server, tmp_path):
    """Home's importer writes the graph and the whole app switches to it (the sidebar's graph
    folder is set by the button's callback, which AppTest cannot show); a later session opens it
    from the sidebar."""
    from playwright.sync_api import sync_playwright
    cat = tmp_path / "export.csv"
    cat.write_text("Object Number,Title,Artist,Date,Genre\n" + "".join(
        f"2001.{i},Print {i},{('Katsushika Hokusai', 'Utagawa Hiroshige')[i % 2]},18{30 + i},landscape\n"
        for i in range(12)) + ",Untitled,Utagawa Hiroshige,1850,\n", encoding="utf-8")
    scans = tmp_path / "scans.zip"  # pictures of half the prints, named by object number
    import io
    import zipfile

    from PIL import Image
    with zipfile.ZipFile(scans, "w") as z:
        for i in range(0, 12, 2):
            buf = io.BytesIO()
            Image.new("RGB", (32, 24), (20 * i, 60, 90)).save(buf, format="PNG")
            z.writestr(f"Scans/2001.{i}.png", buf.getvalue())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server)
            settle(page)
            page.get_by_text("Import your own catalogue").click()
            act(page, lambda: page.locator('input[type="file"]').first.set_input_files(str(cat)), 60)
            act(page, lambda: page.locator('input[type="file"]').nth(1).set_input_files(str(scans)), 60)
            act(page, lambda: page.get_by_role("button", name="Import", exact=True).click())
            page.screenshot(path=str(tmp_path / "import.png"), full_page=True)
            if os.environ.get("VLKGE_SCREENSHOTS"):
                page.screenshot(path=str(Path(os.environ["VLKGE_SCREENSHOTS"]) / "09-import.png"), full_page=True)
            assert page.locator('[data-testid="stException"]').count() == 0
            body = page.locator("body").inner_text()
            assert "Imported 12 artworks by 2 artists" in body and "6 images" in body and "skipped: no id" in body
            from vlkge.data.readers import load_graph
            dest = Path(page.get_by_role("textbox", name="Graph folder").input_value())
            assert dest.name == "export" and dest.parent.name == "graphs"  # the default place: $VLKGE_IMPORTS
            g = load_graph(dest)
            assert int(g.has_image.sum()) == 6
            assert f"Graph: {dest}" in body
            assert f"{g.num_entities:,} entities" in page.locator('[data-testid="stSidebar"]').inner_text()
            assert "Train a run now" in body
            # a new session starts on the default graph; the sidebar offers the import
            later = browser.new_page(viewport={"width": 1400, "height": 1000})
            later.goto(server)
            settle(later)
            sidebar = later.locator('[data-testid="stSidebar"]')
            assert f"{g.num_entities:,} entities" not in sidebar.inner_text()
            act(later, lambda: sidebar.get_by_text("export", exact=True).click(), 60)
            assert later.get_by_role("textbox", name="Graph folder").input_value() == str(dest)
            assert f"{g.num_entities:,} entities" in sidebar.inner_text()
            assert later.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()


def _clipped(page, boxes: str = '[class*="st-key-gallery_"] [data-testid="stPageLink"]',
             parts: str = "span, p") -> list[str]:
    """Texts of ``boxes`` (gallery captions by default) that the browser cuts: a part of one
    wider than its box, or ellipsised."""
    return page.evaluate("""([boxes, parts]) => [...document.querySelectorAll(boxes)]
        .flatMap(box => [...box.querySelectorAll(parts)]
          .filter(e => e.scrollWidth > e.clientWidth + 1)
          .map(e => box.innerText))""", [boxes, parts])


def test_gallery_captions_are_whole_and_keep_the_score(server):
    """Nearest neighbours show "title · score": the whole caption is on the card (wrapped), never
    cut to "Stormy sea at ni…" or to a score without its last digit."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            page.goto(f"{server}/browse?entity=artwork_claude-monet_2")
            settle(page)
            page.get_by_text("Nearest neighbours in embedding space").scroll_into_view_if_needed()
            settle(page)
            links = page.locator('[class*="st-key-gallery_nn"] [data-testid="stPageLink"]')
            assert links.count() >= 6
            import re
            assert all(re.search(r" · -?\d\.\d\d$", links.nth(k).inner_text().strip().replace("\n", " "))
                       for k in range(links.count()))
            assert _clipped(page) == []
            # the neighbourhood: pictures inlined, the layout settled and fitted, nothing fetched
            frame = page.locator("iframe").first.element_handle().content_frame()
            frame.wait_for_selector("body[data-settled='1']", state="attached", timeout=60000)
            assert frame.locator("canvas").count() == 1
            requested = []
            page.on("request", lambda r: requested.append(r.url))
            page.get_by_text("2", exact=True).first.click()
            settle(page)
            frame = page.locator("iframe").first.element_handle().content_frame()
            frame.wait_for_selector("body[data-settled='1']", state="attached", timeout=60000)
            assert [u for u in requested if not u.startswith(server) and u.split(":")[0] not in ("data", "blob", "about")] == []
        finally:
            browser.close()


def _broken_words(page, boxes: str) -> list[str]:
    """Words inside ``boxes`` that the browser splits across two lines ("Grenoui" / "llère")."""
    return page.evaluate("""(boxes) => [...document.querySelectorAll(boxes)].flatMap(box => {
        const out = [], walk = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode()) {
          for (const m of n.data.matchAll(/\\S+/g)) {
            const r = document.createRange(); r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
            if (new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1) out.push(m[0]);
          }
        }
        return out; })""", boxes)


def test_entity_and_audit_titles_are_whole_and_unbroken(server):
    """An artist's page shows its works' titles whole and breaks them between words, never inside
    one ("La Grenoui / llère" in a column too narrow for it); Audit's cards show a long title whole
    (it was cut at the card's edge, "…Black, Gray" with no way to read the rest)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server}/browse?entity=artist_claude-monet")
            settle(page)
            linked = '[class*="st-key-gallery_linked"] [data-testid="stPageLink"]'
            wait_until(lambda: page.locator(linked).count() == 5, 120, "the five linked works with a picture")
            settle(page)
            assert _broken_words(page, linked) == []
            assert _clipped(page, linked) == []
            page.goto(f"{server}/audit?sample=200")
            settle(page)
            links = '[data-testid="stMain"] [data-testid="stPageLink"]'
            wait_until(lambda: page.locator(links).count() >= 10, 120, "the queue's cards")
            settle(page)
            assert _clipped(page, links) == []
        finally:
            browser.close()


def test_home_metrics_keep_their_whole_caption_on_the_demo(server):
    """The demo's Triples metric reads "train 1,417 / val 156 / test …" whole (it was cut to
    "train 1,417 / val 156 / t…"), and no other metric's label or caption is cut."""
    from playwright.sync_api import sync_playwright
    from vlkge.data.demo import demo_graph_path
    from vlkge.data.readers import load_graph
    demo = demo_graph_path()
    splits = load_graph(demo).summary()["triples_per_split"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for width in (1400, 1100):
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.goto(f"{server}/?data={demo}")
                settle(page)
                # a loaded machine can leave Streamlit's status widget away while metrics still arrive
                metrics = page.locator('[data-testid="stMetric"]')
                wait_until(lambda: metrics.count() == 5, 60, "Home's five metrics")
                triples = metrics.filter(has_text="Triples")
                assert " / ".join(f"{k} {v:,}" for k, v in splits.items()) in triples.inner_text().replace("\n", " ")
                assert _clipped(page, '[data-testid="stMetric"]', "*") == [], width
                page.close()
        finally:
            browser.close()
