"""VL-KGE: vision-language models meet knowledge graph embeddings.

The package is layered, lowest first: base modules (errors, version, atomic, paths, device, runs)
→ data → curation → encoders → models → training → evaluation, prediction → pipeline → app →
cli (and, outside the package, app.py and pages/). A module imports only its own layer and those
below; tests/test_layers.py holds the order and enforces it.

The names below are loaded on first use (PEP 562), so importing a leaf such as
``vlkge.data.graph`` does not pull in torch models or the prediction stack.
"""
import os
import sys

from .version import __version__

# Idle OpenMP threads yield instead of spinning: on a shared or busy machine spinning burns the
# time slices the work needs (measured 15-50x slower small training steps under load). It must
# be set before torch is first imported, hence here.
_SPINNING = "torch" in sys.modules and "OMP_WAIT_POLICY" not in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if _SPINNING:
    # torch's OpenMP read its environment when torch was imported, without the policy. A single
    # thread has no idle team to spin, which is the next best thing (figures: benchmarks/RESULTS.md).
    import logging

    import torch
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    logging.getLogger(__name__).warning(
        "warning: torch was imported before vlkge without OMP_WAIT_POLICY=PASSIVE, so its idle threads "
        "spin; vlkge uses %d torch thread(s). Import vlkge first or export OMP_WAIT_POLICY=PASSIVE.",
        torch.get_num_threads())


def _keep_large_freed_buffers() -> None:
    # glibc hands every freed block above its mmap threshold (32 MB at most) back to the OS and
    # page-faults the next one in afresh. torch's CPU buffers for an image batch, a training step or
    # scoring every entity are that size, so extraction spent ~40% of its CPU time in page faults
    # (benchmarks/RESULTS.md). Keep such blocks in the heap, unless the user tuned malloc themselves.
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ \
            or "GLIBC_TUNABLES" in os.environ:
        return
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    m_trim_threshold, m_mmap_threshold, limit = -1, -3, 512 << 20
    mallopt(m_mmap_threshold, limit)
    mallopt(m_trim_threshold, limit)


_keep_large_freed_buffers()

_EXPORTS = {"Graph": "data.graph", "load_graph": "data.readers", "DataError": "errors",
            "VLKGEError": "errors", "load_run": "prediction.run", "Run": "prediction.run",
            "Prediction": "prediction.run"}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
