"""Graphs: reading, validating, importing catalogues.

The names below are loaded on first use (PEP 562): the graph type holds torch tensors, and
commands that only fetch or write files (``vlkge download``, the catalogue importer's own
modules) should not pay for importing torch.
"""
_EXPORTS = {"Graph": "graph", "SPLITS": "graph", "load_graph": "readers"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
