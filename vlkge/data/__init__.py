from .graph import SPLITS, Graph
from .readers import load_graph

__all__ = ["Graph", "SPLITS", "load_graph"]
