"""The curator app under load: S simultaneous browser sessions against one `streamlit run app.py`.

    python benchmarks/app_load.py                                   # demo graph, 6 sessions x 3 rounds
    python benchmarks/app_load.py --data /work/shared/data/wikiart-mini --run /tmp/app_mini_run
    python benchmarks/app_load.py --sessions 6 --rounds 3 --timeout 300 --write-results

Loopback only (127.0.0.1). One headless Chromium (/usr/bin/chromium), one browser context per
session (asyncio playwright). Each session runs a fixed script R times:

    home        /                     -> "Collection at a glance"
    search      /browse, type a name  -> "Best matches of any type"
    entity      /browse?entity=ID     -> the entity's title and "Known facts"
    predictions /predictions, type a head, pick a relation -> "(head, relation, ?)" + ranked rows
    audit       /audit, curator name + comment, click the first "Plausible"

Latency of an action = from its first input until the page is quiet again (its expected content is
shown and Streamlit's running indicator / spinners are gone). Errors: any stException box, any
timeout, any HTTP response >= 400 or failed request to the server. The server's RSS is sampled
every second. Afterwards the AuditStore must hold exactly one decision (history and current) per
(session, round) curator name: none lost, none duplicated.

The demo graph (default) is materialised in a temporary VLKGE_CACHE so the audit database is a
fresh one; a read-only --data folder gets its audit database under that cache too. Curator names
are prefixed with a per-run tag, so a writable --data folder's own audit history is only appended
to, never read as ours. Everything is stopped after --timeout seconds at the latest.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from common import section_text, write_section

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
ACTIONS = ["home", "search", "entity", "predictions", "audit"]
SECTION = "## App under load"
# Streamlit's frontend first probes /<page>/_stcore/{health,host-config} (404) on a deep link,
# then finds the server at /: expected, counted apart from genuine HTTP failures.
PROBE = re.compile(r"^/[^/?]+/_stcore/(health|host-config)(\?.*)?$")
BUSY = '[data-testid="stStatusWidget"], [data-testid="stSpinner"], [data-testid="stSkeleton"]'


# ------------------------------------------------------------------ server

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float | None:
    try:
        import psutil  # type: ignore
        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        pass
    except Exception:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self.stop_evt = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop_evt.is_set():
            r = _rss_mb(self.pid)
            if r is not None:
                self.samples.append((time.monotonic() - t0, r))
            self.stop_evt.wait(self.every)


def start_server(data: str, run: str, cache: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "VLKGE_DATA": data, "VLKGE_RUN": run, "VLKGE_CACHE": str(cache)}
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                             "--server.headless", "true", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"streamlit exited:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
    stop_server(proc)
    raise SystemExit("streamlit did not become healthy within 90 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: only the server and its children
    except OSError:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        proc.wait(5)


# ------------------------------------------------------------------ browser driving

class Stats:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = {a: [] for a in ACTIONS}
        self.err: dict[str, list[str]] = {a: [] for a in ACTIONS}
        self.http: list[str] = []
        self.probes = 0
        self.aborted = 0
        self.broken: list[str] = []  # images shown broken after an action settled
        self.audit_clicked: dict[str, str | None] = {}  # curator -> widget key of the link clicked


async def settle(page, timeout: float, quiet_polls: int = 3, poll: float = 0.25) -> float:
    """Wait until no running indicator / spinner is visible for `quiet_polls` polls in a row;
    returns the monotonic time of the first quiet poll of that run."""
    deadline = time.monotonic() + timeout
    quiet, first_quiet = 0, None
    while time.monotonic() < deadline:
        busy = await page.locator(BUSY).count()
        if busy:
            quiet, first_quiet = 0, None
        else:
            quiet += 1
            first_quiet = first_quiet or time.monotonic()
            if quiet >= quiet_polls:
                return first_quiet
        await asyncio.sleep(poll)
    raise TimeoutError(f"still running after {timeout:.0f} s")


async def expect(page, locator, timeout: float, what: str) -> None:
    """Wait for `locator` (expected content) or an exception box, whichever comes first."""
    exc = page.locator('[data-testid="stException"]')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await exc.count():
            return  # reported by the caller
        if await locator.count():
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no {what} after {timeout:.0f} s")


async def goto(page, url: str, timeout: float) -> None:
    resp = await page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    if resp is not None and resp.status >= 400:
        raise RuntimeError(f"HTTP {resp.status} for {url}")


async def act_home(page, base, p, t):
    await goto(page, base + "/", t)
    await expect(page, page.locator("h1", has_text="Collection at a glance"), t, "Home title")
    await expect(page, page.get_by_text("Trained run", exact=True), t, "Home run card")


async def act_search(page, base, p, t):
    await goto(page, base + "/browse", t)
    await expect(page, page.locator("h1", has_text="Browse the collection"), t, "Browse title")
    await settle(page, t)
    box = page.get_by_label("Search by name")
    await box.fill(p["query"])
    await box.press("Enter")
    await expect(page, page.get_by_text("Best matches of any type:"), t, f"matches for {p['query']!r}")


async def act_entity(page, base, p, t):
    await goto(page, base + f"/browse?entity={p['entity']}", t)
    await expect(page, page.locator("h1", has_text=p["entity_label"]), t, "entity title")
    await expect(page, page.get_by_text("Nearest neighbours in embedding space"), t, "entity neighbours")


async def act_predictions(page, base, p, t):
    await goto(page, base + "/predictions", t)
    await expect(page, page.locator("h1", has_text="Predictions"), t, "Predictions title")
    await settle(page, t)
    box = page.get_by_label("Head: search")
    await box.fill(p["head_query"])
    await box.press("Enter")
    rel_box = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text("Relation", exact=True))
    await expect(page, rel_box, t, "Relation selectbox")
    await settle(page, t)
    await rel_box.locator('[role="combobox"], input').first.click()
    opts = page.get_by_role("option")
    await expect(page, opts, t, "relation options")
    names = [s.strip() for s in await opts.all_inner_texts()]
    rel = names[p["rel_pick"] % len(names)]
    p["rel_chosen"] = rel
    await opts.nth(p["rel_pick"] % len(names)).click()
    await expect(page, page.get_by_text(re.compile(r", " + re.escape(rel) + r", \?\)")), t,
                 f"results for {rel}")
    await expect(page, page.get_by_text("Evidence", exact=True), t, "ranked candidates")


async def act_audit(page, base, p, t):
    await goto(page, base + "/audit", t)
    await expect(page, page.locator("h1", has_text="Audit predicted links"), t, "Audit title")
    await settle(page, t)
    name = page.get_by_label("Your name")
    await name.fill(p["curator"])
    await name.press("Enter")
    plaus = page.get_by_role("button", name="Plausible")
    await expect(page, plaus, t, "a prediction to judge (empty queue?)")
    row = p["audit_row"]
    await settle(page, t)
    # the row's comment box and button; typed then clicked without an intermediate rerun
    deadline = time.monotonic() + t
    n = await plaus.count()
    row = min(row, n - 1)
    while await plaus.nth(row).is_disabled():
        if time.monotonic() > deadline:
            raise TimeoutError("Plausible stays disabled after entering the curator name")
        await asyncio.sleep(0.2)
    comment = page.get_by_placeholder("optional comment").nth(row)
    await comment.fill(p["comment"])
    p["link"] = await plaus.nth(row).evaluate(  # Streamlit tags the element with its widget key
        "b => { const e = b.closest('[class*=\"st-key-v_plausible_\"]');"
        " return e ? [...e.classList].find(c => c.startsWith('st-key-v_plausible_')).slice(19) : null; }")
    await plaus.nth(row).click()
    p["clicked"] = True


DO = {"home": act_home, "search": act_search, "entity": act_entity, "predictions": act_predictions,
      "audit": act_audit}


async def run_session(browser, base: str, s: int, args, plan: dict, stats: Stats, shots: Path,
                      stop_at: float) -> None:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    origin = base
    where = ["start"]

    def on_response(r):
        if not r.url.startswith(origin) or r.status < 400:
            return
        if r.status == 404 and PROBE.match(r.url[len(origin):]):
            stats.probes += 1  # the frontend looks for the server under the page's path first
        else:
            stats.http.append(f"s{s} {where[0]} HTTP {r.status} {r.url[len(origin):][:80]}")

    def on_failed(r):
        if not r.url.startswith(origin):
            return
        if "ERR_ABORTED" in (r.failure or ""):
            stats.aborted += 1  # the browser cancelled it: navigation away / a rerun replaced the element
        else:
            stats.http.append(f"s{s} {where[0]} failed {r.url[len(origin):][:80]} {r.failure}")

    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    try:
        for rnd in range(args.rounds):
            for a in ACTIONS:
                if time.monotonic() > stop_at:
                    stats.err[a].append(f"s{s}r{rnd}: skipped (overall timeout)")
                    continue
                p = plan_for(plan, s, rnd, args.tag, args.audit_row == "spread")
                where[0] = f"r{rnd}:{a}"
                t0 = time.monotonic()
                try:
                    await DO[a](page, base, p, args.action_timeout)
                    t1 = await settle(page, args.action_timeout)
                    exc = page.locator('[data-testid="stException"]')
                    if await exc.count():
                        txt = (await exc.first.inner_text())[:300].replace("\n", " ")
                        raise RuntimeError(f"stException: {txt}")
                    stats.lat[a].append(max(0.0, t1 - t0))
                    # an image the curator actually sees broken (loaded, but no pixels)
                    broken = await page.evaluate(
                        "() => [...document.images].filter(i => i.complete && i.naturalWidth === 0"
                        " && i.getBoundingClientRect().width > 0).map(i => i.src.slice(-40))")
                    if broken:
                        stats.broken.append(f"s{s} r{rnd}:{a} {len(broken)} broken: {broken[0]}")
                except Exception as e:  # noqa: BLE001 - every failure is a counted error
                    msg = f"s{s}r{rnd}: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
                    stats.err[a].append(msg)
                    try:
                        await page.screenshot(path=str(shots / f"error-s{s}-r{rnd}-{a}.png"), full_page=True)
                    except Exception:  # noqa: BLE001
                        pass
                if p.get("clicked"):
                    stats.audit_clicked[p["curator"]] = p.get("link")
                if s == 0 and rnd == args.rounds // 2:  # mid-run screenshot of each page
                    try:
                        await asyncio.sleep(0.5)
                        await page.screenshot(path=str(shots / f"mid-{a}.png"), full_page=True)
                    except Exception:  # noqa: BLE001
                        pass
    finally:
        await ctx.close()


def plan_for(plan: dict, s: int, rnd: int, tag: str, spread: bool = False) -> dict:
    k = s * 7 + rnd
    q = plan["queries"][k % len(plan["queries"])]
    e = plan["entities"][k % len(plan["entities"])]
    h = plan["heads"][k % len(plan["heads"])]
    return {"query": q, "entity": e[0], "entity_label": e[1], "head_query": h, "rel_pick": k, "audit_row": s % 8 if spread else 0,
            "curator": f"{tag}-s{s}-r{rnd}", "comment": f"load test session {s} round {rnd}"}


def make_plan(data: str) -> dict:
    """Names to type and entities to open, taken from the graph itself."""
    from vlkge.data.readers import load_graph
    g = load_graph(data)
    artists = [i for i in range(g.num_entities) if g.types[i] == "artist" and g.labels[i]]
    pool = artists or [i for i in range(g.num_entities) if g.labels[i]]
    pool = pool[:: max(1, len(pool) // 12)][:12]
    labels = [g.labels[i] for i in pool]
    return {"queries": [lab.split()[-1] for lab in labels],  # a surname: a partial search
            "entities": [(g.entities[i], g.labels[i]) for i in pool],
            "heads": labels, "graph_root": str(g.root)}


async def drive(base: str, args, plan: dict, stats: Stats, shots: Path) -> dict:
    from playwright.async_api import async_playwright
    stop_at = time.monotonic() + args.budget
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            # warm-up (not measured): the first render loads graph, run and indexes
            t0 = time.monotonic()
            ctx = await browser.new_context()
            page = await ctx.new_page()
            await goto(page, base + "/", 120)
            await expect(page, page.locator("h1"), 120, "first render")
            await settle(page, 120)
            warm = time.monotonic() - t0
            await ctx.close()
            t0 = time.monotonic()
            await asyncio.gather(*(run_session(browser, base, s, args, plan, stats, shots, stop_at)
                                   for s in range(args.sessions)))
            return {"warmup_s": warm, "load_wall_s": time.monotonic() - t0}
        finally:
            await browser.close()


# ------------------------------------------------------------------ checks and report

def _link_key(d) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", f"{d.head}|{d.relation}|{d.tail}")


def audit_check(graph_root: str, cache: Path, tag: str, expected: list[str], clicked: dict) -> dict:
    os.environ["VLKGE_CACHE"] = str(cache)  # same resolution as the server's
    from vlkge.curation.audit import AuditStore, default_audit_path
    path = default_audit_path(Path(graph_root))
    out = {"db": str(path), "expected": len(expected), "clicked": len(clicked)}
    if not path.exists():
        out.update(ok=0, missing=len(expected), duplicated=0, lost=len(clicked), extra=0, comments_ok=0)
        return out
    with AuditStore(path) as store:
        hist = [d for d in store.decisions() if d.curator.startswith(tag + "-")]
        cur = [d for d in store.current() if d.curator.startswith(tag + "-")]
    by_h: dict[str, list] = {}
    for d in hist:
        by_h.setdefault(d.curator, []).append(d)
    by_c: dict[str, list] = {}
    for d in cur:
        by_c.setdefault(d.curator, []).append(d)
    ok = [c for c in expected if len(by_c.get(c, [])) == 1 and len(by_h.get(c, [])) == 1]
    missing = [c for c in expected if c not in by_h]
    dup = [c for c in expected if len(by_h.get(c, [])) > 1 or len(by_c.get(c, [])) > 1]
    extra = [c for c in by_h if c not in expected]
    # a comment typed into the row whose button was clicked must be stored with the decision
    comments_ok = sum(1 for c in ok if (by_c[c][0].comment or "").endswith(
        "session {} round {}".format(*re.match(r".*-s(\d+)-r(\d+)$", c).groups())))
    out.update(ok=len(ok), missing=len(missing), duplicated=len(dup), extra=len(extra),
               lost=len([c for c in clicked if c not in by_h]), comments_ok=comments_ok,
               # lost clicks whose link another session had decided already (it left the queue)
               lost_taken=len([c for c in clicked if c not in by_h and clicked[c] is not None and any(
                   _link_key(d) == re.sub(r"[^A-Za-z0-9]", "", clicked[c]) for d in hist)]),
               missing_names=missing[:10], duplicated_names=dup[:10],
               links=len({(d.head, d.relation, d.tail) for d in cur}))
    return out


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))]  # nearest rank


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def report(args, stats: Stats, info: dict, rss: list[tuple[float, float]], audit: dict,
           load: tuple, load_end: tuple, cmd: str) -> str:
    lines = [f"Graph `{args.data or 'demo (embedded)'}`, run `{args.run}`; {args.sessions} sessions × "
             f"{args.rounds} rounds in one headless Chromium; load average at start "
             f"{', '.join(f'{x:.2f}' for x in load)}, at end {', '.join(f'{x:.2f}' for x in load_end)} "
             f"(2 shared cores). Warm-up (first render, not counted) {info.get('warmup_s', 0):.1f} s; "
             f"load phase {info.get('load_wall_s', 0):.1f} s.", "",
             "| action | done | errors | p50 s | p95 s | max s |", "|---|---:|---:|---:|---:|---:|"]
    alll: list[float] = []
    for a in ACTIONS:
        xs = stats.lat[a]
        alll += xs
        lines.append(f"| {a} | {len(xs)} | {len(stats.err[a])} | {fmt(pct(xs, .5))} | {fmt(pct(xs, .95))} | "
                     f"{fmt(max(xs) if xs else None)} |")
    nerr = sum(len(v) for v in stats.err.values())
    lines.append(f"| **all** | {len(alll)} | {nerr} | {fmt(pct(alll, .5))} | {fmt(pct(alll, .95))} | "
                 f"{fmt(max(alll) if alll else None)} |")
    lines.append("")
    if rss:
        vals = [r for _, r in rss]
        lines.append(f"Server RSS (sampled every 1 s, {len(vals)} samples): start {vals[0]:.0f} MB, "
                     f"peak {max(vals):.0f} MB, end {vals[-1]:.0f} MB "
                     f"(after warm-up {info.get('rss_after_warmup', vals[0]):.0f} MB).")
    media = sum(1 for h in stats.http if " HTTP 404 /media/" in h)
    lines.append(f"HTTP errors / failed requests to the server: {len(stats.http)}, of which {media} are 404s "
                 f"for `/media/...` images (plus {stats.probes} "
                 "expected 404s of Streamlit's base-path probe `/<page>/_stcore/health|host-config`, and "
                 f"{stats.aborted} requests the browser itself aborted (net::ERR_ABORTED: navigating on, or a "
                 "rerun replacing an image, before it loaded).")
    lines.append(f"Images visibly broken once an action had settled: {len(stats.broken)}"
                 + (f" (e.g. `{stats.broken[0]}`)." if stats.broken else "."))
    lines.append(f"Audit store: {audit['expected']} (session, round) curators expected, "
                 f"{audit['clicked']} clicks went through, {audit['ok']} with exactly one decision "
                 f"(history and current), {audit['missing']} missing, {audit['duplicated']} duplicated, "
                 f"{audit['extra']} unexpected, {audit.get('lost', 0)} lost after a click "
                 f"({audit.get('lost_taken', 0)} of them on a link another session had just decided); "
                 f"{audit.get('comments_ok', 0)} carry their own comment; "
                 f"{audit.get('links', 0)} distinct links decided.")
    if audit.get("lost_taken"):
        lines.append(f"The {audit['lost_taken']} lost verdicts are an app race, not the store: the Audit page "
                     "renders its buttons only for links still pending (`store.pending(...)`), and records "
                     "in the `if st.button(...)` body of the rerun the click triggers; when another curator "
                     "decided the same link in between, that rerun no longer renders the button, so the click "
                     "(and its comment) is dropped without any message.")
    errs = [e for a in ACTIONS for e in stats.err[a]] + stats.http
    if errs:
        lines.append("")
        lines.append("Errors (first 10):")
        lines += [f"- `{e}`" for e in errs[:10]]
    return "\n".join(lines)


def write_results(body: str, cmd: str) -> None:
    """Our section keeps one ``### `command` `` block per command line run, the newest replacing its own."""
    blocks: dict[str, str] = {}
    intro = ("`benchmarks/app_load.py`: S browser sessions (one headless Chromium) drive Home → Browse "
             "search → entity page → Predictions → Audit against one `streamlit run app.py` on 127.0.0.1. "
             "Latency = an action's first input until its content is shown and Streamlit is idle again.")
    for m in re.finditer(r"^### `(.*?)`\n(.*?)(?=^### `|\Z)", section_text(SECTION), re.M | re.S):
        blocks[m.group(1)] = m.group(2).strip()
    blocks[cmd] = body.strip()
    write_section(f"{SECTION}\n\n{intro}\n\n" + "\n\n".join(f"### `{k}`\n\n{v}" for k, v in blocks.items()),
                  SECTION)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="", help="graph folder (default: the embedded demo graph)")
    ap.add_argument("--run", default="", help="trained run (default for the demo: /tmp/load_demo_run, trained if absent)")
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300, help="hard limit for the whole benchmark, seconds")
    ap.add_argument("--action-timeout", type=float, default=60)
    ap.add_argument("--shots", default="/tmp/app_load_shots", help="folder for screenshots")
    ap.add_argument("--audit-row", choices=["first", "spread"], default="first",
                    help="first: every curator judges the top of the queue (as curators do); "
                         "spread: session s judges row s of the first page")
    ap.add_argument("--write-results", action="store_true",
                    help="add this run to RESULTS.md's section (replacing an earlier run of the same command)")
    args = ap.parse_args()
    args.sessions = max(1, min(args.sessions, 32))
    args.rounds = max(1, min(args.rounds, 20))
    t_start = time.monotonic()

    # hard stop: whatever hangs, the process and the server go away
    server: dict = {}

    def hard_stop(*_):
        print(f"overall timeout ({args.timeout:.0f} s): stopping", file=sys.stderr, flush=True)
        if "proc" in server:
            stop_server(server["proc"])
        os._exit(3)
    signal.signal(signal.SIGALRM, hard_stop)
    signal.alarm(int(args.timeout) + 1)

    tmp = Path(tempfile.mkdtemp(prefix="vlkge-app-load-"))
    cache = tmp / "cache"
    cache.mkdir()
    shots = Path(args.shots)
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    env_cache = {**os.environ, "VLKGE_CACHE": str(cache)}
    try:
        data = args.data
        if not data:  # the demo graph, built in our cache: a fresh audit database of its own
            data = subprocess.run([sys.executable, "-c", "from vlkge.data.demo import demo_graph_path;"
                                   "print(demo_graph_path())"], cwd=ROOT, env=env_cache, check=True,
                                  capture_output=True, text=True, timeout=120).stdout.strip().splitlines()[-1]
            if not args.run:
                args.run = "/tmp/load_demo_run"
                if not (Path(args.run) / "model.safetensors").exists():
                    print(f"training {args.run} ...", flush=True)
                    subprocess.run([sys.executable, "-m", "vlkge", "train", "--data", data, "--out", args.run,
                                    "--epochs", "30", "--quiet"], cwd=ROOT, check=True,
                                   timeout=max(10, args.timeout - (time.monotonic() - t_start) - 60))
        if not args.run or not Path(args.run).is_dir():
            raise SystemExit(f"no run at {args.run!r}: pass --run")
        plan = make_plan(data)
        args.tag = f"load{int(time.time())}"
        load = os.getloadavg()
        proc, base = start_server(data, args.run, cache, tmp / "server.log")
        server["proc"] = proc
        sampler = RssSampler(proc.pid)
        sampler.start()
        stats = Stats()
        left = args.timeout - (time.monotonic() - t_start) - 20  # room to stop and report
        args.budget = max(10.0, left - 15)
        info: dict = {}
        try:
            info = asyncio.run(asyncio.wait_for(drive(base, args, plan, stats, shots), timeout=left))
        except asyncio.TimeoutError:
            stats.err["home"].append("overall timeout: sessions cancelled")
        finally:
            time.sleep(1.5)  # one more RSS sample after the last action
            sampler.stop_evt.set()
            sampler.join(3)
            crashed = proc.poll()
            stop_server(proc)
        if crashed is not None:
            stats.err["home"].append(f"server exited with {crashed} during the run")
        if info.get("warmup_s") is not None and sampler.samples:
            idx = min(len(sampler.samples) - 1, int(info["warmup_s"]))
            info["rss_after_warmup"] = sampler.samples[idx][1]
        load_end = os.getloadavg()
        expected = [f"{args.tag}-s{s}-r{r}" for s in range(args.sessions) for r in range(args.rounds)]
        audit = audit_check(plan["graph_root"], cache, args.tag, expected, stats.audit_clicked)
        cmd = "python benchmarks/app_load.py " + " ".join(a for a in sys.argv[1:] if a != "--write-results")
        body = report(args, stats, info, sampler.samples, audit, load, load_end, cmd.strip())
        print(body)
        print(f"\naudit db {audit['db']}; screenshots in {shots}; server log {tmp / 'server.log'}")
        print(json.dumps({"errors": {a: stats.err[a] for a in ACTIONS}, "http": stats.http[:20],
                          "clicked": stats.audit_clicked, "audit": audit}, indent=1))
        if args.write_results:
            write_results(body, cmd.strip())
            print("RESULTS.md updated")
        signal.alarm(0)
        bad = sum(len(v) for v in stats.err.values()) + len(stats.http) + len(stats.broken) + audit["missing"] + audit["duplicated"]
        return 1 if bad else 0
    finally:
        if "proc" in server:
            stop_server(server["proc"])
        shutil.rmtree(cache, ignore_errors=True) if os.environ.get("VLKGE_LOAD_KEEP") is None else None


if __name__ == "__main__":
    sys.exit(main())
