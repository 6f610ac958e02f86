"""Small helpers shared by the benchmarks: machine load, peak RSS, timing, table formatting."""
from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from contextlib import contextmanager

# On a shared, oversubscribed machine OpenMP's default spin-waiting makes every small torch op wait for
# a descheduled worker thread (measured here: a UMLS DistMult training step takes 21-65 ms with 2 spinning
# threads vs 1.3 ms with OMP_WAIT_POLICY=PASSIVE). Must be set before torch is imported; applies to both
# libraries alike. Override by exporting OMP_WAIT_POLICY yourself.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as ``python benchmarks/x.py`` from anywhere
    sys.path.insert(0, ROOT)


def load_avg() -> str:
    """The 1/5/15-minute load average (the machine is shared; timings are noisy under load)."""
    try:
        a, b, c = os.getloadavg()
        return f"{a:.2f}, {b:.2f}, {c:.2f}"
    except OSError:
        return "n/a"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:  # noqa: BLE001
        return f"load average: {load_avg()}"


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports ru_maxrss in KiB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def machine() -> str:
    import torch
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}), "
            f"Python {platform.python_version()}")


def git_rev(rev: str = "HEAD") -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True,
                              text=True, timeout=5).stdout.strip()
    except Exception:  # noqa: BLE001
        return "?"


@contextmanager
def timer(out: dict, key: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        out[key] = time.perf_counter() - t0


def md_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1 else f"{v:,.1f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def section_text(title: str) -> str:
    """The body of RESULTS.md's ``title`` section (without its heading); "" when there is none."""
    text = (Path(ROOT) / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.rstrip() == title), None)
    if start is None:
        return ""
    end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
    return "".join(lines[start + 1:end])


def write_section(text: str, title: str) -> None:
    """Replace (or append) the section ``title`` of RESULTS.md with ``text`` (which starts with that
    heading), leaving every other benchmark's section untouched."""
    path = Path(ROOT) / "benchmarks" / "RESULTS.md"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.rstrip() == title), None)
    body = text.rstrip() + "\n"
    if start is None:
        new = old.rstrip() + "\n\n" + body
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        new = "".join(lines[:start]) + body + ("\n" + "".join(lines[end:]) if end < len(lines) else "")
    path.write_text(new, encoding="utf-8")
