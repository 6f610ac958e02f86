"""VL-KGE: vision-language models meet knowledge graph embeddings."""
import os

__version__ = "0.1.0"

# Idle OpenMP threads yield instead of spinning: on a shared or busy machine spinning burns the
# time slices the work needs (measured 15-50x slower small training steps under load). It must
# be set before torch is first imported, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .data.graph import Graph  # noqa: E402
from .data.readers import load_graph  # noqa: E402
from .errors import DataError, VLKGEError  # noqa: E402
from .prediction.run import Prediction, Run, load_run  # noqa: E402

__all__ = ["Graph", "load_graph", "load_run", "Run", "Prediction", "DataError", "VLKGEError", "__version__"]
