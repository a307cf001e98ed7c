"""Data filtering under repetition (Goyal et al. 2024): per-epoch input columns and pool mixtures.

Goyal, Maini, Lipton, Raghunathan & Kolter, "Scaling Laws for Data Filtering -- Data
Curation cannot be Compute Agnostic" (CVPR 2024, arXiv:2404.07177), §3, model the error
of a model trained on a pool of S samples, seeing n samples in all, epoch by epoch: the
first epoch follows y = (a n)^b + d, and in the k-th repetition (k = 1, 2, ...) the
exponent has decayed to b_k = b 2^(-k/tau) (tau: the half-life, in repetitions), applied
multiplicatively to everything seen so far::

    y = ((a n_1)^b + d) * prod_{k >= 1} (n_{k+1}/n_k)^(b 2^(-k/tau)),    n_k = min(n, k S).

That is the authors' released ``func_effective_utility`` (github.com/locuslab/
scaling_laws_data_filtering, objective.py); d enters the product there, and so here.
The product over epochs needs one input per epoch: :func:`repetition_columns` builds
them (``n1`` and the log-ratios ``l1, l2, ...``), as :func:`~lawfit.catalog.lr_areas`
builds the learning-rate areas, and the catalog entry ``goyal_repetition`` sums
``b 2^(-k/tau) l_k`` in Horner form.  :func:`pool_mixture` predicts a mixture of pools
from each pool's fitted (b, tau), as the authors' ``estimate_best_pool.py`` does.
"""
from __future__ import annotations

import numpy as np

__all__ = ["repetition_columns", "repetition_formula", "pool_mixture", "MAX_EPOCHS"]

#: Epochs the catalog entry covers (one input column per repetition after the first epoch).
MAX_EPOCHS = 32


def repetition_formula(max_epochs: int = MAX_EPOCHS) -> str:
    """The formula of ``goyal_repetition`` for up to ``max_epochs`` epochs.

    r = 2^(-1/tau) = exp(-log(2)/tau); the sum of b r^k l_k is written left-nested
    (Horner) so the program's value stack stays shallow.

    Examples
    --------
    >>> repetition_formula(3)
    '((a*n1)**b + d)*exp(b*((l2*exp(-0.6931471805599453/tau) + l1)*exp(-0.6931471805599453/tau)))'
    """
    r = "exp(-0.6931471805599453/tau)"
    K = int(max_epochs) - 1
    if K < 1:
        raise ValueError("max_epochs must be at least 2")
    s = f"l{K}"
    for k in range(K - 1, 0, -1):
        s = f"({s}*{r} + l{k})"
    return f"((a*n1)**b + d)*exp(b*({s}*{r}))"


def repetition_columns(samples_seen, pool_size, max_epochs: int = MAX_EPOCHS) -> dict:
    """The inputs of ``goyal_repetition``: ``n1`` and ``l1 .. l{max_epochs-1}``.

    Parameters
    ----------
    samples_seen : array_like
        Samples seen so far (n), one value per data point.
    pool_size : float or array_like
        Unique samples in the pool (S).
    max_epochs : int
        Epochs the law covers (its default, 32); more raises ValueError.

    Returns
    -------
    dict of ndarray
        ``n1 = min(n, S)`` and ``l_k = log(min(n, (k+1) S) / (k S))`` where
        n > k S, else 0 (the log growth of the samples seen during repetition k).

    Examples
    --------
    >>> cols = repetition_columns([50, 250], 100, max_epochs=4)
    >>> cols["n1"].tolist(), cols["l1"].round(4).tolist(), cols["l2"].round(4).tolist()
    ([50.0, 100.0], [0.0, 0.6931], [0.0, 0.2231])
    """
    n = np.asarray(samples_seen, dtype=float).ravel()
    S = np.broadcast_to(np.asarray(pool_size, dtype=float).ravel(), n.shape)
    if np.any(n <= 0) or np.any(S <= 0):
        raise ValueError("samples_seen and pool_size must be positive")
    epochs = np.ceil(n / S - 1e-12)
    if np.any(epochs > max_epochs):
        raise ValueError(f"some points are past {max_epochs} epochs (at most {int(epochs.max())}); "
                         "build the law with a larger repetition_formula(max_epochs)")
    cols = {"n1": np.minimum(n, S)}
    for k in range(1, int(max_epochs)):
        seen = n > k * S
        cols[f"l{k}"] = np.where(seen, np.log(np.minimum(n, (k + 1) * S) / (k * S), where=seen,
                                              out=np.ones_like(n)), 0.0)
    return cols


def pool_mixture(samples_seen, pool_size, a, b, tau, d) -> np.ndarray:
    """Predicted error when training on the union of m pools of ``pool_size`` samples each.

    Each pool i has its fitted exponent b_i and half-life tau_i (a and d are shared,
    as in the authors' code).  In every epoch over the union the exponent is the mean of
    the pools' decayed exponents b_i 2^(-k/(m tau_i)) -- the half-lives counted in epochs
    of the union, tau_i m -- and the epochs are chained as in one pool
    (``estimate_best_pool.py`` and ``func_effective_utility_aggregation`` of the
    authors' release).

    Examples
    --------
    >>> y1 = pool_mixture([1e6, 4e6], 1e6, 1e-4, [-0.2], [3.0], 0.1)
    >>> cols = repetition_columns([1e6, 4e6], 1e6, 4)
    >>> import lawfit
    >>> law = lawfit.Law(repetition_formula(4), inputs=list(cols))
    >>> np.allclose(y1, law.predict({"a": 1e-4, "b": -0.2, "tau": 3.0, "d": 0.1}, cols))
    True
    """
    b = np.atleast_1d(np.asarray(b, float))
    tau = np.broadcast_to(np.asarray(tau, float), b.shape)
    m = b.size
    n = np.asarray(samples_seen, dtype=float).ravel()
    total = float(pool_size) * m
    epochs = int(np.ceil(n.max() / total - 1e-12))
    k = np.arange(max(epochs, 1))
    b_k = np.mean(b[:, None] * 0.5 ** (k[None, :] / (m * tau[:, None])), axis=0)  # (epochs,)
    y = (a * np.minimum(n, total)) ** b_k[0] + d
    for j in range(1, epochs):
        past = n > j * total
        ratio = np.where(past, np.minimum(n, (j + 1) * total) / (j * total), 1.0)
        y = y * ratio ** b_k[j]
    return y
