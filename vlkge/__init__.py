"""VL-KGE: vision-language models meet knowledge graph embeddings."""
import os
import sys

__version__ = "0.1.0"

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

from .data.graph import Graph  # noqa: E402
from .data.readers import load_graph  # noqa: E402
from .errors import DataError, VLKGEError  # noqa: E402
from .prediction.run import Prediction, Run, load_run  # noqa: E402

__all__ = ["Graph", "load_graph", "load_run", "Run", "Prediction", "DataError", "VLKGEError", "__version__"]
