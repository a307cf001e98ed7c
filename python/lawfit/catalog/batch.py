"""Loss with steps, batch size and the critical batch size B_crit(L) (Kaplan et al. 2020 §5;
Su et al. 2024): the implicit law, its formula, and the helpers that invert it.

Kaplan et al. (arXiv:2001.08361) fit the loss after S_min steps at batches far above the
critical batch size, eq. 5.6, and convert the S steps taken at batch B with eq. 5.4,
S_min = S / (1 + B_crit(L)/B), where B_crit(L) = B_* / L^(1/alpha_B) (eq. 5.3) depends on the
loss itself.  Su et al. (arXiv:2403.06563) use the same three relations to predict whole
loss curves for any batch size.  Given (N, S, B) the loss therefore solves

    L = L_N + (S_c (1 + B_* L^(-1/alpha_B) / B) / S)^alpha_S,        L_N = (N_c/N)^alpha_N.

:func:`su_formula` writes that solution as a law-program formula: two Newton steps in
w = log(L - L_N) from a start between two bounds (the formula language has no loop); the
relative error is below 3e-6 over N 1e6-1e10, S 3e2-1e6 and B 8k-8M tokens.  The
helpers solve the same equation to machine precision with numpy (:func:`loss_at_steps`)
or invert it in closed form (:func:`steps_to_loss`, :func:`tokens_to_loss`).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["su_formula", "loss_at_steps", "steps_to_loss", "tokens_to_loss", "critical_batch",
           "SU_PARAMS"]

#: Parameter order of the catalog entry ``su_NS``.
SU_PARAMS = ("N_c", "alpha_N", "S_c", "alpha_S", "B_star", "alpha_B")


def su_formula(newton: int = 2) -> str:
    """The formula of ``su_NS``: L(N, S, B) with B_crit(L) solved inside (``newton`` Newton steps).

    Every deep operand is written first so that the program's value stack stays
    small (10 values for two steps).

    Examples
    --------
    >>> len(su_formula(1)) < len(su_formula(2))
    True
    """
    LN = "exp((log(N_c) - log(N))*alpha_N)"
    lcq = "(log(S_c) - log(S))*alpha_S"  # log of (S_c/S)^alpha_S

    def T(L):  # (S_c/S)^alpha_S (1 + B_*/(B L^(1/alpha_B)))^alpha_S, with L (deep) first
        return f"exp(log(exp(log({L})*(-1)/alpha_B)*(B_star/B) + 1)*alpha_S + {lcq})"

    # Lower bounds: L >= L_N + (S_c/S)^alpha_S, and L >= (S_c B_*/(S B))^(alpha_S/(1 + alpha_S/alpha_B))
    # (the steps term alone at B << B_crit).  T is decreasing in L, so L_N + T(lower) is an upper bound;
    # their geometric mean starts the Newton steps.
    lo = (f"maximum({LN} + exp({lcq}), "
          f"exp((log(S_c) + log(B_star) - log(S) - log(B))*alpha_S/(1 + alpha_S/alpha_B)))")
    up = f"({T(lo)} + {LN})"
    W = f"log(sqrt({up}*{lo}) - {LN})"
    for _ in range(int(newton)):
        # h(w) = w - alpha_S log1p(z) - alpha_S log(S_c/S), z = B_* (L_N + e^w)^(-1/alpha_B) / B
        Z = f"(exp(log(exp({W}) + {LN})*(-1)/alpha_B)*(B_star/B))"
        h = f"(log1p({Z})*alpha_S*(-1) + {W} - {lcq})"
        slope = (f"((exp(-{W})*{LN} + 1)**(-1)*((({Z}) + 1)**(-1)*(-1) + 1)*(alpha_S/alpha_B) + 1)")
        W = f"(({slope})**(-1)*{h}*(-1) + {W})"
    return f"exp({W}) + {LN}"


def _params(params) -> tuple:
    if isinstance(params, Mapping):
        return tuple(float(params[k]) for k in SU_PARAMS)
    p = tuple(float(v) for v in params)
    if len(p) != len(SU_PARAMS):
        raise ValueError(f"expected the {len(SU_PARAMS)} parameters {SU_PARAMS}")
    return p


def critical_batch(params, L):
    """B_crit(L) = B_* / L^(1/alpha_B) (Kaplan et al. eq. 5.3), in the units of B_*.

    Examples
    --------
    >>> round(float(critical_batch({"B_star": 2e8, "alpha_B": 0.21, "N_c": 1, "alpha_N": 1,
    ...                             "S_c": 1, "alpha_S": 1}, 3.0)))
    1069114
    """
    p = _params(params)
    return p[4] / np.asarray(L, float) ** (1.0 / p[5])


def loss_at_steps(params, N, S, B) -> np.ndarray:
    """The loss after S steps at batch size B for a model of N parameters, solved exactly.

    Newton's method in w = log(L - L_N) from the bounds of :func:`su_formula`, iterated
    to convergence (guarded by bisection), for any arrays N, S, B that broadcast.  This is
    the loss curve of any batch size (Su et al.'s prediction).

    Examples
    --------
    >>> p = {"N_c": 6.5e13, "alpha_N": 0.077, "S_c": 2.1e3, "alpha_S": 0.76, "B_star": 2e8, "alpha_B": 0.21}
    >>> L = loss_at_steps(p, 1e9, [1e4, 1e5], 2**19)
    >>> np.allclose(steps_to_loss(p, 1e9, L, 2**19), [1e4, 1e5])
    True
    """
    Nc, aN, Sc, aS, Bs, aB = _params(params)
    N, S, B = np.broadcast_arrays(*(np.asarray(v, float) for v in (N, S, B)))
    LN = (Nc / N) ** aN
    k = Bs / B
    lcq = aS * np.log(Sc / S)

    def h(w):
        z = k * (LN + np.exp(w)) ** (-1.0 / aB)
        return w - aS * np.log1p(z) - lcq, z

    # h is increasing in w; bracket: T between (S_c/S)^aS and its value at the lower bound
    lo_L = np.maximum(LN + np.exp(lcq), np.exp((np.log(Sc * Bs) - np.log(S * B)) * aS / (1 + aS / aB)))
    w_lo = lcq.copy()
    w_hi = lcq + aS * np.log1p(k * lo_L ** (-1.0 / aB))
    w = 0.5 * (w_lo + w_hi)
    for _ in range(100):
        f, z = h(w)
        w_lo = np.where(f < 0, w, w_lo)
        w_hi = np.where(f > 0, w, w_hi)
        slope = 1 + aS / aB * (z / (1 + z)) * (np.exp(w) / (LN + np.exp(w)))
        step = w - f / slope
        inside = (step > w_lo) & (step < w_hi)
        new = np.where(inside, step, 0.5 * (w_lo + w_hi))
        if np.all(np.abs(new - w) <= 1e-15 * np.maximum(1.0, np.abs(w))):
            w = new
            break
        w = new
    return LN + np.exp(w)


def steps_to_loss(params, N, L, B) -> np.ndarray:
    """Steps at batch size B needed to reach loss L: S = S_min (1 + B_crit(L)/B) with
    S_min = S_c (L - L_N)^(-1/alpha_S) (Kaplan et al. eqs. 5.4 and 5.6 inverted).
    NaN where L is at or below the model-size limit L_N.
    """
    Nc, aN, Sc, aS, Bs, aB = _params(params)
    N, L, B = np.broadcast_arrays(*(np.asarray(v, float) for v in (N, L, B)))
    excess = L - (Nc / N) ** aN
    with np.errstate(invalid="ignore", divide="ignore"):
        s_min = np.where(excess > 0, Sc * excess ** (-1.0 / aS), np.nan)
    return s_min * (1.0 + Bs / L ** (1.0 / aB) / B)


def tokens_to_loss(params, N, L, B) -> np.ndarray:
    """Training tokens at batch size B (tokens per step) needed to reach loss L: B times
    :func:`steps_to_loss`."""
    return np.asarray(B, float) * steps_to_loss(params, N, L, B)
