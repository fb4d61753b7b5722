"""The elastic-net logistic-regression probe of Dalvi et al. (2019), fast and deterministic.

Loss (NeuroX 1.0.9's scaling, so λ values mean the same thing in both tools)::

    mean cross-entropy over the batch  +  λ1 · Σ|W|  +  λ2 · ‖W‖_F

NeuroX's L2 term is the Frobenius norm itself (not its square, as the paper writes);
``l2_squared=True`` switches to the paper's form. The bias is not penalised.

Why it is fast: NeuroX runs Adam on batches of 32 in a Python loop (≈12,500 steps for
40k tokens × 10 epochs), so it pays Python and autograd overhead per 32 rows. Here the
gradient of the softmax cross-entropy is written out by hand (two matrix products per
batch, no autograd), batches are large (default 1024 rows) and there are few epochs
(2–6: about 240k row visits, fewer for very wide data) with a cosine-decayed step size
and tail averaging, so the work is a handful of passes over the data at matrix-multiply
speed. The L1 term is handled by a proximal step (soft thresholding in the optimizer's
diagonal metric) rather than a subgradient, so weights that the penalty wants at zero are
exactly zero — sparsity is real, not "small".

Two optimizers (``optimizer="auto"`` picks): Adam, as NeuroX, when there are at least 16
training rows per feature; otherwise SGD with heavy-ball momentum on centred,
variance-preconditioned features with step 1/L (L from a power iteration), because
Adam's normalised steps let thousands of irrelevant weights drift and overfit wide data
(see :func:`choose_optimizer`).

Deterministic: zero-initialised weights, log-prior bias, a seeded permutation per epoch;
the same seed, device and thread count give the same weights.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from neurotui.analysis.progress import ProgressFn, report
from neurotui.errors import DataError

DEFAULT_L1 = 1e-5
DEFAULT_L2 = 1e-5


@dataclass
class ProbeConfig:
    """Training settings (defaults: the paper's λ1 = λ2 = 1e-5)."""

    l1: float = DEFAULT_L1
    l2: float = DEFAULT_L2
    epochs: int | None = None  # None: auto (see epochs_for)
    batch_size: int = 1024
    lr: float = 0.01  # Adam (with epochs_for's budget: see docs/rankings.md, "Probe")
    average_from: float = 0.5  # average the iterates of the last half of the steps
    optimizer: str = "auto"  # auto, adam or sgd (see choose_optimizer)
    lr_scale: float = 1.0  # SGD step as a multiple of 1/curvature
    seed: int = 0
    l2_squared: bool = False
    device: str = "auto"
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (saved in ``Ranking.params``)."""
        return asdict(self)


def canonical_weights(weight: np.ndarray, l1: float) -> np.ndarray:
    """The penalty-minimising representative of the softmax weights.

    Adding the same vector to every class's weights changes no prediction (the softmax is
    shift-invariant), so the loss alone does not fix the weights — only the penalty does,
    and a few epochs of Adam do not get there: it moves every coordinate at about the same
    speed, so a neuron that marks class A ends up with weight +a for A and −a for every
    other class, and per-class rankings cannot tell A's neurons from B's. Per neuron we
    subtract the value that minimises the penalty across classes — the median for the L1
    term (used when λ1 > 0; it also zeroes most "not my class" weights), the mean for L2
    alone — which leaves predictions unchanged and makes the weights the elastic net's.
    """
    w = np.asarray(weight, dtype=np.float32)
    c = w.shape[0]
    if c < 2:
        return w
    if l1 > 0:
        # Any value between the two middle weights minimises Σ|w − v|; take the one
        # nearest zero, so a column the proximal step already made sparse stays so.
        part = np.sort(w, axis=0)
        lo, hi = part[(c - 1) // 2], part[c // 2]
        centre = np.clip(0.0, lo, hi)
    else:
        centre = w.mean(axis=0)
    return (w - centre[None, :]).astype(np.float32)


def epochs_for(rows: int, requested: int | None, features: int = 1) -> int:
    """Epochs to run: as requested, else about 240k row visits (and at most about 1e9
    row × feature visits), between 2 and 10 epochs.

    Why a row budget: a small set needs several passes, a large one converges in two; a
    fixed budget keeps training time roughly flat in the data size and stops before the
    probe starts to overfit noise dimensions (early stopping acts as extra regularisation).
    """
    if requested is not None:
        return max(1, int(requested))
    by_rows = math.ceil(240_000 / max(rows, 1))
    by_work = math.ceil(1e9 / max(rows * features, 1))  # wide data: fewer passes
    return int(max(2, min(10, by_rows, by_work)))


@dataclass
class TrainedProbe:
    """Weights ``(classes, neurons)`` and bias of a trained probe (numpy, on the host).

    ``columns`` are the data columns the probe reads (all of them unless it was retrained
    on a subset); ``losses`` is the mean training loss of each epoch.
    """

    weight: np.ndarray
    bias: np.ndarray
    classes: list[str]
    config: ProbeConfig
    columns: np.ndarray | None = None
    losses: list[float] = field(default_factory=list)
    device: str = "cpu"

    def logits(self, X: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
        """Scores ``(rows, classes)``; ``keep`` masks out (zeroes) every other column."""
        X = X if self.columns is None else X[:, self.columns]
        W = self.weight
        if keep is not None:
            keep = np.asarray(keep, dtype=np.int64)
            X = X[:, keep]
            W = W[:, keep]
        out = np.empty((X.shape[0], W.shape[0]), dtype=np.float32)
        step = 65536
        Wt = np.ascontiguousarray(W.T)
        for r0 in range(0, X.shape[0], step):
            out[r0 : r0 + step] = X[r0 : r0 + step] @ Wt
        out += self.bias
        return out

    def predict(self, X: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
        """Class ids of the rows of ``X``."""
        if X.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        return self.logits(X, keep).argmax(axis=1)

    def accuracy(self, X: np.ndarray, y: np.ndarray, keep: np.ndarray | None = None) -> float:
        """Fraction of rows predicted right (``nan`` for no rows)."""
        if X.shape[0] == 0:
            return float("nan")
        return float((self.predict(X, keep) == y).mean())

    def class_accuracy(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Accuracy per class (classes absent from ``y`` are left out)."""
        pred = self.predict(X)
        out = {}
        for c, name in enumerate(self.classes):
            sel = y == c
            if sel.any():
                out[name] = float((pred[sel] == c).mean())
        return out

    def sparsity(self) -> float:
        """Fraction of weights that are exactly zero."""
        return float((self.weight == 0).mean())


def choose_optimizer(requested: str, rows: int, features: int) -> str:
    """``adam``/``sgd`` as requested; ``auto`` → SGD when there are < 16 rows per feature.

    Why: Adam's per-coordinate normalisation moves *every* weight by about the step size,
    including the weights of the thousands of features that carry nothing; when features
    are many for the rows (a 13-layer × 768 transformer store, say) those drifting weights
    swamp the signal and the probe overfits. Preconditioned SGD moves an irrelevant weight
    only as far as its (small, zero-mean) gradient pushes it.
    """
    if requested in ("adam", "sgd"):
        return requested
    if requested != "auto":
        raise DataError(f"unknown optimizer {requested!r}; use auto, adam or sgd")
    return "sgd" if rows < 16 * features else "adam"


def train_probe(
    X: np.ndarray,
    y: np.ndarray,
    classes: list[str],
    config: ProbeConfig | None = None,
    *,
    shuffled: bool = False,
    dev: tuple[np.ndarray, np.ndarray] | None = None,
    moments: tuple[np.ndarray, np.ndarray] | None = None,
    progress: ProgressFn | None = None,
) -> TrainedProbe:
    """Train the elastic-net probe on rows ``X`` (float32) with class ids ``y``.

    ``shuffled=True`` promises the rows are already in random order (a
    :class:`~neurotui.analysis.data.ProbeData` training part is): batches are then
    contiguous views, which saves a gather per batch. Otherwise the rows are shuffled
    once up front. With ``dev`` rows, the weights of the epoch with the lowest dev loss
    are kept (early stopping). ``moments`` (per-column mean and std of ``X``) saves the
    SGD optimizer a pass over the data. ``progress`` is told about every epoch and may
    raise ``Cancelled``.
    """
    import torch

    from neurotui.device import configure_threads, resolve_device

    cfg = config or ProbeConfig()
    if cfg.l1 < 0 or cfg.l2 < 0:
        raise DataError(f"regularisation must be ≥ 0 (λ1={cfg.l1}, λ2={cfg.l2})")
    n, d = X.shape
    c = len(classes)
    if n == 0:
        raise DataError("no training rows for the probe")
    if c < 2 or np.unique(y).size < 2:
        raise DataError("the probe's training rows hold fewer than two classes")
    device = resolve_device(cfg.device)
    configure_threads(cfg.threads)
    optimizer = choose_optimizer(cfg.optimizer, n, d)

    gen = torch.Generator(device="cpu").manual_seed(int(cfg.seed))
    if not shuffled:
        perm = torch.randperm(n, generator=gen).numpy()
        X, y = X[perm], np.asarray(y)[perm]
    X = np.ascontiguousarray(X, dtype=np.float32)
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    if device.type != "cpu":
        Xt, yt = Xt.to(device), yt.to(device)

    W = torch.zeros((c, d), dtype=torch.float32, device=device)
    prior = np.bincount(y, minlength=c).astype(np.float64) + 1.0
    b = torch.tensor(np.log(prior / prior.sum()), dtype=torch.float32, device=device)
    mW, vW = torch.zeros_like(W), torch.zeros_like(W)
    mb, vb = torch.zeros_like(b), torch.zeros_like(b)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    batch = max(1, min(int(cfg.batch_size), n))
    epochs = epochs_for(n, cfg.epochs, d)
    steps_per_epoch = math.ceil(n / batch) + 1
    total_steps = max(1, steps_per_epoch * epochs)

    # SGD works on centred, variance-scaled features (diagonal preconditioner P = 1/σ²),
    # done through rank-one corrections so no centred copy of X is ever made; its step is
    # 1/L, L bounding the loss curvature (power iteration on a sample of rows).
    mu = prec = None
    lr_sgd = 0.0
    if optimizer == "sgd":
        if moments is None:
            moments = column_moments(X)
        mean, std = (np.asarray(m, dtype=np.float64) for m in moments)
        var = std**2
        floor = 1e-6 * float(var[var > 0].mean()) if (var > 0).any() else 1.0
        mu = torch.tensor(mean, dtype=torch.float32, device=device)
        prec = torch.tensor(
            np.where(var > 0, 1.0 / np.maximum(var, floor), 0.0), dtype=torch.float32, device=device
        )
        lr_sgd = cfg.lr_scale / _curvature(Xt, mu, prec, gen)

    step = 0
    avg_from = int(total_steps * cfg.average_from) if cfg.average_from < 1 else total_steps + 1
    W_avg, b_avg = torch.zeros_like(W), torch.zeros_like(b)
    n_avg = 0
    losses: list[float] = []
    dev_t = None
    if dev is not None and len(dev[1]):
        dev_t = (
            torch.from_numpy(np.ascontiguousarray(dev[0], dtype=np.float32)).to(device),
            torch.from_numpy(np.ascontiguousarray(dev[1], dtype=np.int64)).to(device),
        )
    best: tuple[float, Any, Any] | None = None
    with torch.no_grad():
        for epoch in range(epochs):
            # Contiguous batches (views, no gather): the rows are already in shuffled
            # sentence order (see data.load_probe_data); each epoch shifts the batch
            # boundaries by a seeded offset and visits the batches in a seeded order.
            offset = int(torch.randint(0, batch, (1,), generator=gen)) if n > batch else 0
            starts = [0, *range(offset, n, batch)] if offset else list(range(0, n, batch))
            ends = [*starts[1:], n]
            visit = torch.randperm(len(starts), generator=gen).tolist()
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            for k in visit:
                s0, s1 = starts[k], ends[k]
                if s1 <= s0:
                    continue
                xb = Xt[s0:s1]
                yb = yt[s0:s1]
                rows = xb.shape[0]
                bias = b if mu is None else b - W @ mu  # centring, folded into the bias
                logits = torch.addmm(bias, xb, W.t())
                logp = torch.log_softmax(logits, dim=1)
                loss_sum -= logp.gather(1, yb[:, None]).sum(dtype=torch.float64)
                grad = logp.exp_()
                grad[torch.arange(rows, device=device), yb] -= 1.0
                grad /= rows
                gW = grad.t().mm(xb)
                gb = grad.sum(0)
                if mu is not None:
                    gW.sub_(torch.outer(gb, mu))  # gradient w.r.t. W of the centred model
                if cfg.l2 > 0:
                    if cfg.l2_squared:
                        gW.add_(W, alpha=2.0 * cfg.l2)
                    else:  # d‖W‖/dW = W/‖W‖ (0 at W = 0); no host sync per step
                        norm = torch.linalg.vector_norm(W).clamp_min(1e-30)
                        gW.add_(W * (cfg.l2 / norm))
                step += 1
                frac = min(step - 1, total_steps) / total_steps
                decay = 0.02 + 0.49 * (1 + math.cos(math.pi * frac))
                if optimizer == "adam":
                    lr = cfg.lr * decay
                    c1 = 1 - beta1**step
                    c2 = 1 - beta2**step
                    mW.mul_(beta1).add_(gW, alpha=1 - beta1)
                    vW.mul_(beta2).addcmul_(gW, gW, value=1 - beta2)
                    denom = (vW / c2).sqrt_().add_(eps)
                    W.addcdiv_(mW, denom, value=-lr / c1)
                    if cfg.l1 > 0:
                        # Proximal step of λ1·|W| in Adam's diagonal metric: soft-threshold.
                        thr = denom.reciprocal_().mul_(lr * cfg.l1)
                        W.copy_(W.sign() * (W.abs() - thr).clamp_(min=0))
                    mb.mul_(beta1).add_(gb, alpha=1 - beta1)
                    vb.mul_(beta2).addcmul_(gb, gb, value=1 - beta2)
                    b.addcdiv_(mb, (vb / c2).sqrt_().add_(eps), value=-lr / c1)
                else:
                    assert prec is not None
                    lr = lr_sgd * decay
                    # Heavy-ball momentum on the preconditioned gradient.
                    mW.mul_(0.9).add_(gW * prec)
                    W.sub_(mW, alpha=lr)
                    if cfg.l1 > 0:  # proximal step of λ1·|W| in the metric 1/P
                        thr = prec * (lr * cfg.l1)
                        W.copy_(W.sign() * (W.abs() - thr).clamp_(min=0))
                    mb.mul_(0.9).add_(gb)
                    b.sub_(mb, alpha=2.0 * cfg.lr_scale * decay)  # bias curvature ≤ 1/2
                if step > avg_from:
                    # Tail averaging (Polyak–Ruppert): the mean of the late iterates is
                    # closer to the optimum than any single noisy one.
                    n_avg += 1
                    W_avg.add_(W - W_avg, alpha=1.0 / n_avg)
                    b_avg.add_(b - b_avg, alpha=1.0 / n_avg)
            penalty = cfg.l1 * float(W.abs().sum())
            wn = float(torch.linalg.vector_norm(W))
            penalty += cfg.l2 * (wn * wn if cfg.l2_squared else wn)
            losses.append(float(loss_sum) / n + penalty)
            if dev_t is not None:
                cw, cb = (W_avg, b_avg) if n_avg else (W, b)
                if mu is not None:
                    cb = cb - cw @ mu
                dev_loss = float(
                    torch.nn.functional.cross_entropy(torch.addmm(cb, dev_t[0], cw.t()), dev_t[1])
                )
                if best is None or dev_loss < best[0]:
                    best = (dev_loss, cw.clone(), cb.clone())
            report(progress, "training probe", epoch + 1, epochs)
    if best is not None:
        W, b = best[1], best[2]
    else:
        if n_avg:
            W, b = W_avg, b_avg
        if mu is not None:
            b = b - W @ mu  # back to raw (uncentred) inputs
    cfg_used = replace(cfg, optimizer=optimizer)
    return TrainedProbe(
        weight=canonical_weights(W.cpu().numpy(), cfg.l1),
        bias=b.cpu().numpy(),
        classes=list(classes),
        config=cfg_used,
        losses=losses,
        device=str(device),
    )


def column_moments(X: np.ndarray, block_bytes: int = 64 * 2**20) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std in float64, over row blocks (no full-size temporary)."""
    n, d = X.shape
    step = max(1, block_bytes // max(4 * d, 1))
    shift = X[0].astype(np.float64) if n else np.zeros(d)
    shift32 = shift.astype(np.float32)
    s1 = np.zeros(d)
    s2 = np.zeros(d)
    buf = np.empty((min(step, max(n, 1)), d), dtype=np.float32)
    for r0 in range(0, n, step):
        rows = min(r0 + step, n) - r0
        blk = np.subtract(X[r0 : r0 + rows], shift32, out=buf[:rows])
        s1 += blk.sum(axis=0)
        s2 += np.einsum("ij,ij->j", blk, blk)
    m = s1 / max(n, 1)
    return shift + m, np.sqrt(np.maximum(s2 / max(n, 1) - m * m, 0.0))


def _curvature(Xt: Any, mu: Any, prec: Any, gen: Any, rows: int = 8192, iters: int = 15) -> float:
    """An upper bound of the softmax loss curvature in the preconditioned metric.

    ½·λ_max(P^½ Cov(X) P^½), the largest eigenvalue by power iteration on up to ``rows``
    training rows (the softmax Hessian is at most ½ of the feature covariance).
    """
    import torch

    sub = Xt[: min(rows, Xt.shape[0])]
    sp = prec.sqrt()
    v = torch.randn(Xt.shape[1], generator=gen).to(Xt.device)
    lam = 1.0
    for _ in range(iters):
        v = v / v.norm().clamp_min(1e-30)
        u = v * sp
        z = sub @ u - float(mu @ u)  # centred rows · u
        w = (sub.t() @ z - mu * float(z.sum())) * sp / sub.shape[0]
        lam = float(v @ w)
        v = w
    return max(0.5 * lam * 1.1, 1e-12)  # 10 % margin over the estimate
