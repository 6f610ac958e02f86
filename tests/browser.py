"""Browser-test helpers: a Streamlit server of the app on 127.0.0.1, and waits on what the page
shows (never fixed sleeps)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import train_tiny, wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]


def need_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(base: Path, env: dict[str, str]) -> Iterator[str]:
    """``streamlit run app.py`` with ``env``, logging to ``base/server.log``; yields its URL once
    it answers its health check, and stops it afterwards."""
    port = free_port()
    log = open(base / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                             "--server.headless", "true", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            pytest.fail((base / "server.log").read_text())
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            return True
        except OSError:
            return False
    try:
        wait_until(healthy, 120, "the Streamlit server to answer", every=0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def app_env(base: Path, data: str | Path, run: str | Path | None = None) -> dict[str, str]:
    """The environment of an app server on graph folder ``data`` (and ``run``), with its own
    cache and imports folder under ``base``."""
    env = {**os.environ, "VLKGE_DATA": str(data), "VLKGE_CACHE": str(base / "cache"),
           "VLKGE_IMPORTS": str(base / "graphs")}
    if run:
        env["VLKGE_RUN"] = str(run)
    else:
        env.pop("VLKGE_RUN", None)
    return env


@contextmanager
def trained_app_server(base: Path, data: Path, epochs: int = 2) -> Iterator[str]:
    """An app server (see :func:`app_server`) on graph folder ``data`` and a tiny run of it."""
    from vlkge.data.readers import load_graph
    run = train_tiny(load_graph(data), base / "run", epochs=epochs)
    with app_server(base, app_env(base, data, run)) as url:
        yield url


def busy(page) -> bool:
    """The script is running (Streamlit's own e2e tests read ``data-test-script-state``; its status
    widget shows only after a delay, so on a loaded machine it can be absent mid-run) or a
    spinner is up."""
    if page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').count() == 0:
        return True
    return page.locator('[data-testid="stStatusWidget"], [data-testid="stSpinner"]').count() > 0


def settle(page, timeout: float = 60.0) -> None:
    """Wait for the page's script to have run (a title or an exception appeared) and for
    Streamlit to stop running (no status widget or spinner in four polls running)."""
    page.wait_for_selector('h1, [data-testid="stException"]', timeout=timeout * 1000)
    quiet = [0]

    def calm() -> bool:
        quiet[0] = 0 if busy(page) else quiet[0] + 1
        return quiet[0] >= 4

    wait_until(calm, timeout, "Streamlit to finish running", every=0.4)


def act(page, action, timeout: float = 120.0) -> None:
    """Do ``action`` (a click, a fill, an upload) and wait until the app has reacted to it (the
    page's text changed or a rerun started) and finished."""
    body = page.locator("body")
    before = body.inner_text()
    action()
    wait_until(lambda: busy(page) or body.inner_text() != before, 30, "the app to react")
    settle(page, timeout)


def map_frame(page, timeout: float = 120.0):
    """The embedding map's component frame, once its points are drawn."""
    def drawn():
        for f in page.frames:
            if "/component/" in f.url and "embedding_map" in f.url:
                try:
                    return f if f.evaluate("() => !!document.body.dataset.ready") else None
                except Exception:  # the frame navigated or went away meanwhile: ask again
                    return None
        return None
    try:
        return wait_until(drawn, timeout, "the embedding map to draw", every=0.3)
    except AssertionError as e:
        raise AssertionError(f"{e}; frames: {[f.url for f in page.frames]}") from None
