"""The rankings tree: method → task → class, computed or waiting to be computed.

Why a tree: one store holds many rankings (probe per task, per-class orderings, cross-model
correlation, baselines); grouping them the way the papers talk about them keeps the list
short. Rankings not computed yet are shown too (⟳) and computed on Enter.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from neurotui.store.ranking import Ranking
from neurotui.tui.messages import RankingChosen
from neurotui.tui.services.rankings import RankingSpec

ALL_NEURONS = ""  # the key of the pseudo-ranking "every neuron, by id"


@dataclass(frozen=True)
class RankingNode:
    """What a tree node stands for."""

    key: str
    computed: bool
    cls: str | None = None


class RankingTree(Tree[RankingNode]):
    """Saved and computable rankings of the active store."""

    HELP = """\
## Rankings

Rankings of the open store, grouped method → task → class. **⟳** marks a ranking not
computed yet: press Enter to compute it in the background (progress at the bottom); it is
saved into the store when the format allows.

- **↑/↓, j/k** move · **←/→** fold/unfold · **Enter** show the ranking in the neuron list
"""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="rankings.down"),
        Binding("k", "cursor_up", "Up", show=False, id="rankings.up"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("rankings"), id=id)
        self.show_root = False
        self.guide_depth = 2
        self.keys: list[str] = []

    def populate(
        self, rankings: dict[str, Ranking], specs: list[RankingSpec], current: str | None
    ) -> None:
        """Rebuild the tree from saved rankings and computable specs."""
        self.clear()
        self.keys = [ALL_NEURONS, *rankings]
        root = self.root
        root.add_leaf(Text("all neurons (by id)"), data=RankingNode(ALL_NEURONS, True))
        methods: dict[str, TreeNode[RankingNode]] = {}

        def method_node(name: str) -> TreeNode[RankingNode]:
            if name not in methods:
                methods[name] = root.add(Text(name, style=Style(bold=True)), expand=True)
            return methods[name]

        done_keys = set()
        for key, ranking in rankings.items():
            done_keys.add(key)
            parent = method_node(ranking.method) if ranking.task else root
            label = Text(ranking.task or key, style=Style() if ranking.task else Style(bold=True))
            if ranking.evaluation:
                acc = ranking.evaluation.get("accuracy")
                if isinstance(acc, dict):
                    acc = acc.get("test", acc.get("dev"))
                if isinstance(acc, (int, float)):
                    label.append(f"  acc {acc:.2f}", style=Style(dim=True))
            node_data = RankingNode(key, True)
            if ranking.per_class:
                node = parent.add(label, data=node_data, expand=False)
                for cls in sorted(ranking.per_class):
                    node.add_leaf(Text(cls), data=RankingNode(key, True, cls))
            else:
                parent.add_leaf(label, data=node_data)
        for spec in specs:
            if spec.key in done_keys:
                continue
            label = Text(spec.task or spec.title, style=Style() if spec.task else Style(bold=True))
            label.append("  ⟳ compute", style=Style(dim=True))
            parent = method_node(spec.method) if spec.task else root
            parent.add_leaf(label, data=RankingNode(spec.key, False))
        self.root.expand()
        self.select_key(current)

    def select_key(self, key: str | None, cls: str | None = None) -> None:
        """Move the cursor to the node of ``key`` (and class)."""
        for line in range(self.last_line + 1):
            node = self.get_node_at_line(line)
            data = node.data if node is not None else None
            if data is not None and data.key == (key or ALL_NEURONS) and data.cls == cls:
                self.move_cursor(node)
                return

    def on_tree_node_selected(self, event: Tree.NodeSelected[RankingNode]) -> None:
        """Enter / click on a ranking."""
        event.stop()
        data = event.node.data
        if data is not None:
            self.post_message(RankingChosen(data.key, data.computed, data.cls))
