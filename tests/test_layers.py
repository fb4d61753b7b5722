"""Imports run one way: tui → intervene/analysis → models/store → the neutral helpers.

Why a test: an upward import is one line, easy to add and hard to see in review (``Ranking``
once lived in ``analysis/`` while six ``store/`` modules imported it; the trainer imported
its options from the command layer). Every import counts — module level, inside a
function, or under ``TYPE_CHECKING`` — because each one ties the lower layer to the upper
one. docs/architecture.md explains the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "neurotui"

#: package → the neurotui packages its modules must never import
FORBIDDEN = {
    "store": {"analysis", "intervene", "commands", "tui", "cli", "train"},
    "models": {"analysis", "intervene", "commands", "tui", "cli", "train", "store"},
    "analysis": {"intervene", "commands", "tui", "cli"},
    "intervene": {"commands", "tui", "cli"},
    "data": {"store", "models", "analysis", "intervene", "commands", "tui", "cli"},
    "train": {"commands", "tui", "cli", "analysis", "intervene"},
    "train_options": {"commands", "tui", "cli"},
}
#: third-party packages only the app (``neurotui/tui``) may import
APP_ONLY = ("textual", "textual_plotext")
#: the neutral helpers every layer may use; they import no layer at all
NEUTRAL = {
    "argtypes",
    "atomicfile",
    "device",
    "errors",
    "metrics",
    "paths",
    "resources",
    "textfiles",
}
LAYERS = {"store", "models", "analysis", "intervene", "commands", "tui", "data", "train", "cli"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> list[tuple[str, int, list[str]]]:
    """Every module ``path`` imports (absolute name, line, the names taken from it)."""
    name = module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[tuple[str, int, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            taken = [alias.name for alias in node.names]
            if target == root.name:  # from neurotui import errors → neurotui.errors
                found.extend((f"{target}.{n}", node.lineno, []) for n in taken)
            else:
                found.append((target, node.lineno, taken))
    return found


def violations(root: Path) -> list[str]:
    """``file:line: what`` for every import that runs against the layers."""
    out: list[str] = []
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        parts = name.split(".")
        layer = parts[1] if len(parts) > 1 else ""
        where = path.relative_to(root.parent)
        for target, line, _taken in imports_of(path, root):
            tparts = target.split(".")
            if tparts[0] in APP_ONLY and layer != "tui":
                out.append(f"{where}:{line}: imports {target} outside {root.name}/tui")
            if tparts[0] != root.name or len(tparts) < 2:
                continue
            other = tparts[1]
            if other == layer:
                continue
            if other in FORBIDDEN.get(layer, ()):
                out.append(f"{where}:{line}: {layer} imports {target}")
            if layer in NEUTRAL and other in LAYERS:
                out.append(f"{where}:{line}: neutral helper {layer} imports {target}")
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the package modules it imports, as Python runs them.

    ``from pkg import sub`` imports the submodule ``sub`` (and ``pkg``, the package itself,
    only when a name is taken from it); importing ``a.b.c`` also runs the ``__init__`` of
    ``a`` and ``a.b``, except those the importer sits in (they are already running).
    """
    modules = {module_name(p, root) for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        targets: set[str] = set()
        for target, _line, taken in imports_of(path, root):
            subs = {f"{target}.{n}" for n in taken if f"{target}.{n}" in modules}
            targets |= subs
            if len(subs) < len(taken) or not taken:
                targets.add(target)
        for target in list(targets):
            parts = target.split(".")
            targets.update(".".join(parts[:i]) for i in range(1, len(parts)))
        graph[name] = {t for t in targets if t in modules and t != name and t not in own}
    return graph


def cycles(root: Path) -> list[list[str]]:
    """Import cycles among the modules of ``root`` (one per back edge found)."""
    graph = import_graph(root)
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_imports_run_one_way() -> None:
    assert violations(PACKAGE) == []


def test_no_import_cycles() -> None:
    """No two modules of the package import each other, directly or around a loop.

    Every import counts here, as in the layer rules: module level, under
    ``TYPE_CHECKING`` (a type-only import still makes the two modules one unit to read and
    to type), and inside a function (a lazy import hides a cycle, it does not remove it).
    A screen that needs the app imports its protocol (``tui/host.py``), not ``tui/app``.
    """
    assert cycles(PACKAGE) == []


def test_the_checks_catch_what_they_forbid(tmp_path: Path) -> None:
    """The rules above are only worth something if a violation fails them."""
    root = tmp_path / "neurotui"
    for folder in ("store", "models", "tui", "analysis"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "errors.py").write_text("from neurotui.store import base\n")
    (root / "store" / "base.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from neurotui.analysis.ranking import Ranking\n"
        "def f():\n"
        "    import textual\n"
    )
    (root / "tui" / "app.py").write_text("import textual\nfrom ..store import base\n")
    (root / "models" / "a.py").write_text("from neurotui.models import b\n")
    (root / "models" / "b.py").write_text("def f():\n    from neurotui.models.a import x\n")
    found = violations(root)
    assert found == [
        "neurotui/errors.py:1: neutral helper errors imports neurotui.store",
        "neurotui/store/base.py:3: store imports neurotui.analysis.ranking",
        "neurotui/store/base.py:5: imports textual outside neurotui/tui",
    ]
    assert cycles(root) == [["neurotui.models.a", "neurotui.models.b", "neurotui.models.a"]]


def test_the_cycle_check_sees_type_only_and_cross_package_loops(tmp_path: Path) -> None:
    """A loop through ``TYPE_CHECKING`` imports (the old app ↔ commands ↔ analysis) and
    one across packages both fail; reaching a sibling through its package does not."""
    root = tmp_path / "neurotui"
    for folder in ("tui", "tui/screens", "store"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "tui" / "app.py").write_text("from neurotui.tui.commands import PROVIDERS\n")
    (root / "tui" / "commands.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from neurotui.tui.screens.analysis import AnalysisScreen\n"
    )
    (root / "tui" / "screens" / "analysis.py").write_text(
        "def napp():\n    from neurotui.tui.app import NeurotuiApp\n"
    )
    (root / "store" / "a.py").write_text("from neurotui.store import b\n")
    (root / "store" / "b.py").write_text("from . import layout\n")
    (root / "store" / "layout.py").write_text("")
    assert cycles(root) == [
        [
            "neurotui.tui.app",
            "neurotui.tui.commands",
            "neurotui.tui.screens.analysis",
            "neurotui.tui.app",
        ]
    ]
    (root / "tui" / "__init__.py").write_text("from neurotui.store.a import x\n")
    (root / "store" / "layout.py").write_text("from neurotui.tui import colour\n")
    (root / "tui" / "colour.py").write_text("")
    found = cycles(root)
    assert [
        "neurotui.store.a",
        "neurotui.store.b",
        "neurotui.store.layout",
        "neurotui.tui",
        "neurotui.store.a",
    ] in found
