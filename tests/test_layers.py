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

import pytest

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


def cycles(root: Path, package: str) -> list[list[str]]:
    """Import cycles among the modules of ``root/package`` (every import counts)."""
    prefix = f"{root.name}.{package}."
    graph: dict[str, set[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        name = module_name(path, root)
        targets: set[str] = set()
        for target, _line, taken in imports_of(path, root):
            # ``from neurotui.models import vocab`` imports the submodule vocab
            targets.update([target, *(f"{target}.{n}" for n in taken)])
        graph[name] = {t for t in targets if t.startswith(prefix) and t != name}
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt in graph and nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return found


def test_imports_run_one_way() -> None:
    assert violations(PACKAGE) == []


@pytest.mark.parametrize("package", ["models", "store", "analysis", "intervene"])
def test_no_import_cycles_inside_a_package(package: str) -> None:
    assert cycles(PACKAGE, package) == []


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
    assert cycles(root, "models") == [
        ["neurotui.models.a", "neurotui.models.b", "neurotui.models.a"]
    ]
