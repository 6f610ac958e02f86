"""VL-KGE: vision-language models meet knowledge graph embeddings."""
from .data.graph import Graph
from .data.readers import load_graph
from .errors import DataError, VLKGEError

__version__ = "0.1.0"

__all__ = ["Graph", "load_graph", "DataError", "VLKGEError", "__version__"]
