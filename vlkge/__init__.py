"""VL-KGE: vision-language models meet knowledge graph embeddings."""
__version__ = "0.1.0"

from .data.graph import Graph  # noqa: E402
from .data.readers import load_graph  # noqa: E402
from .errors import DataError, VLKGEError  # noqa: E402
from .prediction.run import Prediction, Run, load_run  # noqa: E402

__all__ = ["Graph", "load_graph", "load_run", "Run", "Prediction", "DataError", "VLKGEError", "__version__"]
