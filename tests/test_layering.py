"""The package imports in data-path order: no upward import, no import cycle (README "How it works").

Every `import` in soce_bo/ counts, function-local ones included: a lazy import that breaks a cycle
is still a cycle, and a lazy upward import is still upward. A module may import its own package
and any lower layer; modules of different packages in the same layer stay independent.
A new module needs a line in LAYERS only when it starts a new top-level package or module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "soce_bo"

LAYERS: list[tuple[str, ...]] = [
    ("soce_bo", "soce_bo.errors"),  # the package docstring; the error types
    ("soce_bo.values", "soce_bo.atomic", "soce_bo.cli"),  # value types, atomic files, the CLI wrapper
    ("soce_bo.soup",),  # read, mix, write checkpoints
    ("soce_bo.serve", "soce_bo.merge"),  # vLLM server + worker extension; the merge CLI
    ("soce_bo.evaluate",),  # benchmarks, backends, scores, the evaluator of a soup
    ("soce_bo.analysis", "soce_bo.search", "soce_bo.zoo"),  # SoCE analysis, strategies; the zoo above evaluate
    ("soce_bo.recipe",),  # the driver's steps and its typed results
    ("soce_bo.report",),  # results -> report.md / report.html
    ("soce_bo.run",),  # the command line: recipe, then report
]
"""Bottom to top. A module belongs to the longest prefix listed here."""



def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imported(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """(soce_bo module imported, line) for every import statement in the file, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == "soce_bo" or target.startswith("soce_bo."):
                while target not in MODULES and "." in target:  # `import soce_bo.x.y as z` of a name
                    target = target.rpartition(".")[0]
                yield target, node.lineno


def layer_of(name: str) -> tuple[int, str]:
    """(layer index, the prefix that placed it) by the longest matching prefix."""
    best = (-1, "")
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > len(best[1]):
                best = (index, prefix)
    return best


EDGES = {name: sorted(set(imported(name, path))) for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    unplaced = [name for name in MODULES if layer_of(name)[1] == "soce_bo" and name != "soce_bo"]
    assert not unplaced, f"add these to LAYERS in tests/test_layering.py: {unplaced}"


def test_imports_only_go_down():
    bad = []
    for name, edges in EDGES.items():
        layer, home = layer_of(name)
        for target, line in edges:
            target_layer, target_home = layer_of(target)
            allowed = target_layer < layer or target_home == home
            if not allowed:
                where = f"{MODULES[name].relative_to(ROOT.parent)}:{line}"
                bad.append(f"{where} imports {target} ({target_home}, layer {target_layer}, "
                           f"from {home}, layer {layer})")
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {name: [t for t, _ in edges if t != name] for name, edges in EDGES.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
