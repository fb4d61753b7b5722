"""Typed messages between workers, widgets and screens.

Why typed messages: workers never touch widgets; they post one of these, and the handler on
the UI thread decides whether the result is still wanted (``request`` ids: a newer request
of the same ``group`` makes older results stale, and they are dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Example, NeuronStats
    from neurotui.store.ranking import Partner, Ranking
    from neurotui.tui.session import OpenStore


class JobMessage(Message):
    """Base of every worker result: which job group and request it answers."""

    def __init__(self) -> None:
        super().__init__()
        self.group = ""
        self.request = 0


class JobProgress(JobMessage):
    """A worker's progress: ``done`` of ``total`` (``total`` 0 when unknown)."""

    def __init__(self, done: int, total: int, label: str) -> None:
        super().__init__()
        self.done = done
        self.total = total
        self.label = label


class JobFinished(JobMessage):
    """A worker ended (whatever the outcome): progress displays clear themselves."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title


class JobFailed(JobMessage):
    """A worker raised; ``internal`` is true for bugs (not NeurotuiError)."""

    def __init__(self, title: str, error: BaseException, internal: bool) -> None:
        super().__init__()
        self.title = title
        self.error = error
        self.internal = internal


class StoresOpened(JobMessage):
    """Stores opened (or extracted) by the open worker; ``errors`` lists failed paths.

    ``activate``: show the first of them (else they join as partners of the shown one)."""

    def __init__(self, stores: list[OpenStore], errors: list[str], activate: bool = True) -> None:
        super().__init__()
        self.stores = stores
        self.errors = errors
        self.activate = activate


class SentencesLoaded(JobMessage):
    """Sentences of ``store`` entered the cache; sentence views redraw."""

    def __init__(self, store: str, indices: list[int]) -> None:
        super().__init__()
        self.store = store
        self.indices = indices


@dataclass
class WordStat:
    """A word with how often it is among a neuron's extreme activations (signed)."""

    word: str
    count: int
    sign: int  # +1: among the top activations, -1: among the bottom ones
    mean: float = float("nan")


@dataclass
class CardData:
    """Everything the neuron card shows about one neuron (computed in a worker)."""

    store: str
    neuron: int
    name: str
    mean: float
    std: float
    min: float
    max: float
    histogram: list[int]
    hist_edges: tuple[float, float]
    top_words: list[WordStat]
    top: list[Example]
    bottom: list[Example]
    contexts: dict[tuple[int, int], list[str]]  # (sentence, position) → context tokens
    partners: list[Partner] = field(default_factory=list)
    quantiles: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    #: the model whose weights give the output side (an MLP neuron of a causal LM or
    #: decoder, with a model known for the store); ``None``: the card shows no output side
    output_model: str | None = None
    #: tokens the neuron promotes / suppresses (token, score), once the model answered
    promoted: list[tuple[str, float]] = field(default_factory=list)
    suppressed: list[tuple[str, float]] = field(default_factory=list)
    #: why there are no promoted tokens (the model could not be loaded …), or ""
    output_note: str = ""
    output_pending: bool = False


class CardLoaded(JobMessage):
    """The card of one neuron is ready."""

    def __init__(self, card: CardData) -> None:
        super().__init__()
        self.card = card


class CardDetailsLoaded(JobMessage):
    """The slow part of a card: exact histogram and top/bottom words."""

    def __init__(
        self, store: str, neuron: int, histogram: list[int], words: list[WordStat]
    ) -> None:
        super().__init__()
        self.store = store
        self.neuron = neuron
        self.histogram = histogram
        self.words = words


class CardOutputLoaded(JobMessage):
    """The output side of a card: tokens the neuron promotes and suppresses (or why not)."""

    def __init__(
        self,
        store: str,
        neuron: int,
        promoted: list[tuple[str, float]],
        suppressed: list[tuple[str, float]],
        note: str = "",
    ) -> None:
        super().__init__()
        self.store = store
        self.neuron = neuron
        self.promoted = promoted
        self.suppressed = suppressed
        self.note = note


class RankingsListed(JobMessage):
    """The rankings saved in a store and those that can be computed for it."""

    def __init__(self, store: str, rankings: dict[str, Ranking], specs: list[Any]) -> None:
        super().__init__()
        self.store = store
        self.rankings = rankings
        self.specs = specs


class LabelsLoaded(JobMessage):
    """One label task's per-sentence labels."""

    def __init__(self, store: str, task: str, labels: list[list[str]]) -> None:
        super().__init__()
        self.store = store
        self.task = task
        self.labels = labels


class NoteSaved(JobMessage):
    """A neuron's name/note was written."""

    def __init__(self, store: str, neuron: int) -> None:
        super().__init__()
        self.store = store
        self.neuron = neuron


class StatsReady(JobMessage):
    """Per-neuron stats of a store are available (for colour scaling)."""

    def __init__(self, store: str, stats: NeuronStats) -> None:
        super().__init__()
        self.store = store
        self.stats = stats


class RankingComputed(JobMessage):
    """A ranking finished: ``rankings`` by store name (cross-model methods rank every open
    store); ``saved`` says whether the active store's copy was written into its file."""

    def __init__(
        self, store: str, key: str, rankings: dict[str, Ranking], saved: bool, notes: list[str]
    ) -> None:
        super().__init__()
        self.store = store
        self.key = key
        self.rankings = rankings
        self.saved = saved
        self.notes = notes


class SearchDone(JobMessage):
    """Sentences containing a word: ``hits`` are (sentence, position) pairs."""

    def __init__(self, store: str, word: str, hits: list[tuple[int, int]]) -> None:
        super().__init__()
        self.store = store
        self.word = word
        self.hits = hits


# -- UI-side messages (widgets → screen) ---------------------------------------------------


class NeuronHighlighted(Message):
    """The neuron under the list cursor changed."""

    def __init__(self, neuron: int) -> None:
        super().__init__()
        self.neuron = neuron


class PinToggled(Message):
    """A neuron was added to or removed from the selection."""

    def __init__(self, neuron: int) -> None:
        super().__init__()
        self.neuron = neuron


class RankingChosen(Message):
    """A ranking was chosen in the tree: a saved/computed one (``key``, optionally one class
    ``cls`` of its per-class orderings) or one still to compute (``computed`` false)."""

    def __init__(self, key: str, computed: bool, cls: str | None = None) -> None:
        super().__init__()
        self.key = key
        self.computed = computed
        self.cls = cls


class JumpToSentence(Message):
    """Show sentence ``sentence`` with the cursor on ``position``."""

    def __init__(self, sentence: int, position: int = 0) -> None:
        super().__init__()
        self.sentence = sentence
        self.position = position


class JumpToNeuron(Message):
    """Make ``store`` active and put the cursor on ``neuron``."""

    def __init__(self, store: str, neuron: int) -> None:
        super().__init__()
        self.store = store
        self.neuron = neuron


class TokenFocused(Message):
    """The sentence view's cursor token changed (the status line shows its values)."""

    def __init__(self, sentence: int, position: int) -> None:
        super().__init__()
        self.sentence = sentence
        self.position = position
