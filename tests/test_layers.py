"""The import graph of vlkge/: data flows one way up LAYERS, no module cycle, no private name
used across modules. Imports inside functions count the same as those at module level: a lazy
import is still a dependency."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vlkge"

# The layer order, lowest first: a module may import its own layer and those below, never above.
# This list is the one place the order is written down.
LAYERS: list[tuple[str, ...]] = [
    ("vlkge.errors", "vlkge.version", "vlkge.atomic", "vlkge.paths", "vlkge.device", "vlkge.runs",
     "vlkge.spreadsheet"),
    ("vlkge.data",),
    ("vlkge.curation",),
    ("vlkge.encoders",),
    ("vlkge.models",),
    ("vlkge.training",),
    ("vlkge.evaluation", "vlkge.prediction"),
    ("vlkge.pipeline",),
    ("vlkge.app",),
    ("vlkge.cli", "vlkge.__main__", "vlkge"),  # "vlkge": the package's lazy facade
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    best, index = -1, None
    for i, names in enumerate(LAYERS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > best:
                best, index = len(n), i
    assert index is not None, f"{module} is in no layer: add it to LAYERS"
    return index


def imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported vlkge module, name taken from it or None, line) for every import in ``module``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "vlkge"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "vlkge":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES:  # `from . import store` imports a module, not a name
                    out.append((sub, None, node.lineno))
                else:
                    out.append((target, a.name, node.lineno))
    return [(t, n, line) for t, n, line in out if t != module]


EDGES = {m: imports(m) for m in MODULES}


def test_every_module_has_a_layer():
    for m in MODULES:
        layer_of(m)


def test_imports_only_go_down_the_layers():
    bad = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line}: {m} (layer {layer_of(m)}) imports "
           f"{t} (layer {layer_of(t)})"
           for m, edges in EDGES.items() for t, _, line in edges if layer_of(t) > layer_of(m)]
    assert not bad, "imports back up the layers:\n" + "\n".join(bad)


def test_no_private_name_across_modules():
    bad = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line}: {m} imports {n} from {t}"
           for m, edges in EDGES.items() for t, n, line in edges
           if n is not None and n.startswith("_") and not n.startswith("__")]
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_no_import_cycle():
    graph = {m: sorted({t for t, _, _ in edges if t in MODULES}) for m, edges in EDGES.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                cycles.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("source, expected", [
    ("from ..prediction.run import load_run", ("vlkge.prediction.run", "load_run")),
    ("from . import store", ("vlkge.encoders.store", None)),
    ("import vlkge.models.model", ("vlkge.models.model", None)),
])
def test_the_checker_resolves_relative_imports(tmp_path, monkeypatch, source, expected):
    # The rules above are only as good as this resolution: check it on a module placed in the tree.
    module = "vlkge.encoders.probe_for_test_layers"
    src = tmp_path / "probe.py"
    src.write_text(f"def f():\n    {source}\n")
    monkeypatch.setitem(MODULES, module, src)
    (t, n, line), = imports(module)
    assert (t, n, line) == (*expected, 2)
