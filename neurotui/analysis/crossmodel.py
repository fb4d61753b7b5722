"""Cross-model correlation (Bau et al. 2019; Dalvi et al. 2019): MaxCorr, MinCorr, LinReg, SVCCA.

Several models trained alike see the same text; neurons that many models share are taken
to matter. Definitions (x_i^m: neuron i of model m over all T tokens, ρ: Pearson r):

* **MaxCorr**  score(i, m) = max_{m'≠m} max_j |ρ(x_i^m, x_j^{m'})| — a property that emerges
  strongly in at least one other model.
* **MinCorr**  score(i, m) = min_{m'≠m} max_j |ρ(x_i^m, x_j^{m'})| — a neuron with a good
  partner in *every* other model.
* **LinReg**   score(i, m) = min_{m'≠m} R(x_i^m | X^{m'}), R = sqrt of the R² of the least-
  squares regression of the neuron on all neurons of model m' — information distributed
  over several neurons of the other model (Bau et al.'s code sorts by this worst-model R).
* **SVCCA**    per pair, z-score the neurons, keep the SVD directions holding 99 % of each
  model's variance,
  run CCA between them (canonical correlations ρ_k, variates z_k). Bau et al. rank the
  *directions* by ρ_k (kept in ``evaluation["svcca"]``, with :func:`svcca_directions` for
  ablating them). A neuron's score is the R² of predicting it from the other model's
  canonical variates, Σ_k ρ_k² corr(x_i, z_k)², aggregated with min over the other models
  like LinReg; it is high for neurons that live in the shared subspace.

Every score comes from the same sufficient statistics — per-neuron sums, sums of squares
and the cross-product matrices — accumulated in ONE streaming pass over aligned chunks of
all stores, so memory depends on the neuron counts, never on the corpus length. The sums
are taken around a per-neuron shift (the first chunk's mean) in float32 matrix products
and accumulated in float64, which keeps E[xy] − E[x]E[y] from cancelling. On a GPU the
products run there. MaxCorr/MinCorr only need the between-model blocks; LinReg and SVCCA
also need each model's own covariance (``within=True``), which costs more.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.analysis.checks import describe_neurons, warn
from neurotui.analysis.progress import ProgressFn, report
from neurotui.errors import DataError
from neurotui.store.ranking import CROSS_MODEL_METHODS as METHODS
from neurotui.store.ranking import Partner, Ranking

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Store

SVCCA_VARIANCE = 0.99


# -- checking the stores --------------------------------------------------------------


def model_names(stores: Sequence[Store]) -> list[str]:
    """A distinct readable name per store (metadata ``model``/``name``, else file stem)."""
    names: list[str] = []
    for s in stores:
        meta = _metadata(s)
        model = meta.get("model") or meta.get("name")
        if isinstance(model, dict):  # our stores keep {"name", "kind", "path", …}
            model = model.get("name")
        name = str(model or getattr(s.path, "stem", "") or "model")
        names.append(name)
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if names.count(n) > 1:
            seen[n] = seen.get(n, 0) + 1
            n = f"{n}#{seen[n]}"
        out.append(n)
    return out


def _metadata(store: Store) -> dict[str, Any]:
    try:
        return dict(store.metadata)
    except Exception:  # noqa: BLE001 - metadata is optional for this check
        return {}


def sentence_digests(store: Store) -> list[bytes]:
    """A short hash of every sentence's tokens (compares whole corpora cheaply)."""
    import hashlib

    rows = store.all_tokens() if hasattr(store, "all_tokens") else None
    out = []
    for i in range(store.sentences):
        toks = rows[i] if rows is not None else store.tokens(i)
        out.append(hashlib.blake2b("\x1f".join(toks).encode("utf-8"), digest_size=8).digest())
    return out


def check_same_text(stores: Sequence[Store]) -> None:
    """Raise a one-line :class:`DataError` unless all stores hold the same tokens.

    Compares token and sentence counts, a stored source-text hash when both have one, and
    then every sentence's tokens (through per-sentence hashes).
    """
    if len(stores) < 2:
        raise DataError("cross-model correlation needs at least two stores (--others)")
    first = stores[0]
    base_len = np.asarray(first.sentence_lengths())
    hash_keys = ("text_hash", "source_hash", "source_text_hash", "tokens_hash")
    base_meta = _metadata(first)
    base_digests: list[bytes] | None = None
    for other in stores[1:]:
        where = f"{first.path} vs {other.path}"
        if other.total_tokens != first.total_tokens:
            raise DataError(
                f"{where}: different token counts ({first.total_tokens} vs {other.total_tokens}); "
                "cross-model correlation needs activations of the same text"
            )
        lengths = np.asarray(other.sentence_lengths())
        if lengths.shape != base_len.shape or not np.array_equal(lengths, base_len):
            bad = _first_difference(base_len, lengths)
            raise DataError(
                f"{where}: different sentences (sentence counts {base_len.size} vs "
                f"{lengths.size}; first difference at sentence {bad})"
            )
        meta = _metadata(other)
        for key in hash_keys:
            if key in base_meta and key in meta and base_meta[key] != meta[key]:
                raise DataError(f"{where}: different source text ({key} differs)")
        if base_digests is None:
            base_digests = sentence_digests(first)
        digests = sentence_digests(other)
        if digests != base_digests:
            i = next(
                k for k, (a, b) in enumerate(zip(base_digests, digests, strict=True)) if a != b
            )
            a, b = first.tokens(i), other.tokens(i)
            raise DataError(
                f"{where}: different text at sentence {i} ({' '.join(a[:6])!r} vs "
                f"{' '.join(b[:6])!r})"
            )


def _first_difference(a: np.ndarray, b: np.ndarray) -> int:
    n = min(a.size, b.size)
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if diff.size else n


def aligned_chunks(
    stores: Sequence[Store],
    neurons: Sequence[Sequence[int] | None] | None = None,
    chunk_tokens: int = 16384,
) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Blocks of the same corpus rows from every store, whatever each store's chunking."""
    neurons = neurons or [None] * len(stores)
    iters = [s.iter_chunks(n, chunk_tokens) for s, n in zip(stores, neurons, strict=True)]
    buffers: list[list[np.ndarray]] = [[] for _ in stores]
    have = [0] * len(stores)
    start = 0
    exhausted = [False] * len(stores)
    while True:
        for k, it in enumerate(iters):
            while have[k] < chunk_tokens and not exhausted[k]:
                try:
                    _, block = next(it)
                except StopIteration:
                    exhausted[k] = True
                    break
                buffers[k].append(block)
                have[k] += block.shape[0]
        rows = min(have)
        if rows == 0:
            if any(have):
                raise DataError("stores ran out of rows at different points while streaming")
            return
        out = []
        for k in range(len(stores)):
            joined = np.concatenate(buffers[k]) if len(buffers[k]) > 1 else buffers[k][0]
            out.append(joined[:rows])
            rest = joined[rows:]
            buffers[k] = [rest] if rest.shape[0] else []
            have[k] -= rows
        yield start, out
        start += rows


# -- one streaming pass -------------------------------------------------------------


@dataclass
class CrossStats:
    """Sufficient statistics of several models' neurons over the same tokens.

    ``sizes[m]`` neurons per model; ``cross[(a, b)]`` (a < b) is Σ (x_a − shift_a)ᵀ(x_b −
    shift_b); ``within[a]`` the same for a with itself (only when asked for).
    """

    sizes: list[int]
    within_needed: bool = False
    device: str = "cpu"
    rows: int = 0
    shift: list[np.ndarray] = field(default_factory=list)
    s1: list[np.ndarray] = field(default_factory=list)
    s2: list[np.ndarray] = field(default_factory=list)
    nonfinite: list[np.ndarray] = field(default_factory=list)
    cross: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    within: dict[int, np.ndarray] = field(default_factory=dict)
    _acc: Any = None  # device accumulators while streaming

    def update(self, blocks: Sequence[np.ndarray]) -> None:
        """Add the same rows of every model (``blocks[m]`` is ``(rows, sizes[m])``)."""
        import torch

        dev = torch.device(self.device)
        if self._acc is None:
            self._start(blocks, dev)
        acc = self._acc
        ts = []
        for m, block in enumerate(blocks):
            if block.shape[1] != self.sizes[m]:
                raise DataError(
                    f"model {m}: block has {block.shape[1]} neurons, expected {self.sizes[m]}"
                )
            rows = block.shape[0]
            buf = acc["buf"][m]
            if buf is None or buf.shape[0] < rows:
                buf = acc["buf"][m] = torch.empty(
                    (rows, self.sizes[m]), dtype=torch.float32, device=dev
                )
            t = buf[:rows]
            # Copy into a reused buffer (and onto the device), then centre in place: no
            # allocation per chunk, and the caller's block is never modified.
            t.copy_(torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32)))
            t.sub_(acc["shift"][m])
            colsum = t.sum(0)
            if not bool(torch.isfinite(colsum).all()):
                # Slow path only for blocks holding NaN/Inf: count them, treat as the shift.
                finite = torch.isfinite(t)
                acc["nonfinite"][m] += (~finite).sum(0).to(torch.int64)
                t.masked_fill_(~finite, 0.0)
                colsum = t.sum(0)
            acc["s1"][m] += colsum.to(torch.float64)
            if t.device.type == "cpu":  # numpy's einsum is ~5× faster than (t*t).sum(0) here
                tn = t.numpy()
                acc["s2"][m] += torch.from_numpy(np.einsum("ij,ij->j", tn, tn)).to(torch.float64)
            else:
                acc["s2"][m] += (t * t).sum(0).to(torch.float64)
            ts.append(t)
        M = len(ts)
        for a in range(M):
            for b in range(a if self.within_needed else a + 1, M):
                # Float32 product of centred blocks (BLAS), accumulated in float64.
                acc["prod"][(a, b)] += (ts[a].t() @ ts[b]).to(torch.float64)
        self.rows += int(blocks[0].shape[0])

    def _start(self, blocks: Sequence[np.ndarray], dev: Any) -> None:
        import torch

        acc: dict[str, Any] = {
            "shift": [],
            "s1": [],
            "s2": [],
            "nonfinite": [],
            "prod": {},
            "buf": [None] * len(blocks),
        }
        for m, block in enumerate(blocks):
            # Any value near the mean works as the shift; the first rows are enough.
            head = np.asarray(block[:1024], dtype=np.float64)
            finite = np.isfinite(head)
            cnt = finite.sum(0)
            shift = np.where(cnt > 0, np.where(finite, head, 0).sum(0) / np.maximum(cnt, 1), 0.0)
            acc["shift"].append(torch.tensor(shift, dtype=torch.float32, device=dev))
            acc["s1"].append(torch.zeros(self.sizes[m], dtype=torch.float64, device=dev))
            acc["s2"].append(torch.zeros(self.sizes[m], dtype=torch.float64, device=dev))
            acc["nonfinite"].append(torch.zeros(self.sizes[m], dtype=torch.int64, device=dev))
        M = len(blocks)
        for a in range(M):
            for b in range(a if self.within_needed else a + 1, M):
                acc["prod"][(a, b)] = torch.zeros(
                    (self.sizes[a], self.sizes[b]), dtype=torch.float64, device=dev
                )
        self._acc = acc

    def finish(self) -> CrossStats:
        """Move the accumulators to numpy (call once, after the last update)."""
        acc = self._acc
        if acc is None or self.rows == 0:
            raise DataError("no tokens to correlate")
        self.shift = [t.double().cpu().numpy() for t in acc["shift"]]
        self.s1 = [t.cpu().numpy() for t in acc["s1"]]
        self.s2 = [t.cpu().numpy() for t in acc["s2"]]
        self.nonfinite = [t.cpu().numpy() for t in acc["nonfinite"]]
        for (a, b), t in acc["prod"].items():
            if a == b:
                self.within[a] = t.cpu().numpy()
            else:
                self.cross[(a, b)] = t.cpu().numpy()
        self._acc = None
        return self

    # -- derived quantities --------------------------------------------------------
    def mean(self, m: int) -> np.ndarray:
        """Per-neuron mean of model ``m``."""
        return self.shift[m] + self.s1[m] / self.rows

    def std(self, m: int) -> np.ndarray:
        """Per-neuron population standard deviation of model ``m``."""
        mu = self.s1[m] / self.rows
        return np.sqrt(np.maximum(self.s2[m] / self.rows - mu * mu, 0.0))

    def dead(self, m: int) -> np.ndarray:
        """Ids of model ``m``'s constant neurons (their correlations are undefined)."""
        std = self.std(m)
        scale = np.maximum(np.abs(self.mean(m)), 1.0)
        return np.flatnonzero(~(std > 1e-6 * scale))

    def covariance(self, a: int, b: int) -> np.ndarray:
        """Covariance matrix between models ``a`` and ``b`` (``a == b`` needs ``within``)."""
        n = self.rows
        if a == b:
            if a not in self.within:
                raise ValueError("within-model statistics were not accumulated")
            prod = self.within[a]
        elif a < b:
            prod = self.cross[(a, b)]
        else:
            prod = self.cross[(b, a)].T
        return prod / n - np.outer(self.s1[a] / n, self.s1[b] / n)

    def correlation(self, a: int, b: int) -> np.ndarray:
        """Pearson r between every neuron of ``a`` and of ``b`` (0 for dead neurons)."""
        cov = self.covariance(a, b)
        sa, sb = self.std(a), self.std(b)
        da, db = self.dead(a), self.dead(b)
        sa = sa.copy()
        sb = sb.copy()
        sa[da] = 1.0
        sb[db] = 1.0
        r = cov / np.outer(sa, sb)
        r[da, :] = 0.0
        r[:, db] = 0.0
        if a == b:
            d = np.arange(r.shape[0])
            r[d, d] = 1.0
        return np.clip(r, -1.0, 1.0)


def accumulate(
    stores: Sequence[Store],
    *,
    within: bool = False,
    neurons: Sequence[Sequence[int] | None] | None = None,
    chunk_tokens: int = 16384,
    device: str = "auto",
    check_text: bool = True,
    progress: ProgressFn | None = None,
) -> CrossStats:
    """One streaming pass over aligned chunks of ``stores`` → :class:`CrossStats`."""
    from neurotui.device import resolve_device

    if check_text:
        check_same_text(stores)
    dev = resolve_device(device)
    sizes = []
    for k, s in enumerate(stores):
        chosen = None if neurons is None else neurons[k]
        sizes.append(s.neuron_count if chosen is None else len(chosen))
    stats = CrossStats(sizes=sizes, within_needed=within, device=str(dev))
    total = stores[0].total_tokens
    for _start, blocks in aligned_chunks(stores, neurons, chunk_tokens):
        stats.update(blocks)
        report(progress, "correlating", stats.rows, total)
    stats.finish()
    for m, bad in enumerate(stats.nonfinite):
        if bad.any():
            warn(
                f"{stores[m].path}: NaN/Inf activations in {int((bad > 0).sum())} neurons were "
                "treated as the neuron's mean in the correlations"
            )
    return stats


# -- scores ----------------------------------------------------------------------------


@dataclass
class CrossResult:
    """Scores of every neuron of model ``m`` plus its best partner in each other model."""

    model: int
    scores: np.ndarray
    partners: dict[int, list[Partner]]
    dead: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def best_partners(
    stats: CrossStats, m: int, names: Sequence[str]
) -> tuple[np.ndarray, dict[int, list[Partner]]]:
    """Max |r| per other model ``(others, neurons)`` and each neuron's partners."""
    others = [o for o in range(len(stats.sizes)) if o != m]
    best = np.zeros((len(others), stats.sizes[m]))
    partners: dict[int, list[Partner]] = {i: [] for i in range(stats.sizes[m])}
    for k, o in enumerate(others):
        r = stats.correlation(m, o)
        j = np.abs(r).argmax(axis=1)
        rv = r[np.arange(r.shape[0]), j]
        best[k] = np.abs(rv)
        for i in range(r.shape[0]):
            partners[i].append(Partner(model=names[o], neuron=int(j[i]), r=float(rv[i])))
    return best, partners


def linreg_power(stats: CrossStats, m: int, o: int, ridge: float = 1e-6) -> np.ndarray:
    """R (sqrt of R²) of regressing each neuron of ``m`` on all neurons of ``o``."""
    R_oo = stats.correlation(o, o)
    R_om = stats.correlation(o, m)
    dim = R_oo.shape[0]
    A = R_oo + ridge * np.eye(dim)
    coef = np.linalg.solve(A, R_om)
    r2 = np.einsum("ij,ij->j", R_om, coef)
    return np.sqrt(np.clip(r2, 0.0, 1.0))


@dataclass
class SVCCAPair:
    """SVCCA between models a and b: canonical correlations and the maps to variates.

    ``transform_a`` (neurons_a × k) turns centred activations of a into its canonical
    variates (unit variance), likewise ``transform_b``; ``loadings_a`` (neurons_a × k) are
    the covariances of a's neurons with its variates.
    """

    correlations: np.ndarray
    transform_a: np.ndarray
    transform_b: np.ndarray
    loadings_a: np.ndarray
    kept_a: int
    kept_b: int


def _svd_directions(cov: np.ndarray, keep: float) -> tuple[np.ndarray, np.ndarray]:
    vals, vecs = np.linalg.eigh(cov)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    vals = np.clip(vals, 0.0, None)
    total = vals.sum()
    if total <= 0:
        return vals[:0], vecs[:, :0]
    k = int(np.searchsorted(np.cumsum(vals) / total, keep) + 1)
    k = max(1, min(k, int((vals > 1e-12 * vals[0]).sum())))
    return vals[:k], vecs[:, :k]


def svcca_directions(
    stats: CrossStats, a: int, b: int, keep: float = SVCCA_VARIANCE, normalize: bool = True
) -> SVCCAPair:
    """SVCCA (Raghu et al. 2017) between models ``a`` and ``b`` from the stored statistics.

    ``normalize`` z-scores every neuron first (works on correlation matrices). Without it
    (Bau et al.'s default) the 99 % variance cut drops low-variance directions, and with
    them any shared neuron whose activations happen to be small in scale; with it every
    neuron counts alike. The transforms then act on z-scored activations.
    """
    pick = stats.correlation if normalize else stats.covariance
    la, va = _svd_directions(pick(a, a), keep)
    lb, vb = _svd_directions(pick(b, b), keep)
    if la.size == 0 or lb.size == 0:
        raise DataError("SVCCA: a model has no variance (all neurons constant)")
    wa = va / np.sqrt(la)  # neurons → whitened SVD coordinates
    wb = vb / np.sqrt(lb)
    T = wa.T @ pick(a, b) @ wb
    u, s, vt = np.linalg.svd(T, full_matrices=False)
    s = np.clip(s, 0.0, 1.0)
    loadings = va * np.sqrt(la) @ u  # cov(x_a, z_k) = V Λ^{1/2} u_k
    return SVCCAPair(
        correlations=s,
        transform_a=wa @ u,
        transform_b=wb @ vt.T,
        loadings_a=loadings,
        kept_a=int(la.size),
        kept_b=int(lb.size),
    )


def cross_scores(stats: CrossStats, m: int, method: str, names: Sequence[str]) -> CrossResult:
    """Scores of model ``m``'s neurons by ``method`` (see the module docstring)."""
    if method not in METHODS:
        raise DataError(f"unknown cross-model method {method!r}; choose from {', '.join(METHODS)}")
    if len(stats.sizes) < 2:
        raise DataError("cross-model correlation needs at least two models")
    best, partners = best_partners(stats, m, names)
    others = [o for o in range(len(stats.sizes)) if o != m]
    extra: dict[str, Any] = {}
    if method == "maxcorr":
        scores = best.max(axis=0)
    elif method == "mincorr":
        scores = best.min(axis=0)
    elif method == "linreg":
        if not stats.within:
            raise DataError("linreg needs within-model statistics (accumulate(within=True))")
        power = np.stack([linreg_power(stats, m, o) for o in others])
        scores = power.min(axis=0)
        extra["linreg_r"] = {names[o]: power[k].tolist() for k, o in enumerate(others)}
    else:
        if not stats.within:
            raise DataError("svcca needs within-model statistics (accumulate(within=True))")
        per = []
        info = {}
        safe = np.ones(stats.sizes[m])  # z-scored neurons have unit variance
        for o in others:
            pair = svcca_directions(stats, m, o)
            r2 = (pair.loadings_a**2 * pair.correlations**2).sum(axis=1) / safe
            per.append(np.clip(r2, 0.0, 1.0))
            info[names[o]] = {
                "kept_dims": [pair.kept_a, pair.kept_b],
                "correlations": [round(float(v), 6) for v in pair.correlations[:50]],
            }
        scores = np.stack(per).min(axis=0)
        extra["svcca"] = info
    dead = stats.dead(m)
    scores = np.asarray(scores, dtype=np.float64)
    scores[dead] = -1.0
    return CrossResult(model=m, scores=scores, partners=partners, dead=dead, extra=extra)


def cross_ranking(
    stats: CrossStats,
    m: int,
    method: str,
    names: Sequence[str],
    neuron_names: Sequence[str] | None = None,
    neuron_ids: Sequence[int] | None = None,
    model_ids: Sequence[Sequence[int] | None] | None = None,
) -> Ranking:
    """A :class:`Ranking` of model ``m`` by ``method`` (dead neurons last, with score 0).

    ``neuron_ids`` are model ``m``'s global ids of the correlated columns and
    ``model_ids[o]`` those of model ``o`` (for partners), when only some neurons were
    streamed; by default column k is neuron k.
    """
    res = cross_scores(stats, m, method, names)
    if model_ids is not None:
        lookup = {names[o]: ids for o, ids in enumerate(model_ids) if ids is not None}
        for plist in res.partners.values():
            for p in plist:
                if p.model in lookup:
                    p.neuron = int(lookup[p.model][p.neuron])
    n = res.scores.size
    ids = np.arange(n) if neuron_ids is None else np.asarray(neuron_ids)
    order = np.lexsort((np.arange(n), -res.scores))
    if res.dead.size:
        labels = [neuron_names[i] if neuron_names else str(int(ids[i])) for i in res.dead]
        warn(
            f"{names[m]}: dead (constant) {describe_neurons(range(len(labels)), labels)} "
            "have no correlation and are ranked last"
        )
    scores = np.maximum(res.scores, 0.0)
    partners = {int(ids[i]): p for i, p in res.partners.items()}
    return Ranking(
        method=method,
        order=[int(ids[i]) for i in order],
        scores=[float(scores[i]) for i in order],
        params={
            "models": list(names),
            "model": names[m],
            "tokens": int(stats.rows),
            "dead_neurons": [int(ids[i]) for i in res.dead],
        },
        partners=partners,
        evaluation=res.extra or None,
        neuron_names=None if neuron_names is None else [neuron_names[i] for i in order],
    )


def rank_stores(
    stores: Sequence[Store],
    method: str,
    *,
    chunk_tokens: int = 16384,
    device: str = "auto",
    progress: ProgressFn | None = None,
) -> list[Ranking]:
    """Rank every store's neurons by ``method`` against the others (one pass)."""
    if method not in METHODS:
        raise DataError(f"unknown cross-model method {method!r}; choose from {', '.join(METHODS)}")
    stats = accumulate(
        stores,
        within=method in ("linreg", "svcca"),
        chunk_tokens=chunk_tokens,
        device=device,
        progress=progress,
    )
    names = model_names(stores)
    out = []
    for m, store in enumerate(stores):
        neuron_names = [store.neuron_name(i) for i in range(store.neuron_count)]
        out.append(cross_ranking(stats, m, method, names, neuron_names))
    return out
