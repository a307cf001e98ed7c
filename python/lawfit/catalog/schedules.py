"""Learning-rate schedules and the two areas of the LR-annealing scaling law.

Tissue, Wang & Wang (2024), "Scaling Law with Learning Rate Annealing"
(arXiv:2408.11029), eq. 1, model the validation loss at step s as

    L(s) = L0 + A * S1**(-alpha) - C * S2

with, for the learning rates eta_1, ..., eta_s of the steps so far (§3),

    S1 = sum_{i=1..s} eta_i                         (forward area: area under the LR curve)
    m_i = lam * m_{i-1} + (eta_{i-1} - eta_i)       (annealing momentum, m_0 = 0)
    S2 = sum_{i=1..s} m_i
       = sum_{i=1..s} sum_{k=1..i} (eta_{k-1} - eta_k) * lam**(i-k)     (annealing area)

where lam is the decay factor (the paper recommends values close to 1, e.g. 0.999).
:func:`lr_areas` turns a schedule into both areas at every step; the catalog
entry ``tissue_lr_annealing`` then fits the law with S1 and S2 as inputs.

Conventions lawfit fixes where the paper leaves room (stated in the docstrings):
``eta_0 = eta_1`` (no annealing before the first step), and the warm-up rise is
not annealing -- LR changes up to the schedule's first peak are left out of
S2, while S1 counts the whole area, warm-up included.
"""
from __future__ import annotations

import numpy as np

__all__ = ["lr_areas", "constant_schedule", "cosine_schedule", "wsd_schedule"]


def _momentum(delta: np.ndarray, lam: float) -> np.ndarray:
    """m_i = lam * m_{i-1} + delta_i for all i, without a per-step Python loop.

    Within a block of b steps, m_{s+t} = lam**t * (lam * m_{s-1} + sum_{u<=t} lam**-u delta_{s+u});
    the block length keeps lam**-b below e**50 so nothing overflows.
    """
    if lam == 0.0:
        return delta.copy()
    if lam == 1.0:
        return np.cumsum(delta)
    block = int(np.clip(50.0 / -np.log(lam), 1, 1024))
    j = np.arange(block)
    grow, shrink = lam ** -j.astype(float), lam ** j.astype(float)
    out = np.empty_like(delta)
    prev = 0.0
    for s in range(0, delta.size, block):
        b = min(block, delta.size - s)
        out[s : s + b] = shrink[:b] * (lam * prev + np.cumsum(delta[s : s + b] * grow[:b]))
        prev = out[s + b - 1]
    return out


def lr_areas(lr, decay: float = 0.999, *, warmup=None) -> tuple[np.ndarray, np.ndarray]:
    """Forward area S1 and annealing area S2 at every step of a learning-rate schedule.

    Parameters
    ----------
    lr : array_like
        Learning rate of each training step, ``lr[0]`` being step 1.
    decay : float
        The decay factor lambda of the annealing momentum, in [0, 1]
        (Tissue et al. 2024 use values near 1, e.g. 0.999).  ``0`` makes S2
        the plain drop ``sum (eta_{k-1} - eta_k)``; ``1`` never forgets.
    warmup : int, optional
        Number of leading steps whose LR changes are warm-up, not annealing
        (left out of S2; S1 still counts their area).  Default: every step up
        to and including the first maximum of ``lr``.

    Returns
    -------
    S1, S2 : ndarray
        Cumulative areas after each step (same length as ``lr``).

    Notes
    -----
    S1 = sum_{i<=s} eta_i; S2 = sum_{i<=s} m_i with m_i = lambda m_{i-1} +
    (eta_{i-1} - eta_i) (Tissue et al. 2024, eq. 1 and §3).  ``eta_0 = eta_1``,
    so a schedule that never decays has S2 = 0.

    Examples
    --------
    >>> S1, S2 = lr_areas([1.0, 1.0, 0.5, 0.5, 0.25], decay=0.5)
    >>> S1
    array([1.  , 2.  , 2.5 , 3.  , 3.25])
    >>> S2
    array([0.   , 0.   , 0.5  , 0.75 , 1.125])
    """
    eta = np.asarray(lr, dtype=float).ravel()
    if eta.size == 0:
        raise ValueError("the schedule is empty")
    if not np.all(np.isfinite(eta)):
        raise ValueError("the schedule holds NaN or inf")
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must lie in [0, 1], got {decay}")
    first = int(np.argmax(eta)) + 1 if warmup is None else int(warmup)
    if first < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    delta = np.zeros_like(eta)
    delta[1:] = eta[:-1] - eta[1:]
    delta[: max(first, 1)] = 0.0
    return np.cumsum(eta), np.cumsum(_momentum(delta, float(decay)))


def constant_schedule(steps: int, lr: float) -> np.ndarray:
    """``lr`` at every one of ``steps`` steps.

    Examples
    --------
    >>> constant_schedule(3, 0.1)
    array([0.1, 0.1, 0.1])
    """
    return np.full(int(steps), float(lr))


def _warmup(warmup: int, peak: float) -> np.ndarray:
    """Linear warm-up reaching ``peak`` on its last step: peak * i / warmup, i = 1..warmup."""
    return peak * np.arange(1, warmup + 1) / max(warmup, 1)


def cosine_schedule(steps: int, peak: float, *, final: float = 0.0, warmup: int = 0) -> np.ndarray:
    """Linear warm-up, then a half cosine from ``peak`` to ``final`` on the last step.

    Step ``warmup + k`` (k = 0..n-1, n = steps - warmup) has
    ``final + (peak - final) * (1 + cos(pi * k / (n - 1))) / 2``.

    Examples
    --------
    >>> cosine_schedule(5, 1.0)
    array([1.        , 0.85355339, 0.5       , 0.14644661, 0.        ])
    """
    n = int(steps) - int(warmup)
    if n < 1:
        raise ValueError("the schedule needs at least one step after warm-up")
    k = np.arange(n)
    decay = final + (peak - final) * 0.5 * (1 + np.cos(np.pi * k / max(n - 1, 1)))
    return np.concatenate([_warmup(int(warmup), peak), decay])


def wsd_schedule(steps: int, peak: float, *, warmup: int, decay: int, final: float = 0.0) -> np.ndarray:
    """Warmup-stable-decay: linear warm-up, constant ``peak``, linear decay to ``final``.

    The last ``decay`` steps fall linearly, ``peak + (final - peak) * k / decay``
    for k = 1..decay (the last step is at ``final``).

    Examples
    --------
    >>> wsd_schedule(6, 1.0, warmup=1, decay=2)
    array([1. , 1. , 1. , 1. , 0.5, 0. ])
    """
    stable = int(steps) - int(warmup) - int(decay)
    if stable < 0:
        raise ValueError("warmup + decay exceed the number of steps")
    k = np.arange(1, int(decay) + 1)
    return np.concatenate([_warmup(int(warmup), peak), np.full(stable, float(peak)),
                           peak + (final - peak) * k / max(int(decay), 1)])
